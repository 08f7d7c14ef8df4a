package cronfeed

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// cronSpec is a parsed cron expression: a bit mask per field (bit v set:
// value v matches) plus the day items that depend on the month and year.
type cronSpec struct {
	second, minute, hour, month uint64
	// dom is the plain days of the month, dow the plain weekdays (bit 0 =
	// Sunday), dowDays[w] those weekdays as days of a month whose 1st is
	// weekday w.
	dom, dow uint64
	dowDays  [7]uint64
	domItems []domItem // L, L-n, nW, LW
	dowItems []dowItem // dL, d#n
	years    *yearSet  // nil: every year
	yearText string    // the year field, for messages
	// domStar and dowStar: the field starts with * or ? and so does not
	// restrict the day (Vixie's rule; robfig instead treats */2 as restricting).
	domStar, dowStar bool
	// wildHour: the hour field starts with * or ?, so the spec follows real
	// time through DST changes instead of naming fixed wall clock times.
	wildHour bool
	dialect  string
	fields   string // the fields as parsed, for String
}

// weekday returns the day of the week (0 = Sunday) of a proleptic
// Gregorian date; Sakamoto's method, valid for any year.
func weekday(y int, m time.Month, d int) int {
	t := [...]int{0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4}
	if m < 3 {
		y--
	}
	w := (y + floorDivInt(y, 4) - floorDivInt(y, 100) + floorDivInt(y, 400) + t[m-1] + d) % 7
	if w < 0 {
		w += 7
	}
	return w
}

func floorDivInt(a, b int) int { return int(floorDiv(int64(a), int64(b))) }

// nextBit returns the lowest set bit of mask at or above from.
func nextBit(mask uint64, from int) (int, bool) {
	if from > 63 {
		return 0, false
	}
	m := mask >> uint(from) << uint(from)
	if m == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(m), true
}

// nextWall returns the first naive wall time (see wallOf) strictly after
// after whose fields match, or false if there is none up to limit. It
// skips whole years, months and days that cannot match, computing a
// month's matching days once, so it costs a few steps per month it passes;
// limit bounds the search.
func (c *cronSpec) nextWall(after, limit time.Time) (time.Time, bool) {
	t := after.Truncate(time.Second).Add(time.Second)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	for y <= limit.Year() {
		if ny, ok := c.years.next(y); !ok {
			return time.Time{}, false
		} else if ny != y {
			y, mo, d, h, mi, s = ny, time.January, 1, 0, 0, 0
			continue
		}
		if c.month&(1<<uint(mo)) == 0 {
			y, mo, d, h, mi, s = nextMonth(y, mo)
			continue
		}
		days := c.days(y, mo)
		for nd, ok := nextBit(days, d); ok; nd, ok = nextBit(days, d+1) {
			if nd != d {
				d, h, mi, s = nd, 0, 0, 0
			}
			if hh, mm, ss, ok := c.timeFrom(h, mi, s); ok {
				w := time.Date(y, mo, d, hh, mm, ss, 0, time.UTC)
				if w.After(limit) {
					return time.Time{}, false
				}
				return w, true
			}
			h, mi, s = 0, 0, 0 // none left today: the next matching day, from midnight
		}
		y, mo, d, h, mi, s = nextMonth(y, mo)
	}
	return time.Time{}, false
}

// timeFrom returns the first time of day at or after h:mi:s whose hour,
// minute and second match, or false if none is left in the day. Each pass
// moves to a later minute or hour, so it ends within a few passes.
func (c *cronSpec) timeFrom(h, mi, s int) (int, int, int, bool) {
	for {
		hh, ok := nextBit(c.hour, h)
		if !ok {
			return 0, 0, 0, false
		}
		if hh != h {
			mi, s = 0, 0
		}
		mm, ok := nextBit(c.minute, mi)
		if !ok {
			h, mi, s = hh+1, 0, 0
			continue
		}
		if mm != mi {
			s = 0
		}
		ss, ok := nextBit(c.second, s)
		if !ok {
			h, mi, s = hh, mm+1, 0
			continue
		}
		return hh, mm, ss, true
	}
}

// nextMonth returns the first second of the month after y-mo.
func nextMonth(y int, mo time.Month) (int, time.Month, int, int, int, int) {
	if mo == time.December {
		return y + 1, time.January, 1, 0, 0, 0
	}
	return y, mo + 1, 1, 0, 0, 0
}

// next returns the first occurrence strictly after after in loc, not after
// limit, by timerd's DST rules (see the package doc).
func (c *cronSpec) next(after time.Time, loc *time.Location, limit time.Time) (time.Time, bool) {
	// Wall clocks run at most 15 hours ahead of UTC; a naive limit that far
	// beyond limit loses nothing.
	wallLimit := limit.UTC().Add(15 * time.Hour)
	if _, last, _ := c.years.span(); c.years != nil && last < wallLimit.Year() {
		// Past its year field's last year nothing matches: do not walk the
		// zone's periods up to the year 9999 to find that out.
		wallLimit = time.Date(last+1, 1, 2, 0, 0, 0, 0, time.UTC)
	}
	if c.wildHour {
		return c.nextReal(after, loc, wallLimit)
	}
	return c.nextFixed(after, loc, wallLimit)
}

// nextFixed: each matching wall time fires once, at its first occurrence,
// or at the end of the gap that skips it. That map from wall times to
// instants never decreases, so the first matching wall time whose instant
// is after after is the answer.
func (c *cronSpec) nextFixed(after time.Time, loc *time.Location, wallLimit time.Time) (time.Time, bool) {
	a := after.In(loc)
	w := wallOf(a)
	if end, ok := repeatEnd(a); ok {
		// a is in the second pass of a fall-back: the wall times still to
		// come in it had their (first) occurrence before a.
		w = end.Add(-time.Nanosecond)
	}
	for range 64 { // one pass in practice; the bound is a guard against odd zones
		wall, ok := c.nextWall(w, wallLimit)
		if !ok {
			return time.Time{}, false
		}
		if t := resolveWall(wall, loc); t.After(after) {
			return t, true
		}
		w = wall
	}
	return time.Time{}, false
}

// nextReal: a spec with a wildcard hour fires at every instant whose local
// wall clock matches. Walk the zone's periods of constant offset; within one
// the wall clock is UTC plus that offset, so a naive search finds the match.
func (c *cronSpec) nextReal(after time.Time, loc *time.Location, wallLimit time.Time) (time.Time, bool) {
	u := after.In(loc)
	from := wallOf(u) // strictly after this wall time
	for {
		end := zoneEnd(u)
		off := offsetAt(u, loc)
		lim := wallLimit
		if !end.IsZero() {
			if segEnd := end.UTC().Add(off - time.Nanosecond); segEnd.Before(lim) {
				lim = segEnd
			}
		}
		if wall, ok := c.nextWall(from, lim); ok {
			return wall.Add(-off), true
		}
		if end.IsZero() || end.UTC().Add(offsetAt(end, loc)).After(wallLimit) {
			return time.Time{}, false
		}
		u = end
		from = wallOf(end).Add(-time.Nanosecond) // at or after end
	}
}

// possible reports whether the fields match any date at all. The Gregorian
// calendar repeats every 400 years, weekdays included, so 400 years from
// any start decide; a year field bounds the search to its own years.
func (c *cronSpec) possible() bool {
	from, to := 2000, 2399
	if c.years != nil {
		var ok bool
		if from, to, ok = c.years.span(); !ok {
			return false
		}
	}
	start := time.Date(from, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
	_, ok := c.nextWall(start, time.Date(to, 12, 31, 23, 59, 59, 0, time.UTC))
	return ok
}

// whyImpossible explains an impossible spec as precisely as it can.
func (c *cronSpec) whyImpossible() string {
	if _, _, ok := c.years.span(); !ok {
		return fmt.Sprintf("its year field %q names no year from %d to %d", c.yearText, firstYear, lastYear)
	}
	if c.dowStar { // the day of month alone must match: say which day never comes
		var months []string
		longest := 0
		for m := time.January; m <= time.December; m++ {
			if c.month&(1<<uint(m)) != 0 {
				months = append(months, m.String())
				longest = max(longest, daysIn(m, 2000))
			}
		}
		if day, need := c.shortestDay(); need > longest {
			return fmt.Sprintf("%s never occurs in %s", day, strings.Join(months, ", "))
		}
	}
	if c.years != nil {
		return fmt.Sprintf("no date in the years %q matches its day-of-month, month and day-of-week fields together", c.yearText)
	}
	return "no date matches its day-of-month, month and day-of-week fields together"
}

// shortestDay names the day-of-month value that needs the shortest month,
// and how many days that month needs: day 30 needs 30, 30W too (W never
// leaves the month), L-29 needs 30, L any month at all.
func (c *cronSpec) shortestDay() (string, int) {
	first, _ := nextBit(c.dom, 1)
	day, need := fmt.Sprintf("day %d", first), first
	if c.dom == 0 {
		need = 64
	}
	for _, it := range c.domItems {
		n, text := it.n, fmt.Sprintf("day %d", it.n)
		if it.fromEnd {
			n, text = it.n+1, fmt.Sprintf("L-%d", it.n)
		}
		if n < need {
			day, need = text, n
		}
	}
	return day, need
}
