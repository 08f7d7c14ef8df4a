package cronfeed

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// cronSpec is a parsed cron expression: robfig's field masks (bit v set:
// value v matches) plus what only the text tells.
type cronSpec struct {
	second, minute, hour, dom, month, dow uint64
	// domStar and dowStar: the field starts with * or ? and so does not
	// restrict the day (Vixie's rule; robfig instead treats */2 as restricting).
	domStar, dowStar bool
	// wildHour: the hour field starts with * or ?, so the spec follows real
	// time through DST changes instead of naming fixed wall clock times.
	wildHour bool
	fields   string // the six fields as parsed, for String
}

// dayMatches is the Vixie day rule: when both day fields are restricted,
// either may match; when either is a star, both must.
func (c *cronSpec) dayMatches(y int, m time.Month, d int) bool {
	domOK := c.dom&(1<<uint(d)) != 0
	dowOK := c.dow&(1<<uint(weekday(y, m, d))) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
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
// after whose fields match, or false if there is none up to limit. It skips
// whole months, days, hours and minutes that cannot match, so it costs at
// most a few steps per day it passes and a day check per day of a matching
// month; limit bounds the search.
func (c *cronSpec) nextWall(after, limit time.Time) (time.Time, bool) {
	t := after.Truncate(time.Second).Add(time.Second)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	lastYear := limit.Year()
	for y <= lastYear {
		if c.month&(1<<uint(mo)) == 0 || d > daysIn(mo, y) {
			y, mo, d, h, mi, s = nextMonth(y, mo)
			continue
		}
		if !c.dayMatches(y, mo, d) {
			d, h, mi, s = d+1, 0, 0, 0
			continue
		}
		nh, ok := nextBit(c.hour, h)
		if !ok {
			d, h, mi, s = d+1, 0, 0, 0
			continue
		}
		if nh != h {
			h, mi, s = nh, 0, 0
		}
		nm, ok := nextBit(c.minute, mi)
		if !ok {
			h, mi, s = h+1, 0, 0
			if h > 23 {
				d, h = d+1, 0
			}
			continue
		}
		if nm != mi {
			mi, s = nm, 0
		}
		ns, ok := nextBit(c.second, s)
		if !ok {
			mi, s = mi+1, 0
			if mi > 59 {
				h, mi = h+1, 0
				if h > 23 {
					d, h = d+1, 0
				}
			}
			continue
		}
		w := time.Date(y, mo, d, h, mi, ns, 0, time.UTC)
		if w.After(limit) {
			return time.Time{}, false
		}
		return w, true
	}
	return time.Time{}, false
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
		_, end := u.ZoneBounds()
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
// calendar repeats every 400 years, so 400 years from any start decide.
func (c *cronSpec) possible() bool {
	from := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
	_, ok := c.nextWall(from, time.Date(2399, 12, 31, 23, 59, 59, 0, time.UTC))
	return ok
}

// whyImpossible explains an impossible spec as precisely as it can.
func (c *cronSpec) whyImpossible() string {
	if c.dowStar { // the day of month alone must match: say which day never comes
		first, _ := nextBit(c.dom, 1)
		var months []string
		longest := 0
		for m := time.January; m <= time.December; m++ {
			if c.month&(1<<uint(m)) != 0 {
				months = append(months, m.String())
				longest = max(longest, daysIn(m, 2000))
			}
		}
		if first > longest {
			return fmt.Sprintf("day %d never occurs in %s", first, strings.Join(months, ", "))
		}
	}
	return "no date matches its day-of-month, month and day-of-week fields together"
}
