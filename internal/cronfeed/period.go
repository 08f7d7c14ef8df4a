package cronfeed

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrPeriod is wrapped by every error of ParsePeriod.
var ErrPeriod = errors.New("cronfeed: invalid ISO 8601 duration")

// Period is an ISO 8601 duration (PnYnMnWnDTnHnMnS). Calendar parts (years,
// months, days; a week is seven days) move the local wall clock; Clock is
// exact elapsed time. So P1D keeps the local time of day across a DST change
// while PT24H is always 24 real hours.
type Period struct {
	Years, Months, Days int
	Clock               time.Duration
}

// IsZero reports whether p adds nothing.
func (p Period) IsZero() bool { return p == Period{} }

// String writes p back in ISO 8601 form.
func (p Period) String() string {
	if p.IsZero() {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	for _, part := range []struct {
		n    int
		unit byte
	}{{p.Years, 'Y'}, {p.Months, 'M'}, {p.Days, 'D'}} {
		if part.n != 0 {
			b.WriteString(strconv.Itoa(part.n))
			b.WriteByte(part.unit)
		}
	}
	if p.Clock != 0 {
		b.WriteByte('T')
		c := p.Clock
		if h := c / time.Hour; h != 0 {
			fmt.Fprintf(&b, "%dH", h)
			c -= h * time.Hour
		}
		if m := c / time.Minute; m != 0 {
			fmt.Fprintf(&b, "%dM", m)
			c -= m * time.Minute
		}
		if c != 0 {
			b.WriteString(strconv.FormatFloat(c.Seconds(), 'f', -1, 64))
			b.WriteByte('S')
		}
	}
	return b.String()
}

// ParsePeriod parses an ISO 8601 duration such as P1Y2M3DT4H5M6.5S or P2W.
// A fraction (with '.' or ',') is allowed on the last, smallest unit given,
// except on years and months, whose length depends on the calendar. Signs are
// not accepted: a timer cannot be due in the past by design.
func ParsePeriod(s string) (Period, error) {
	var p Period
	bad := func(why string) (Period, error) {
		return Period{}, fmt.Errorf("%w %q: %s", ErrPeriod, s, why)
	}
	if len(s) < 3 || (s[0] != 'P' && s[0] != 'p') {
		return bad("want the form PnYnMnWnDTnHnMnS, for example PT30S or P1DT2H")
	}
	const order = "YMWDTHMS"
	rest, inTime, seen, fracSeen := s[1:], false, -1, false
	for len(rest) > 0 {
		if rest[0] == 'T' || rest[0] == 't' {
			if inTime {
				return bad("T appears twice")
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return bad("nothing after T")
			}
			seen = strings.IndexByte(order, 'T')
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("each number needs a unit after it (Y, M, W, D, then T and H, M, S)")
		}
		if fracSeen {
			return bad("a fraction is allowed only on the last unit")
		}
		num, unit := strings.Replace(rest[:i], ",", ".", 1), rest[i]|0x20 // lower case
		rest = rest[i+1:]
		pos := unitPos(unit, inTime)
		if pos <= seen {
			return bad(fmt.Sprintf("unit %c is out of order or repeated", unit&^0x20))
		}
		seen = pos
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || v > 1e9 {
			return bad(fmt.Sprintf("%q is not a number between 0 and 1e9", num))
		}
		whole := math.Trunc(v)
		frac := v - whole
		fracSeen = strings.ContainsRune(num, '.')
		switch {
		case pos < 0:
			return bad(fmt.Sprintf("unknown unit %c", unit&^0x20))
		case unit == 'y' && !inTime:
			if frac != 0 {
				return bad("years cannot be fractional")
			}
			p.Years = int(whole)
		case unit == 'm' && !inTime:
			if frac != 0 {
				return bad("months cannot be fractional")
			}
			p.Months = int(whole)
		case unit == 'w':
			p.Days += 7 * int(whole)
			p.Clock += time.Duration(frac * 7 * 24 * float64(time.Hour))
		case unit == 'd':
			p.Days += int(whole)
			p.Clock += time.Duration(frac * 24 * float64(time.Hour))
		case unit == 'h':
			p.Clock += time.Duration(v * float64(time.Hour))
		case unit == 'm':
			p.Clock += time.Duration(v * float64(time.Minute))
		case unit == 's':
			p.Clock += time.Duration(math.Round(v * float64(time.Second)))
		}
		if p.Clock < 0 || p.Clock > 100*365*24*time.Hour {
			return bad("too long (at most 100 years)")
		}
	}
	if p.Years > 1000 || p.Days > 1000*366 || p.Months > 12000 {
		return bad("too long (at most 1000 years)")
	}
	return p, nil
}

// unitPos is the unit's place in PnYnMnWnDTnHnMnS, or -1 when it does not
// belong on that side of the T.
func unitPos(unit byte, inTime bool) int {
	if inTime {
		switch unit {
		case 'h':
			return 5
		case 'm':
			return 6
		case 's':
			return 7
		}
		return -1
	}
	switch unit {
	case 'y':
		return 0
	case 'm':
		return 1
	case 'w':
		return 2
	case 'd':
		return 3
	}
	return -1
}

// AddTo returns t plus k times p, computed from t in one step (never by
// repeated adding, so nothing drifts): years and months first, clamped to the
// last day of the target month (Jan 31 + P1M = Feb 28 or 29), then days on the
// local calendar in t's location, then the exact clock part.
func (p Period) AddTo(t time.Time, k int) time.Time {
	if p.Years != 0 || p.Months != 0 {
		y, m, d := t.Date()
		months := int(m) - 1 + k*(12*p.Years+p.Months)
		y += months / 12
		months %= 12
		if months < 0 {
			months += 12
			y--
		}
		if last := daysIn(time.Month(months+1), y); d > last {
			d = last
		}
		hh, mm, ss := t.Clock()
		t = localTime(y, time.Month(months+1), d, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	if p.Days != 0 {
		y, m, d := t.Date()
		hh, mm, ss := t.Clock()
		t = localTime(y, m, d+k*p.Days, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	return t.Add(time.Duration(k) * p.Clock)
}

// daysIn is the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// localTime is time.Date with timerd's DST rule for wall-clock times that do
// not exist (spring forward): the first instant after the gap.
func localTime(y int, mo time.Month, d, hh, mm, ss, ns int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, hh, mm, ss, ns, loc)
	if h, m, s := t.Clock(); h == hh && m == mm && s == ss {
		return t
	}
	// The wall time fell into a gap; time.Date moved it by the offset change.
	// The gap ends at the transition: the first instant whose offset differs
	// from the offset just before the requested wall time.
	before := time.Date(y, mo, d, hh, mm, ss, ns, time.UTC)
	_, offBefore := t.Add(-24 * time.Hour).Zone()
	guess := before.Add(-time.Duration(offBefore) * time.Second) // instant if the old offset applied
	start, _ := guess.In(loc).ZoneBounds()
	return start
}
