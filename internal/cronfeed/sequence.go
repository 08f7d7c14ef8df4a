package cronfeed

import (
	"math"
	"time"
)

// MinInterval is the shortest interval of @every and of a repeating
// interval's period: a recurring timer fires at most once a second.
const MinInterval = time.Second

// atLeast reports whether every step of p is at least d long: any calendar
// part is (a day is at least 23 hours), else the clock part must be.
func (p Period) atLeast(d time.Duration) bool {
	return p.Years > 0 || p.Months > 0 || p.Days > 0 || p.Clock >= d
}

// sequence is an arithmetic schedule: occurrence i is period.AddTo(base, i)
// for first <= i <= last. It serves @every (base = the anchor), R/start/...
// (base = start, i from 0) and R/.../end (base = end, i up to -1). Each
// occurrence is computed from base and i alone, so no error accumulates and
// every node computes the same instants.
type sequence struct {
	base time.Time // occurrence 0, in the schedule's location: calendar steps are local days
	// wall is base as written on the wall clock (naive): other than
	// wallOf(base) only when a written wall time fell into a gap.
	wall        time.Time
	period      Period
	first, last int64 // inclusive; noFirst/noLast for unbounded
}

// newSequence returns the sequence base + i·period, first <= i <= last, for
// a base written as wall (zero: base's own wall clock time).
func newSequence(base, wall time.Time, period Period, first, last int64) *sequence {
	if wall.IsZero() {
		wall = wallOf(base)
	}
	return &sequence{base: base, wall: wall, period: period, first: first, last: last}
}

// Unbounded index limits. Occurrences outside [MinTime, MaxTime] do not
// exist anyway, and about 9.2e9 seconds separate those instants, so with
// steps of at least a second no index beyond ±2^40 is ever needed.
const (
	noFirst = -(1 << 40)
	noLast  = 1 << 40
)

// at returns occurrence i.
func (q *sequence) at(i int64) time.Time { return q.period.addWall(q.base, q.wall, i) }

// next returns the first occurrence strictly after after, or false.
func (q *sequence) next(after time.Time) (time.Time, bool) {
	if i := q.upper(after); i <= q.last {
		return q.at(i), true
	}
	return time.Time{}, false
}

// prev returns the last occurrence at or before t, or false.
func (q *sequence) prev(t time.Time) (time.Time, bool) {
	if i := q.upper(t); i > q.first {
		return q.at(i - 1), true
	}
	return time.Time{}, false
}

// upper returns the smallest i in [first, last] with at(i) > after, or
// last+1 if there is none. Occurrences increase with i (each step is at
// least MinInterval), so an estimate from the typical period length, a
// gallop with doubling strides around it and a bisection find it in a few
// dozen steps at most; for exact periods the estimate is right to one step.
func (q *sequence) upper(after time.Time) int64 {
	lo, hi := q.first, q.last
	if lo > hi || q.at(lo).After(after) {
		return lo
	}
	if !q.at(hi).After(after) {
		return hi + 1
	}
	// Invariant: at(lo) <= after < at(hi).
	if g := q.estimate(after); lo < g && g < hi {
		if q.at(g).After(after) {
			hi = g
			for stride := int64(1); g-stride > lo; stride *= 2 {
				if j := g - stride; q.at(j).After(after) {
					hi = j
				} else {
					lo = j
					break
				}
			}
		} else {
			lo = g
			for stride := int64(1); g+stride < hi; stride *= 2 {
				if j := g + stride; q.at(j).After(after) {
					hi = j
					break
				} else {
					lo = j
				}
			}
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if q.at(mid).After(after) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// estimate guesses the smallest i with at(i) > after.
func (q *sequence) estimate(after time.Time) int64 {
	secs := float64(after.Unix()-q.base.Unix()) + float64(after.Nanosecond()-q.base.Nanosecond())/1e9
	f := math.Floor(secs/q.period.approxSeconds()) + 1
	switch {
	case math.IsNaN(f) || f < noFirst:
		return noFirst
	case f > noLast:
		return noLast
	}
	return int64(f)
}
