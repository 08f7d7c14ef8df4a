package cronfeed

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// repeatText is a parsed ISO 8601 repeating interval.
type repeatText struct {
	count      int64 // number of occurrences; 0 = unbounded
	start, end time.Time
	// startWall and endWall are start and end as written when they had no
	// offset (naive wall clock times), else zero.
	startWall, endWall time.Time
	period             Period
	form               repeatForm
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
			return Period{}, fmt.Errorf("the period must be at least %v, not %s", MinInterval, s)
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
			r.end, r.endWall, err = parseTime(parts[2], loc)
		}
	default:
		r.form = fromStart
		if r.start, r.startWall, err = parseTime(a, loc); err != nil {
			break
		}
		if isPeriod(parts[2]) {
			r.period, err = period(parts[2])
			break
		}
		if r.end, r.endWall, err = parseTime(parts[2], loc); err != nil {
			break
		}
		r.period, err = spanPeriod(r.start, r.end, r.startWall, r.endWall)
	}
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "cronfeed: "))
	}
	return r, nil
}

// spanPeriod is the period of R/start/end: end - start. Between two wall
// clock times (startWall and endWall, as written, not zero) it is calendar
// days plus clock (09:00 to 09:00 the next day is P1D and keeps 09:00 across
// DST); otherwise exact time.
func spanPeriod(start, end, startWall, endWall time.Time) (Period, error) {
	if !end.After(start) {
		return Period{}, fmt.Errorf("the end %s is not after the start %s", end.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	var p Period
	if !startWall.IsZero() && !endWall.IsZero() {
		d := endWall.Sub(startWall)
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

// parseTime parses an ISO 8601 date-time. A time without an offset is a
// wall clock time: it is resolved in loc by timerd's DST rules, and wall is
// the wall clock time as written (as a naive UTC time); otherwise wall is zero.
func parseTime(s string, loc *time.Location) (t, wall time.Time, err error) {
	if len(s) >= 8 && len(s) <= 40 && s[0] >= '0' && s[0] <= '9' {
		for _, layout := range isoLayouts {
			if strings.Contains(layout, "T") {
				for _, zone := range zoneSuffixes {
					if t, err := time.Parse(layout+zone, s); err == nil && t.Year() >= 1 {
						return t, time.Time{}, nil
					}
				}
			}
			if w, err := time.Parse(layout, s); err == nil && w.Year() >= 1 {
				return resolveWall(w, loc), w, nil
			}
		}
	}
	return time.Time{}, time.Time{}, fmt.Errorf("%q is not an ISO 8601 date-time; want for example 2030-01-01T09:00:00Z, "+
		"2030-01-01T09:00:00+01:00, or 2030-01-01T09:00:00 (a wall clock time in the time zone)", s)
}
