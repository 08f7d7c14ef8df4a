package cronfeed

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// maxSpecLen bounds the text a spec may have: long enough for any honest
// cron line or repeating interval, short enough that parsing stays cheap.
const maxSpecLen = 512

// cronParser is robfig's parser in the configuration timerd documents: five
// fields, or six with seconds first, plus descriptors. It only ever sees six
// fields here: prefixes, descriptors and Sunday-as-7 are handled before it.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// starBit is the bit robfig sets in a field's mask when the field used * or ?.
const starBit = 1 << 63

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

// cronText is what parseCron found in a Timer-Cron value.
type cronText struct {
	zone  string    // the CRON_TZ=/TZ= prefix's zone, "" if none
	spec  *cronSpec // a field spec, or nil for @every
	every Period    // the interval of @every
}

// Field names and what each accepts, for error messages.
var fieldInfo = [6]struct{ name, accepts string }{
	{"second", "0-59"},
	{"minute", "0-59"},
	{"hour", "0-23"},
	{"day-of-month", "1-31"},
	{"month", "1-12 or JAN-DEC"},
	{"day-of-week", "0-7 (0 and 7 are Sunday) or SUN-SAT"},
}

// descriptors maps each descriptor to its six fields.
var descriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

const cronForms = "want 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, " +
	"or one of @yearly, @monthly, @weekly, @daily, @hourly, @every <duration>, optionally after CRON_TZ=<zone> "

// parseCron parses a Timer-Cron value. It never panics, whatever the input:
// robfig/cron v3.0.1 does on "TZ=UTC" alone, so prefixes are taken off here
// and robfig only sees six well-formed fields.
func parseCron(text string) (cronText, error) {
	bad := func(why string) (cronText, error) {
		return cronText{}, fmt.Errorf("%w %q: %s", ErrCron, text, why)
	}
	if len(text) > maxSpecLen {
		return bad(fmt.Sprintf("too long (at most %d bytes)", maxSpecLen))
	}
	var out cronText
	rest := strings.TrimSpace(text)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if !strings.HasPrefix(rest, prefix) {
			continue
		}
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return bad(prefix + "<zone> must be followed by a space and a schedule, as in " + prefix + "Europe/Berlin 0 9 * * *")
		}
		out.zone, rest = rest[len(prefix):i], strings.TrimSpace(rest[i:])
		if out.zone == "" {
			return bad(prefix + " needs a zone name, as in " + prefix + "Europe/Berlin 0 9 * * *")
		}
		break
	}
	if rest == "" {
		return bad(cronForms)
	}
	fields := strings.Fields(rest)
	if strings.HasPrefix(rest, "@") {
		name := strings.ToLower(fields[0])
		if name == "@every" {
			if len(fields) != 2 {
				return bad(`want "@every <duration>", such as "@every 90s", "@every 1h30m" or "@every PT1H30M"`)
			}
			p, err := parseInterval(fields[1])
			if err != nil {
				return bad(err.Error())
			}
			out.every = p
			return out, nil
		}
		six, ok := descriptors[name]
		if !ok || len(fields) != 1 {
			return bad(fmt.Sprintf("unknown descriptor %q; %s", rest, cronForms))
		}
		fields = strings.Fields(six)
	}
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return bad(fmt.Sprintf("has %d fields; %s", len(fields), cronForms))
	}
	spec, why := compileFields(fields)
	if why != "" {
		return bad(why)
	}
	out.spec = spec
	return out, nil
}

// parseInterval parses the duration of @every: a Go duration or an ISO 8601
// duration, at least MinInterval long.
func parseInterval(s string) (Period, error) {
	p, err := ParseDelay(s)
	if err != nil {
		return Period{}, fmt.Errorf("@every %s: want a Go duration such as 90s or 1h30m, or an ISO 8601 duration such as PT90S or P1D", s)
	}
	if !p.atLeast(MinInterval) {
		return Period{}, fmt.Errorf("@every %s: the interval must be at least %v", s, MinInterval)
	}
	return p, nil
}

// compileFields checks six fields, lets robfig build the masks, and records
// the star flags. It returns why the fields are wrong, or "".
func compileFields(fields []string) (*cronSpec, string) {
	var err error
	for i, f := range fields {
		if why := checkField(f, i == 4 || i == 5); why != "" {
			return nil, fmt.Sprintf("%s field %q: %s; want %s", fieldInfo[i].name, f, why, fieldInfo[i].accepts)
		}
	}
	if fields[5], err = sundaySeven(fields[5]); err != nil {
		return nil, fmt.Sprintf("day-of-week field %q: %v; want %s", fields[5], err, fieldInfo[5].accepts)
	}
	sched, err := cronParser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, blameField(fields, err)
	}
	s, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, "not a field schedule"
	}
	star := func(f string) bool { return f[0] == '*' || f[0] == '?' }
	return &cronSpec{
		second: s.Second &^ starBit, minute: s.Minute &^ starBit, hour: s.Hour &^ starBit,
		dom: s.Dom &^ starBit, month: s.Month &^ starBit, dow: s.Dow &^ starBit,
		domStar: star(fields[3]), dowStar: star(fields[5]), wildHour: star(fields[2]),
		fields: strings.Join(fields, " "),
	}, ""
}

// blameField finds which field robfig rejected, to name it in the message.
func blameField(fields []string, err error) string {
	probe := []string{"0", "0", "0", "*", "*", "*"}
	for i, f := range fields {
		trial := append([]string(nil), probe...)
		trial[i] = f
		if _, e := cronParser.Parse(strings.Join(trial, " ")); e != nil {
			return fmt.Sprintf("%s field %q: %v; want %s", fieldInfo[i].name, f, e, fieldInfo[i].accepts)
		}
	}
	return err.Error()
}

// checkField enforces the grammar robfig is lenient about: a field is a
// comma-separated list of items "* | ? | v | v-v", each optionally "/step",
// where v is a number (or a name, in month and day-of-week). robfig would
// silently accept "*-5" as "*" and "1,,2" as "1,2".
func checkField(f string, names bool) string {
	for item := range strings.SplitSeq(f, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep && !isDigits(step) {
			return "a step after / must be a positive number"
		}
		if base == "*" || base == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(base, "-")
		if !isValue(lo, names) || isRange && !isValue(hi, names) {
			if item == "" {
				return "empty list item"
			}
			return fmt.Sprintf("%q is not a value, a range a-b, * or ?, each optionally with /step", item)
		}
	}
	return ""
}

func isValue(s string, names bool) bool {
	if isDigits(s) {
		return true
	}
	if !names || len(s) != 3 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) || r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dowNames are the day-of-week names robfig knows, by number.
var dowNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// sundaySeven rewrites a day-of-week field so that 7 means Sunday, as in
// Vixie cron ("5-7", "7"), which robfig rejects (its range is 0-6).
func sundaySeven(f string) (string, error) {
	if !strings.Contains(f, "7") {
		return f, nil
	}
	items := strings.Split(f, ",")
	for i, item := range items {
		base, step, hasStep := strings.Cut(item, "/")
		lo, hi, isRange := strings.Cut(base, "-")
		if !isRange {
			if lo == "7" {
				if hasStep {
					return "", fmt.Errorf("7/%s would start after Saturday", step)
				}
				items[i] = "0"
			}
			continue
		}
		if hi != "7" {
			continue
		}
		from := dayNumber(lo)
		if from < 0 || from > 7 {
			continue // let robfig report it
		}
		n := 1
		if hasStep {
			fmt.Sscan(step, &n)
		}
		if n < 1 {
			continue
		}
		if from == 7 {
			items[i] = "0"
			continue
		}
		items[i] = lo + "-6"
		if hasStep {
			items[i] += "/" + step
		}
		if (7-from)%n == 0 {
			items[i] += ",0"
		}
	}
	return strings.Join(items, ","), nil
}

// dayNumber is the number of a day-of-week value ("3", "wed"), or -1.
func dayNumber(v string) int {
	if isDigits(v) {
		n := 0
		fmt.Sscan(v, &n)
		return n
	}
	for i, name := range dowNames {
		if strings.EqualFold(v, name) {
			return i
		}
	}
	return -1
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
	if !c.domStar && c.dowStar || c.domStar && c.dowStar {
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
