package cronfeed

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Period is an ISO 8601 duration (PnYnMnWnDTnHnMnS). Calendar parts (years,
// months, days; a week is seven days) move the local wall clock; Clock is
// exact elapsed time. So P1D keeps the local time of day across a DST change
// while PT24H is always 24 real hours. A fraction of a day or week (P1.5D)
// is exact time: P1.5D is one calendar day and 12 hours.
//
// ParsePeriod never returns negative fields; AddTo assumes none.
type Period struct {
	Years, Months, Days int
	Clock               time.Duration
}

// Limits of ParsePeriod: far beyond any sensible timer, near enough that
// k·p stays clear of overflow for every k the package uses.
const (
	maxPeriodYears  = 1000
	maxPeriodMonths = 12 * maxPeriodYears
	maxPeriodDays   = 366 * maxPeriodYears
	maxPeriodClock  = 100 * 365 * 24 * time.Hour
)

// IsZero reports whether p adds nothing.
func (p Period) IsZero() bool { return p == Period{} }

// String writes p back in ISO 8601 form (weeks as days: P2W is P14D).
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
			sec, frac := c/time.Second, c%time.Second
			b.WriteString(strconv.FormatInt(int64(sec), 10))
			if frac != 0 {
				b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", frac), "0"))
			}
			b.WriteByte('S')
		}
	}
	return b.String()
}

// ParsePeriod parses an ISO 8601 duration such as P1Y2M3DT4H5M6.5S or P2W.
// Units must come in the order Y M W D, then T and H M S, each at most once.
// A fraction (with '.' or ',') is allowed on the last, smallest unit given,
// except on years and months, whose length depends on the calendar; it is
// computed exactly, to the nanosecond. Signs are not accepted: a timer cannot
// be due in the past by design. Errors wrap ErrPeriod.
func ParsePeriod(s string) (Period, error) {
	bad := func(why string) (Period, error) {
		return Period{}, fmt.Errorf("%w %q: %s", ErrPeriod, s, why)
	}
	switch {
	case len(s) > 64:
		return bad("too long (at most 64 characters)")
	case len(s) < 3 || (s[0] != 'P' && s[0] != 'p'):
		return bad("want the form PnYnMnWnDTnHnMnS, for example PT30S, P1DT2H or P2W")
	}
	var p Period
	rest, inTime, seen, fracSeen := s[1:], false, -1, false
	for rest != "" {
		if rest[0] == 'T' || rest[0] == 't' {
			if inTime {
				return bad("T appears twice")
			}
			inTime, rest, seen = true, rest[1:], posT
			if rest == "" {
				return bad("nothing after T")
			}
			continue
		}
		whole, frac, unit, tail, why := scanPeriodPart(rest)
		if why != "" {
			return bad(why)
		}
		rest = tail
		pos := unitPos(unit, inTime)
		switch {
		case pos < 0 && !inTime && (unit == 'h' || unit == 's'):
			return bad(fmt.Sprintf("unit %c belongs after T, as in PT%s%c", unit&^0x20, whole, unit&^0x20))
		case pos < 0 && inTime && (unit == 'y' || unit == 'w' || unit == 'd'):
			return bad(fmt.Sprintf("unit %c belongs before T, as in P%s%c", unit&^0x20, whole, unit&^0x20))
		case pos < 0:
			return bad(fmt.Sprintf("unknown unit %q; want Y, M, W, D, then T and H, M, S", unit))
		case pos <= seen:
			return bad(fmt.Sprintf("unit %c is out of order or repeated; want the order Y M W D T H M S", unit&^0x20))
		case fracSeen:
			return bad("a fraction is allowed only on the last unit")
		}
		seen, fracSeen = pos, frac != ""
		if why := p.add(pos, whole, frac); why != "" {
			return bad(why)
		}
	}
	return p, nil
}

// Positions of the units in PnYnMnWnDTnHnMnS.
const (
	posY = iota
	posMonth
	posW
	posD
	posT
	posH
	posMinute
	posS
)

// unitPos is the unit's place in PnYnMnWnDTnHnMnS, or -1 when it does not
// belong on that side of the T.
func unitPos(unit byte, inTime bool) int {
	if inTime {
		switch unit {
		case 'h':
			return posH
		case 'm':
			return posMinute
		case 's':
			return posS
		}
		return -1
	}
	switch unit {
	case 'y':
		return posY
	case 'm':
		return posMonth
	case 'w':
		return posW
	case 'd':
		return posD
	}
	return -1
}

// scanPeriodPart reads "digits[(.|,)digits]unit" from the front of s and
// returns the integer digits, the fraction digits, the lower-case unit and
// the rest; why is set when s does not start that way.
func scanPeriodPart(s string) (whole, frac string, unit byte, rest, why string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	whole = s[:i]
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac, i = s[i+1:j], j
		if frac == "" {
			return "", "", 0, "", "a decimal point needs digits after it"
		}
	}
	switch {
	case whole == "":
		return "", "", 0, "", "each unit needs a number before it (Y, M, W, D, then T and H, M, S)"
	case i == len(s):
		return "", "", 0, "", fmt.Sprintf("the number %s needs a unit after it (Y, M, W, D, then T and H, M, S)", s)
	}
	return whole, frac, s[i] | 0x20, s[i+1:], ""
}

// unitLen is the exact length of a unit after T, and of the fraction of a
// day or week (whose whole part is calendar days).
var unitLen = [...]time.Duration{
	posW:      7 * 24 * time.Hour,
	posD:      24 * time.Hour,
	posH:      time.Hour,
	posMinute: time.Minute,
	posS:      time.Second,
}

// add adds "whole.frac" of the unit at pos to p, or says why it cannot.
func (p *Period) add(pos int, whole, frac string) string {
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > 1e9 {
		return fmt.Sprintf("%s is too large (at most 1000000000 per unit)", whole)
	}
	switch pos {
	case posY, posMonth:
		if frac != "" {
			return "years and months cannot be fractional (their length depends on the calendar)"
		}
		if pos == posY {
			p.Years = int(n)
		} else {
			p.Months = int(n)
		}
	case posW, posD:
		days := n
		if pos == posW {
			days *= 7
		}
		p.Days += int(days)
		p.Clock += fractionOf(frac, unitLen[pos])
	default:
		unit := unitLen[pos]
		if n > int64(maxPeriodClock/unit) {
			return "too long (the time part is at most 100 years)"
		}
		p.Clock += time.Duration(n)*unit + fractionOf(frac, unit)
	}
	switch {
	case p.Clock > maxPeriodClock:
		return "too long (the time part is at most 100 years)"
	case p.Years > maxPeriodYears || p.Months > maxPeriodMonths || p.Days > maxPeriodDays:
		return "too long (at most 1000 years)"
	}
	return ""
}

// fractionOf returns 0.digits of unit, rounded to the nearest nanosecond,
// computed in integers so that PT0.1S is exactly 100ms.
func fractionOf(digits string, unit time.Duration) time.Duration {
	if len(digits) > 18 {
		digits = digits[:18] // beyond a nanosecond of 100 years
	}
	if digits == "" {
		return 0
	}
	num, _ := strconv.ParseUint(digits, 10, 64)
	scale := uint64(1)
	for range digits {
		scale *= 10
	}
	hi, lo := bits.Mul64(num, uint64(unit))
	q, r := bits.Div64(hi, lo, scale) // hi < scale because num < scale
	if 2*r >= scale {
		q++
	}
	return time.Duration(q)
}

// ParseDelay parses a delay from now (Timer-In): a Go duration ("1500ms",
// "2h45m") or an ISO 8601 duration ("PT30S", "P1DT2H"). Negative delays are
// rejected. A Go duration becomes a Period with only Clock set, so the due
// time is always p.AddTo(now.In(zone), 1): exact time for "36h" and "PT36H",
// calendar days in the zone for "P1D". Errors wrap ErrDelay or ErrPeriod.
func ParseDelay(s string) (Period, error) {
	if s != "" && (s[0] == 'P' || s[0] == 'p') {
		return ParsePeriod(s)
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return Period{}, fmt.Errorf(`%w %q: want a Go duration such as "1500ms" or "2h45m" (units ns, us, ms, s, m, h) or an ISO 8601 duration such as "PT30S" or "P1DT2H"`, ErrDelay, s)
	case d < 0:
		return Period{}, fmt.Errorf("%w %q: a delay cannot be negative", ErrDelay, s)
	}
	return Period{Clock: d}, nil
}

// AddTo returns t plus k times p (k may be negative), computed from t in one
// step, never by repeated adding, so nothing drifts: years and months first,
// clamped to the last day of the target month (Jan 31 + P1M = Feb 28 or 29),
// then days on the local calendar of t's location, then k times the exact
// clock part. A calendar result whose wall time does not exist (spring
// forward) is the first instant after the gap; one that occurs twice (fall
// back) is its first occurrence. k = 0 returns t unchanged. Results more
// than about 20,000 years away saturate to a time in the year ±1,000,000.
func (p Period) AddTo(t time.Time, k int) time.Time {
	return p.addN(t, int64(k))
}

// addN is AddTo with a 64-bit count on every platform.
func (p Period) addN(t time.Time, k int64) time.Time {
	return p.addWall(t, wallOf(t), k)
}

// addWall is addN for a t whose wall clock time was written as wall (a
// naive time): they differ when the written time fell into a gap and t is
// the end of that gap. Calendar steps start from wall, so a start written as
// 02:30 on the spring-forward day is 02:30 again the next day.
func (p Period) addWall(t, wall time.Time, k int64) time.Time {
	if k == 0 || p.IsZero() {
		return t
	}
	if p.Years != 0 || p.Months != 0 || p.Days != 0 {
		if t = p.addCalendar(wall, k, t.Location()); t.Equal(farFuture) || t.Equal(farPast) {
			return t
		}
	}
	if p.Clock != 0 {
		t = addClock(t, k, p.Clock)
	}
	return t
}

// addCalendar adds k times the years, months and days of p to the naive
// wall clock time wall and resolves the result in loc.
func (p Period) addCalendar(wall time.Time, k int64, loc *time.Location) time.Time {
	months := 12*int64(p.Years) + int64(p.Months)
	if tooMany(k, months, 12*20000) || tooMany(k, int64(p.Days), 366*20000) {
		return saturate(k)
	}
	y, m, d := wall.Date()
	hh, mm, ss := wall.Clock()
	if months != 0 {
		total := int64(m) - 1 + k*months
		y += int(floorDiv(total, 12))
		m = time.Month(total-12*floorDiv(total, 12)) + 1
		if last := daysIn(m, y); d > last {
			d = last
		}
	}
	d += int(k * int64(p.Days))
	return localTime(y, m, d, hh, mm, ss, wall.Nanosecond(), loc)
}

// addClock returns t + k·c without overflowing time.Duration, saturating
// beyond about 30,000 years.
func addClock(t time.Time, k int64, c time.Duration) time.Time {
	neg := (k < 0) != (c < 0)
	hi, lo := bits.Mul64(absU(k), absU(int64(c)))
	if hi >= 1e9 {
		return saturateSign(neg)
	}
	sec, ns := bits.Div64(hi, lo, 1e9)
	if sec > 1e12 {
		return saturateSign(neg)
	}
	if neg {
		return time.Unix(t.Unix()-int64(sec), int64(t.Nanosecond())-int64(ns)).In(t.Location())
	}
	return time.Unix(t.Unix()+int64(sec), int64(t.Nanosecond())+int64(ns)).In(t.Location())
}

// approxSeconds is the typical length of p in seconds, for estimates only.
func (p Period) approxSeconds() float64 {
	const day = 86400.0
	return float64(p.Years)*365.2425*day + float64(p.Months)*30.436875*day +
		float64(p.Days)*day + p.Clock.Seconds()
}

// tooMany reports whether |k·unit| exceeds limit.
func tooMany(k, unit, limit int64) bool {
	return unit != 0 && absU(k) > uint64(limit)/absU(unit)
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

func saturate(k int64) time.Time { return saturateSign(k < 0) }

func saturateSign(neg bool) time.Time {
	if neg {
		return farPast
	}
	return farFuture
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysIn is the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
