package cronfeed

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// MinTime and MaxTime bound every instant this package computes, and every
// due time timerd stores: the range of int64 nanoseconds since 1970
// (time.Time.UnixNano), 1970-01-01T00:00:00Z to
// 2262-04-11T23:47:16.854775807Z. An occurrence outside it does not exist,
// so no due time converted to nanoseconds can wrap around (2263 would come
// back as 1677 and fire at once). The bound also keeps every search finite
// and every arithmetic step far from overflow. They are constants in all
// but name: never assign to them.
var (
	MinTime = time.Unix(0, 0).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// farPast and farFuture are what saturating arithmetic returns: outside
// [MinTime, MaxTime], so they are never an occurrence, and beyond any
// result that does not saturate (at most about 72,000 years from its
// start), so saturation keeps AddTo monotonic in k.
var (
	farPast   = time.Date(-1000000, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(1000000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrRange: a time lies outside [MinTime, MaxTime]. (It sits beside the
// bounds rather than in errors.go so that the range is defined in one file.)
var ErrRange = errors.New("cronfeed: time out of range")

// CheckTime returns nil if t lies in [MinTime, MaxTime], else an error
// wrapping ErrRange that names t and the end of the range it passed. The
// service answers it for Timer-At, Timer-Start, Timer-End and Timer-In.
func CheckTime(t time.Time) error {
	switch {
	case t.Before(MinTime):
		return fmt.Errorf("%w: %s is before %s, the earliest time timerd can hold", ErrRange,
			t.UTC().Format(time.RFC3339Nano), MinTime.Format(time.RFC3339Nano))
	case t.After(MaxTime):
		return fmt.Errorf("%w: %s is after %s, the latest time timerd can hold (int64 nanoseconds since 1970)", ErrRange,
			t.UTC().Format(time.RFC3339Nano), MaxTime.Format(time.RFC3339Nano))
	}
	return nil
}

// zones caches loaded locations by name: loading reads the zoneinfo file,
// and a *time.Location is immutable once loaded, so sharing is safe.
var zones sync.Map // string -> *time.Location

// LoadZone returns the IANA time zone called name ("" and "UTC" are UTC).
// "Local" is rejected: the machine's zone differs between nodes, and every
// node must compute the same instants. Unknown names wrap ErrZone.
//
// The zone rules come from the system's zoneinfo (or Go's embedded copy when
// the binary imports time/tzdata); nodes with different tzdata versions can
// disagree about zones whose rules changed recently.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	bad := func(why string) (*time.Location, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrZone, name, why)
	}
	switch {
	case len(name) > 64:
		return bad("too long for an IANA zone name")
	case strings.EqualFold(name, "local"):
		return bad(`"Local" is the machine's zone and differs between nodes; want an IANA name such as "Europe/Berlin" or "UTC"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return bad(`want an IANA name such as "Europe/Berlin", "America/New_York" or "UTC" (names are case-sensitive)`)
	}
	zones.Store(name, loc)
	return loc, nil
}

// wallOf returns the local wall clock reading of t, in t's location, as a
// UTC time: a "naive" time that can be compared and stepped without zones.
func wallOf(t time.Time) time.Time {
	_, off := t.Zone()
	return t.UTC().Add(time.Duration(off) * time.Second)
}

// zoneEnd returns the end of the period of constant offset that contains
// u (in its location), or the zero time if it lasts forever, and it is
// always after u. time.Time.ZoneBounds alone is not enough: on the last UTC
// day of a leap year served by a zone's TZ footer rule (New York's
// 2040-12-31, any zone extended that way) it returns an end at or before u
// (golang/go#81583), and a walk from period to period would stop moving.
// Then the first offset change within a day is found by bisection; if
// there is none, the day's end is a harmless boundary between two pieces
// of one period.
func zoneEnd(u time.Time) time.Time {
	_, end := u.ZoneBounds()
	if end.IsZero() || end.After(u) {
		return end
	}
	_, off := u.Zone()
	lo, hi := u, u.Add(24*time.Hour)
	if _, o := hi.Zone(); o == off {
		return hi
	}
	for hi.Sub(lo) > time.Nanosecond { // about 47 steps
		mid := lo.Add(hi.Sub(lo) / 2)
		if _, o := mid.Zone(); o == off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// offsetAt is the UTC offset of loc at instant t.
func offsetAt(t time.Time, loc *time.Location) time.Duration {
	_, off := t.In(loc).Zone()
	return time.Duration(off) * time.Second
}

// localTime is time.Date with timerd's rules for wall clock times that do
// not occur exactly once; see resolveWall.
func localTime(y int, mo time.Month, d, hh, mm, ss, ns int, loc *time.Location) time.Time {
	return resolveWall(time.Date(y, mo, d, hh, mm, ss, ns, time.UTC), loc)
}

// resolveWall returns the instant at which the wall clock of loc reads wall
// (a naive time, see wallOf), by timerd's DST rules:
//
//   - a wall time that occurs once is that instant;
//   - a wall time that occurs twice (fall back) is its first occurrence;
//   - a wall time that never occurs (spring forward) is the first instant
//     after the gap, that is the transition itself.
//
// time.Date leaves the last two cases unspecified (in practice it picks the
// second occurrence east of Greenwich and the first west of it), so they are
// resolved here from the zone's transitions. The result is in loc.
func resolveWall(wall time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return wall
	}
	y, mo, d := wall.Date()
	hh, mm, ss := wall.Clock()
	t := time.Date(y, mo, d, hh, mm, ss, wall.Nanosecond(), loc)
	if wallOf(t).Equal(wall) {
		return firstOccurrence(t)
	}
	return gapEnd(t, wall, loc)
}

// firstOccurrence returns the earliest instant whose wall clock reads the
// same as t's: t itself unless t lies in the second pass of a fall-back hour.
func firstOccurrence(t time.Time) time.Time {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, offNow := t.Zone()
	_, offPrev := start.Add(-time.Nanosecond).Zone()
	if offPrev <= offNow {
		return t
	}
	earlier := t.Add(-time.Duration(offPrev-offNow) * time.Second)
	if earlier.Before(start) && wallOf(earlier).Equal(wallOf(t)) {
		return earlier
	}
	return t
}

// repeatEnd reports whether t's wall clock reading already occurred earlier
// (t is in the second pass of a fall-back), and if so returns the wall clock
// (naive) at which the repeated stretch ends: the first wall time after it
// that is read only once.
func repeatEnd(t time.Time) (time.Time, bool) {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return time.Time{}, false
	}
	_, offNow := t.Zone()
	_, offPrev := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(offPrev-offNow) * time.Second
	if back <= 0 || t.Sub(start) >= back {
		return time.Time{}, false
	}
	return start.UTC().Add(time.Duration(offPrev) * time.Second), true
}

// gapEnd returns the transition that skips over wall (naive), given t, the
// instant time.Date chose for it. t reads wall with the offset of one side
// of the gap, so the transition is the start or the end of t's zone period;
// other zones' oddities fall back to a scan of the surrounding day.
func gapEnd(t, wall time.Time, loc *time.Location) time.Time {
	start, end := t.ZoneBounds()
	for _, tr := range [2]time.Time{start, end} {
		if !tr.IsZero() && skips(tr, wall) {
			return tr
		}
	}
	u := wall.Add(-30 * time.Hour).In(loc)
	for range 16 {
		end := zoneEnd(u)
		if end.IsZero() || end.After(wall.Add(30*time.Hour)) {
			break
		}
		if skips(end, wall) {
			return end
		}
		u = end
	}
	return t // not in a gap after all; keep time.Date's reading
}

// skips reports whether the transition at tr jumps the wall clock over wall.
func skips(tr, wall time.Time) bool {
	_, offPrev := tr.Add(-time.Nanosecond).Zone()
	_, offNew := tr.Zone()
	u := tr.UTC()
	from := u.Add(time.Duration(offPrev) * time.Second)
	to := u.Add(time.Duration(offNew) * time.Second)
	return !wall.Before(from) && wall.Before(to)
}

// DelayDue is the due time of a delay s (Timer-In) received at now:
// ParseDelay(s) added once to now in UTC, so "36h" and "PT36H" are exact
// time and "P1D" is the same UTC time the next day. The sum is computed in
// seconds and nanoseconds (AddTo), never in int64 nanoseconds, so a delay
// of up to 292 years cannot overflow; it is then checked against
// [MinTime, MaxTime]. Errors wrap ErrDelay, ErrPeriod or ErrRange; a range
// error also says the longest delay that would have been accepted.
func DelayDue(s string, now time.Time) (time.Time, error) {
	p, err := ParseDelay(s)
	if err != nil {
		return time.Time{}, err
	}
	now = now.UTC()
	due := p.AddTo(now, 1)
	if err := CheckTime(due); err != nil {
		return time.Time{}, fmt.Errorf("%w; want a delay of at most %v from now", err, MaxTime.Sub(now).Truncate(time.Second))
	}
	return due, nil
}
