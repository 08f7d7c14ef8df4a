package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsAreContiguousAndTight(t *testing.T) {
	prevHigh := int64(-1)
	for b := 0; b < bucketOf(math.MaxInt64)+1; b++ {
		hi := bucketHigh(b)
		if hi <= prevHigh {
			t.Fatalf("bucket %d: high %d not above previous %d", b, hi, prevHigh)
		}
		lo := prevHigh + 1
		if got := bucketOf(lo); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo, got, b)
		}
		if got := bucketOf(hi); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", hi, got, b)
		}
		if lo >= exact && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its value", b, lo, hi, subCount)
		}
		prevHigh = hi
		if hi == math.MaxInt64 {
			break
		}
	}
	if prevHigh != math.MaxInt64 {
		t.Fatalf("buckets end at %d, want MaxInt64", prevHigh)
	}
}

// TestQuantileAgainstSort checks every reported quantile against the exact
// value from a sorted copy: never below it, at most 1/128 above it.
func TestQuantileAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 100, 1000, 54321} {
		var h Histogram
		vals := make([]int64, n)
		for i := range vals {
			// a heavy tail: mostly small, some huge
			v := int64(math.Exp(rng.Float64() * 25))
			vals[i] = v
			h.Record(v)
		}
		slices.Sort(vals)
		for _, q := range []float64{0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(n))), 1)
			want := vals[rank-1]
			got := h.Quantile(q)
			if got < want || float64(got-want) > float64(want)/subCount+1 {
				t.Errorf("n=%d q=%v: got %d, exact %d", n, q, got, want)
			}
		}
		if h.Max() != vals[n-1] || h.Min() != vals[0] || h.Count() != uint64(n) {
			t.Errorf("n=%d: max %d min %d count %d, want %d %d %d", n, h.Max(), h.Min(), h.Count(), vals[n-1], vals[0], n)
		}
	}
}

func TestExactSmallValues(t *testing.T) {
	var h Histogram
	for v := int64(0); v < 100; v++ {
		h.Record(v)
	}
	if got := h.Quantile(0.5); got != 49 {
		t.Errorf("p50 of 0..99 = %d, want 49", got)
	}
	if got := h.Quantile(0.99); got != 98 {
		t.Errorf("p99 of 0..99 = %d, want 98", got)
	}
	if got := h.Mean(); got != 49.5 {
		t.Errorf("mean = %v, want 49.5", got)
	}
}

func TestNegativeAndEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should answer zeros")
	}
	h.Record(-5)
	h.Record(10)
	if h.Below() != 1 || h.Count() != 1 || h.Quantile(0) != 10 {
		t.Errorf("below %d count %d q0 %d; want 1 1 10", h.Below(), h.Count(), h.Quantile(0))
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := int64(0); i < 5000; i++ {
		v := i * i
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	b.Record(-1)
	all.Record(-1)
	a.Merge(&b)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v: merged %d, direct %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Below() != all.Below() || a.Min() != all.Min() || a.Max() != all.Max() {
		t.Error("merged counts differ from direct")
	}
}

func TestTimeline(t *testing.T) {
	tl := NewTimeline(1000, 10)
	tl.Record(1000, 5)
	tl.Record(1009, 7)
	tl.Record(1035, 100)
	tl.Record(500, 1) // before the start: interval 0
	pts := tl.Points()
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4", len(pts))
	}
	if pts[0].Count != 3 || pts[0].Max != 7 || pts[1].Count != 0 || pts[3].Count != 1 || pts[3].Offset != 30 {
		t.Errorf("points %+v", pts)
	}
}
