// Package hist records latencies for the bench and loadtest tools: a
// log-linear histogram with bounded relative error (HdrHistogram's layout
// with 7 bits of sub-bucket precision, under 0.8%), and a Timeline of one
// histogram per interval for lag-over-time charts. Values are int64 in any
// unit the caller picks (the tools use microseconds); negative values are
// counted apart, as Below, so "early" never hides inside a percentile.
// A Histogram is not safe for concurrent use.
package hist

import (
	"math"
	"math/bits"
)

// subBits is the precision: each power-of-two range above 2^(subBits+1) is
// split into 2^subBits buckets, so a bucket is at most 1/128 of its value wide.
const subBits = 7

const (
	subCount = 1 << subBits // buckets per power-of-two range
	exact    = 2 * subCount // values below this have a bucket of their own
)

// Histogram counts values in log-linear buckets. The zero value is empty
// and ready to use.
type Histogram struct {
	counts []uint64 // grows to the highest bucket used
	total  uint64   // values >= 0
	below  uint64   // values < 0
	min    int64
	max    int64
	sum    float64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	if v < exact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1) // >= 1
	top := int(v >> shift)                         // in [subCount, 2*subCount)
	return exact + (shift-1)*subCount + top - subCount
}

// bucketHigh returns the largest value that falls in bucket b.
func bucketHigh(b int) int64 {
	if b < exact {
		return int64(b)
	}
	shift := (b-exact)/subCount + 1
	top := int64((b-exact)%subCount + subCount)
	hi := (top+1)<<shift - 1
	if hi < 0 { // the last bucket of the int64 range
		return math.MaxInt64
	}
	return hi
}

// Record adds one value.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		h.below++
		return
	}
	b := bucketOf(v)
	if b >= len(h.counts) {
		grown := make([]uint64, b+1+b/4)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[b]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		h.below += o.below
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for b, c := range o.counts {
		h.counts[b] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.below += o.below
	h.sum += o.sum
}

// Count is the number of values >= 0 recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Below is the number of negative values recorded (not in any percentile).
func (h *Histogram) Below() uint64 { return h.below }

// Max is the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Min is the smallest non-negative value recorded (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Mean is the average of the non-negative values (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at quantile q in [0, 1]: the smallest value v
// such that at least q of the values are <= v, reported as the top of v's
// bucket (never below the true value, at most 1/128 above it) and never
// above the largest value seen. Empty: 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketHigh(b), h.max)
		}
	}
	return h.max
}
