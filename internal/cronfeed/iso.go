package cronfeed

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// repeatText is a parsed ISO 8601 repeating interval.
type repeatText struct {
	count  int64 // number of occurrences; 0 = unbounded
	start  time.Time
	end    time.Time
	period Period
	form   repeatForm
}

// repeatForm says where a repeating interval is anchored.
type repeatForm int

const (
	fromStart repeatForm = iota // R/start/duration, R/start/end: start + k·period
	toEnd                       // R/duration/end: end - k·period
	anchored                    // R/duration: Spec.Start or Spec.Created + k·period
)

const repeatForms = "want R[n]/start/duration, R[n]/start/end, R[n]/duration/end or R[n]/duration, " +
	"for example R5/2030-01-01T09:00:00Z/P1D or R/P1W; without n it repeats forever"

// parseRepeat parses a Timer-Repeat value. Times without an offset are wall
// clock times in loc; with Z or an offset they are absolute.
func parseRepeat(text string, loc *time.Location) (repeatText, error) {
	bad := func(why string) (repeatText, error) {
		return repeatText{}, fmt.Errorf("%w %q: %s", ErrRepeat, text, why)
	}
	if len(text) > maxSpecLen {
		return bad(fmt.Sprintf("too long (at most %d bytes)", maxSpecLen))
	}
	parts := strings.Split(text, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[0][0] != 'R' {
		return bad(repeatForms)
	}
	var r repeatText
	if n := parts[0][1:]; n != "" {
		count, err := strconv.ParseInt(n, 10, 64)
		if err != nil || !isDigits(n) || count < 1 {
			return bad(fmt.Sprintf("the count %q after R must be a whole number from 1 to 999999999 (or absent: repeat forever)", n))
		}
		r.count = count
	}
	isPeriod := func(s string) bool { return s != "" && (s[0] == 'P' || s[0] == 'p') }
	period := func(s string) (Period, error) {
		p, err := ParsePeriod(s)
		if err != nil {
			return Period{}, err
		}
		if !p.atLeast(MinInterval) {
			return Period{}, fmt.Errorf("%w %q: the period must be at least %v", ErrPeriod, s, MinInterval)
		}
		return p, nil
	}
	var err error
	switch a := parts[1]; {
	case len(parts) == 2:
		if !isPeriod(a) {
			return bad("a single part after R must be a duration, as in R/PT1H; " + repeatForms)
		}
		r.form = anchored
		r.period, err = period(a)
	case isPeriod(a) && isPeriod(parts[2]):
		return bad("a start or an end is needed beside the duration; " + repeatForms)
	case isPeriod(a):
		r.form = toEnd
		if r.period, err = period(a); err == nil {
			r.end, err = parseISOTime(parts[2], loc)
		}
	default:
		r.form = fromStart
		var local bool
		if r.start, local, err = parseTime(a, loc); err != nil {
			break
		}
		if isPeriod(parts[2]) {
			r.period, err = period(parts[2])
			break
		}
		var endLocal bool
		if r.end, endLocal, err = parseTime(parts[2], loc); err != nil {
			break
		}
		r.period, err = spanPeriod(r.start, r.end, local && endLocal)
	}
	if err != nil {
		return bad(err.Error())
	}
	return r, nil
}

// spanPeriod is the period of R/start/end: end - start. Between two wall
// clock times it is calendar days plus clock (09:00 to 09:00 the next day is
// P1D and keeps 09:00 across DST); otherwise exact time.
func spanPeriod(start, end time.Time, local bool) (Period, error) {
	if !end.After(start) {
		return Period{}, fmt.Errorf("the end %s is not after the start %s", end.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	var p Period
	if local {
		d := wallOf(end).Sub(wallOf(start))
		p = Period{Days: int(d / (24 * time.Hour)), Clock: d % (24 * time.Hour)}
	} else {
		p = Period{Clock: end.Sub(start)}
	}
	if !p.atLeast(MinInterval) {
		return Period{}, fmt.Errorf("the interval from start to end must be at least %v", MinInterval)
	}
	if p.Clock > maxPeriodClock || p.Days > maxPeriodDays {
		return Period{}, fmt.Errorf("the interval from start to end is too long (at most 100 years)")
	}
	return p, nil
}

// isoLayouts are the date-time forms accepted in a repeating interval:
// ISO 8601 extended and basic, with seconds (and any fraction), minutes, or
// a date alone (midnight). Each is tried with a zone designator first.
var isoLayouts = []string{
	"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02",
	"20060102T150405", "20060102T1504", "20060102",
}

var zoneSuffixes = []string{"Z07:00", "Z0700", "Z07"}

// parseISOTime parses an ISO 8601 date-time; see parseTime.
func parseISOTime(s string, loc *time.Location) (time.Time, error) {
	t, _, err := parseTime(s, loc)
	return t, err
}

// parseTime parses an ISO 8601 date-time, reporting whether it was a wall
// clock time (no offset), which is resolved in loc by timerd's DST rules.
func parseTime(s string, loc *time.Location) (time.Time, bool, error) {
	if len(s) >= 8 && len(s) <= 40 && s[0] >= '0' && s[0] <= '9' {
		for _, layout := range isoLayouts {
			if strings.Contains(layout, "T") {
				for _, zone := range zoneSuffixes {
					if t, err := time.Parse(layout+zone, s); err == nil && t.Year() >= 1 {
						return t, false, nil
					}
				}
			}
			if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1 {
				return resolveWall(t, loc), true, nil
			}
		}
	}
	return time.Time{}, false, fmt.Errorf("%q is not an ISO 8601 date-time; want for example 2030-01-01T09:00:00Z, "+
		"2030-01-01T09:00:00+01:00, or 2030-01-01T09:00:00 (a wall clock time in the time zone)", s)
}
