package cronfeed

import (
	"math/bits"
	"time"
)

// domItem is a day-of-month item whose day depends on the month: L, L-n,
// nW, LW, L-nW. The rules are Quartz's CronExpression (and AWS's, which
// documents the same characters): L is the last day of the month, L-n the
// nth day before it, and W the weekday (Monday to Friday) nearest the day,
// never in another month.
type domItem struct {
	fromEnd bool // the day counts back from the last day: L, L-n
	n       int  // the day (1-31), or the days before the last (0-30)
	weekday bool // W: the nearest weekday to that day instead
}

// day returns the item's day in a month of last days whose first day is
// the weekday first (0 = Sunday), or 0 if it has none there: day 30 in
// February, L-30 in a 30-day month.
func (it domItem) day(last, first int) int {
	d := it.n
	if it.fromEnd {
		d = last - it.n
	}
	if d < 1 || d > last {
		return 0
	}
	if it.weekday {
		d = nearestWeekday(d, last, (first+d-1)%7)
	}
	return d
}

// nearestWeekday is Quartz's W: a Saturday moves to the Friday before and a
// Sunday to the Monday after, except that "it will not 'jump' over the
// boundary of a month's days": Saturday the 1st moves to Monday the 3rd,
// and a Sunday that is the last day to Friday, two days before.
func nearestWeekday(d, last, weekday int) int {
	switch {
	case weekday == 6 && d == 1:
		return 3
	case weekday == 6:
		return d - 1
	case weekday == 0 && d == last:
		return d - 2
	case weekday == 0:
		return d + 1
	}
	return d
}

// dowItem is a day-of-week item whose day depends on the month: the nth
// such weekday (d#n), or the last one (dL).
type dowItem struct {
	weekday int // 0 = Sunday
	nth     int // 1-5; 0 = the last
}

// day returns the item's day in a month of last days whose first day is
// the weekday first, or 0: "if you specify #5 and there is not 5 of the
// given day-of-week in the month, then no firing will occur that month".
func (it dowItem) day(last, first int) int {
	d := 1 + (it.weekday-first+7)%7 // the first such weekday
	if it.nth == 0 {
		return d + (last-d)/7*7
	}
	if d += 7 * (it.nth - 1); d > last {
		return 0
	}
	return d
}

// The years a year field can name: those of the instants timerd computes
// (PROTOCOL.md: 1970 to 2262-04-11). A year field naming only others
// leaves a spec that never fires, which Compile rejects.
const (
	firstYear = 1970
	lastYear  = 2262
)

// yearSet holds the years of a year field between firstYear and lastYear,
// bit y-firstYear. A nil *yearSet (no year field, or *) is every year.
type yearSet [(lastYear - firstYear + 64) / 64]uint64

// add adds the years of s that lie between firstYear and lastYear,
// starting at the first of them instead of walking up from s.lo, so that
// any year field costs at most a few hundred steps.
func (ys *yearSet) add(s span) {
	y := s.lo
	if y < firstYear {
		y += (firstYear - y + s.step - 1) / s.step * s.step
	}
	for ; y <= min(s.hi, lastYear); y += s.step {
		ys[(y-firstYear)/64] |= 1 << uint((y-firstYear)%64)
	}
}

// next returns the first year in the set at or after y.
func (ys *yearSet) next(y int) (int, bool) {
	if ys == nil {
		return y, true
	}
	for i := max(y, firstYear) - firstYear; i <= lastYear-firstYear; {
		w := ys[i/64] >> uint(i%64)
		if w != 0 {
			return firstYear + i + bits.TrailingZeros64(w), true
		}
		i = (i/64 + 1) * 64
	}
	return 0, false
}

// span returns the first and last years of the set; ok is false if the
// set is empty. A nil set spans every year timerd computes.
func (ys *yearSet) span() (first, last int, ok bool) {
	if ys == nil {
		return firstYear, lastYear, true
	}
	first, ok = ys.next(firstYear)
	for y, more := first, ok; more; y, more = ys.next(y + 1) {
		last = y
	}
	return first, last, ok
}

// weekdayDays returns, for each weekday of the 1st of a month (0 = Sunday),
// the days 1-31 whose weekday is in mask (bit 0 = Sunday): the plain
// day-of-week values as days of a month, computed once per spec.
func weekdayDays(mask uint64) (out [7]uint64) {
	for first := range 7 {
		for d := 1; d <= 31; d++ {
			if mask&(1<<uint((first+d-1)%7)) != 0 {
				out[first] |= 1 << uint(d)
			}
		}
	}
	return out
}

// days returns the days of y-m the spec's day fields match, as bits 1-31.
// When both day fields are restricted, a day matching either fires (Vixie's
// rule; in Quartz and EventBridge one of them is always ?, which matches
// every day, so the rule only ever applies in the standard dialect).
func (c *cronSpec) days(y int, m time.Month) uint64 {
	last, first := daysIn(m, y), weekday(y, m, 1)
	dom, dow := c.dom, c.dowDays[first]
	for _, it := range c.domItems {
		dom |= 1 << uint(it.day(last, first))
	}
	for _, it := range c.dowItems {
		dow |= 1 << uint(it.day(last, first))
	}
	valid := uint64(1)<<uint(last+1) - 2 // bit 0 stands for "none" above
	if c.domStar || c.dowStar {
		return dom & dow & valid
	}
	return (dom | dow) & valid
}
