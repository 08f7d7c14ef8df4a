package wheel

import (
	"math"
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// advance runs w.Advance(now) and returns what it handed out, in order.
func advance(w *Wheel, now int64) []fired {
	var out []fired
	w.Advance(now, func(value uint64, due int64) {
		out = append(out, fired{value: value, due: due})
	})
	return out
}

func dues(fs []fired) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.due
	}
	return out
}

func values(fs []fired) []uint64 {
	out := make([]uint64, len(fs))
	for i, f := range fs {
		out[i] = f.value
	}
	return out
}

// TestAdvance pins the hand-out rules: never early, due order within and
// across ticks, overdue entries at once, huge jumps, backwards no-ops.
func TestAdvance(t *testing.T) {
	const start = 1_700_000_000 * int64(time.Second)
	type step struct {
		now  int64   // relative to start
		want []int64 // dues handed out, relative to start
	}
	for _, tc := range []struct {
		name  string
		tick  time.Duration
		dues  []int64 // added at start, relative to start
		steps []step
	}{
		{
			name:  "never early, to the nanosecond",
			dues:  []int64{5*ms + 1},
			steps: []step{{5 * ms, nil}, {5*ms + 1, []int64{5*ms + 1}}},
		},
		{
			name: "due order inside one tick",
			dues: []int64{7*ms + 900_000, 7*ms + 5, 7*ms + 500_000, 7 * ms},
			steps: []step{
				{7*ms + 499_999, []int64{7 * ms, 7*ms + 5}},
				{8 * ms, []int64{7*ms + 500_000, 7*ms + 900_000}},
			},
		},
		{
			name:  "due order across levels in one call",
			dues:  []int64{3_600_000 * ms, 2, 70_000 * ms, 300 * ms, 1 * ms, 86_400_000 * ms},
			steps: []step{{86_400_000 * ms, []int64{2, 1 * ms, 300 * ms, 70_000 * ms, 3_600_000 * ms, 86_400_000 * ms}}},
		},
		{
			name:  "due at or before the start: next advance, even to the same time",
			dues:  []int64{0, -5 * ms, -1},
			steps: []step{{0, []int64{-5 * ms, -1, 0}}},
		},
		{
			name:  "backwards is a no-op",
			dues:  []int64{10 * ms},
			steps: []step{{9 * ms, nil}, {1 * ms, nil}, {10 * ms, []int64{10 * ms}}, {2 * ms, nil}},
		},
		{
			name: "a huge jump hands out years in order",
			dues: []int64{400 * 24 * 3_600_000 * ms, 1 * ms, 30 * 24 * 3_600_000 * ms, 365 * 24 * 3_600_000 * ms},
			steps: []step{{100 * 365 * 24 * 3_600_000 * ms, []int64{
				1 * ms, 30 * 24 * 3_600_000 * ms, 365 * 24 * 3_600_000 * ms, 400 * 24 * 3_600_000 * ms,
			}}},
		},
		{
			// 2^62 one-nanosecond ticks: iterating over ticks would never end.
			name:  "a 146-year jump with 1ns ticks",
			tick:  1,
			dues:  []int64{1 << 62, 1<<62 - 1, 3},
			steps: []step{{1 << 62, []int64{3, 1<<62 - 1, 1 << 62}}},
		},
		{
			// Stopping inside the last tick of a level-1 slot leaves the
			// slot's later entries queued; an earlier one added then must
			// still come out first.
			name:  "stop in the last tick of a slot",
			dues:  []int64{511*ms + 800_000},
			steps: []step{{511*ms + 200_000, nil}, {512 * ms, []int64{511*ms + 800_000}}},
		},
		{
			name:  "coarse tick",
			tick:  time.Second,
			dues:  []int64{1500 * ms, 1200 * ms, 999 * ms, 2000 * ms},
			steps: []step{{1300 * ms, []int64{999 * ms, 1200 * ms}}, {1999 * ms, []int64{1500 * ms}}, {5000 * ms, []int64{2000 * ms}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(tc.tick, start)
			for i, d := range tc.dues {
				w.Add(start+d, uint64(i))
			}
			for _, s := range tc.steps {
				got := dues(advance(w, start+s.now))
				for i := range got {
					got[i] -= start
				}
				if !slices.Equal(got, s.want) && len(got)+len(s.want) > 0 {
					t.Fatalf("Advance(start%+d) handed out %v, want %v", s.now, got, s.want)
				}
			}
		})
	}
}

// TestAddDuringPartialTick is the case behind "stop in the last tick of a
// slot": an entry added after an Advance stopped inside a tick, earlier
// than entries already queued from that tick.
func TestAddDuringPartialTick(t *testing.T) {
	for _, queuedTick := range []int64{3, 255, 511, 65535, 65536 + 255} {
		w := New(time.Millisecond, 0)
		w.Add(queuedTick*ms+800_000, 1)
		if got := advance(w, queuedTick*ms+200_000); len(got) != 0 {
			t.Fatalf("tick %d: early hand-out %v", queuedTick, got)
		}
		w.Add(queuedTick*ms+500_000, 2)
		w.Add(queuedTick*ms+100_000, 3) // already due
		if due, _ := w.Next(); due != queuedTick*ms+100_000 {
			t.Fatalf("tick %d: Next() = %d, want the overdue entry", queuedTick, due)
		}
		got := values(advance(w, (queuedTick+1)*ms))
		if !slices.Equal(got, []uint64{3, 2, 1}) {
			t.Fatalf("tick %d: handed out values %v, want [3 2 1]", queuedTick, got)
		}
	}
}

// TestEqualDues hands out every entry of a crowded instant, in the order
// the same calls always produce.
func TestEqualDues(t *testing.T) {
	run := func() []uint64 {
		w := New(time.Millisecond, 0)
		for i := range 1000 {
			w.Add(int64(i%3)*ms+7*ms, uint64(i))
			if i%7 == 0 {
				advance(w, int64(i)*1000)
			}
		}
		return values(advance(w, 10*ms))
	}
	a, b := run(), run()
	if len(a) != 1000 || !slices.Equal(a, b) {
		t.Fatalf("two identical runs handed out %d and %d entries, equal order %v", len(a), len(b), slices.Equal(a, b))
	}
}

func TestCancel(t *testing.T) {
	w := New(0, 0)
	a := w.Add(10*ms, 1)
	b := w.Add(20*ms, 2)
	if w.Cancel(0) {
		t.Fatal("Cancel(0) = true")
	}
	if w.Cancel(Handle(uint64(a) + 1<<40)) {
		t.Fatal("Cancel of a forged generation = true")
	}
	if w.Cancel(Handle(1<<32 | 1000)) {
		t.Fatal("Cancel of an index never allocated = true")
	}
	if !w.Cancel(a) || w.Cancel(a) {
		t.Fatal("Cancel(a) twice: want true then false")
	}
	if w.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", w.Len())
	}
	// The freed slot is reused with a new generation: the old handle stays dead.
	c := w.Add(15*ms, 3)
	if uint32(c) != uint32(a) || c == a {
		t.Fatalf("reuse: handles %#x and %#x, want the same slot, another generation", a, c)
	}
	if w.Cancel(a) {
		t.Fatal("a stale handle cancelled the entry reusing its slot")
	}
	if got := values(advance(w, 30*ms)); !slices.Equal(got, []uint64{3, 2}) {
		t.Fatalf("handed out %v, want [3 2]", got)
	}
	if w.Cancel(b) || w.Cancel(c) {
		t.Fatal("Cancel of a handed-out entry = true")
	}
	// Cancel of an entry already queued in the current tick.
	d := w.Add(30*ms+500, 4)
	w.Add(30*ms+600, 5)
	if got := advance(w, 30*ms+100); len(got) != 0 {
		t.Fatalf("early: %v", got)
	}
	if !w.Cancel(d) {
		t.Fatal("Cancel of a queued entry = false")
	}
	if due, _ := w.Next(); due != 30*ms+600 {
		t.Fatalf("Next() = %d after cancelling the earliest, want %d", due, 30*ms+600)
	}
	if got := values(advance(w, 31*ms)); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("handed out %v, want [5]", got)
	}
	// Cancel of an entry still pending (added in the current tick, no
	// Advance since): Next moves on to the next one exactly.
	e := w.Add(31*ms+100, 6)
	w.Add(31*ms+200, 7)
	if due, _ := w.Next(); due != 31*ms+100 {
		t.Fatalf("Next() = %d, want %d", due, 31*ms+100)
	}
	w.Cancel(e)
	if due, _ := w.Next(); due != 31*ms+200 {
		t.Fatalf("Next() = %d after cancelling the earliest pending entry, want %d", due, 31*ms+200)
	}
}

// TestGenerationWrap checks that a slot reused past 2^32 generations never
// yields the zero handle or an even generation.
func TestGenerationWrap(t *testing.T) {
	w := New(0, 0)
	h := w.Add(ms, 1)
	w.Cancel(h)
	w.at(uint32(h)).gen = math.MaxUint32 - 1 // as if reused 2^31-1 times
	for range 3 {
		h = w.Add(ms, 1)
		if h == 0 || uint32(h>>32)&1 == 0 {
			t.Fatalf("handle %#x after wrap", h)
		}
		if !w.Cancel(h) {
			t.Fatalf("Cancel(%#x) after wrap = false", h)
		}
	}
}

// TestNext checks that Next is exact where the documentation says so, a
// lower bound elsewhere, and never at or before the wheel's time when
// nothing is due.
func TestNext(t *testing.T) {
	w := New(time.Millisecond, 0)
	if _, ok := w.Next(); ok {
		t.Fatal("Next() on an empty wheel: ok")
	}
	far := 100_000*ms + 7 // in the level-2 slot [65536ms, 131072ms)
	w.Add(far, 0)
	if due, _ := w.Next(); due != far {
		t.Fatalf("Next() = %d, want %d: a small slot is scanned", due, far)
	}
	for k := range int64(scanMax) {
		w.Add(far+(k+1)*ms, uint64(k+1))
	}
	if due, _ := w.Next(); due != far {
		t.Fatalf("Next() = %d, want the cached %d", due, far)
	}
	advance(w, 0) // forgets the cached value
	if due, _ := w.Next(); due != 65536*ms {
		t.Fatalf("Next() = %d, want the start of a big slot, %d", due, 65536*ms)
	}
	near := w.Add(3*ms+5, 99) // level 0
	if due, _ := w.Next(); due != 3*ms+5 {
		t.Fatalf("Next() = %d after an earlier Add, want %d", due, 3*ms+5)
	}
	w.Cancel(near)
	if due, _ := w.Next(); due != 65536*ms {
		t.Fatalf("Next() = %d after Cancel, want %d", due, 65536*ms)
	}
	// The node's loop: sleep until Next, advance, repeat. It narrows the
	// bound as it cascades and hands out each entry at its due.
	wakes, n := 0, w.Len()
	for w.Len() > 0 {
		due, _ := w.Next()
		if due <= w.now {
			t.Fatalf("Next() = %d, not after the wheel's time %d", due, w.now)
		}
		for _, f := range advance(w, due) {
			if f.due != due {
				t.Fatalf("Advance(%d) handed out due %d", due, f.due)
			}
		}
		wakes++
	}
	if wakes > n+w.levels {
		t.Fatalf("%d wake-ups for %d entries", wakes, n)
	}
	// Overdue entries make Next report a due at or before the time.
	w.Add(w.now-5, 3)
	if due, _ := w.Next(); due != w.now-5 {
		t.Fatalf("Next() = %d, want the overdue %d", due, w.now-5)
	}
}

// TestBigSlots covers a slot big enough to be collected in slab order, one
// too big to sort whole (it cascades first), and a single tick holding
// more than keepBatch entries.
func TestBigSlots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		spread int64 // dues spread over [base, base+spread), all in one level-2 slot
	}{
		{"one level-2 slot, collected in slab order", 5000, 60_000 * ms},
		{"one level-2 slot, cascaded", maxBatch + 5000, 60_000 * ms},
		{"one tick", keepBatch + 10, ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(time.Millisecond, 0)
			base := 55 * 65536 * ms // the start of a level-2 slot
			var x uint64 = 88172645463325252
			for i := range tc.n {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				w.Add(base+int64(x%uint64(tc.spread)), uint64(i))
			}
			got := advance(w, base+2*65536*ms) // past the slot's end: all of it is due
			if len(got) != tc.n || !slices.IsSorted(dues(got)) {
				t.Fatalf("handed out %d entries (want %d), sorted %v", len(got), tc.n, slices.IsSorted(dues(got)))
			}
			if cap(w.ready) > keepBatch || cap(w.scratch) > keepBatch {
				t.Fatalf("kept buffers of %d and %d items", cap(w.ready), cap(w.scratch))
			}
		})
	}
}

// TestExtremeTimes uses the ends of the int64 range as due and as start.
func TestExtremeTimes(t *testing.T) {
	for _, start := range []int64{math.MinInt64, -1, 0, math.MaxInt64 - int64(time.Hour)} {
		w := New(time.Millisecond, start)
		w.Add(math.MaxInt64, 1)
		w.Add(math.MinInt64, 2)
		w.Add(start+1, 3)
		got := values(advance(w, math.MaxInt64))
		if !slices.Equal(got, []uint64{2, 3, 1}) {
			t.Fatalf("start %d: handed out %v, want [2 3 1]", start, got)
		}
	}
}

func TestReentryPanics(t *testing.T) {
	for name, call := range map[string]func(*Wheel){
		"Add":     func(w *Wheel) { w.Add(0, 0) },
		"Cancel":  func(w *Wheel) { w.Cancel(1) },
		"Next":    func(w *Wheel) { w.Next() },
		"Advance": func(w *Wheel) { w.Advance(0, func(uint64, int64) {}) },
	} {
		w := New(0, 0)
		w.Add(0, 0)
		w.Add(0, 1)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s from the callback did not panic", name)
				}
			}()
			w.Advance(0, func(uint64, int64) { call(w) })
		}()
		// The wheel is usable after the panic, and kept the other entry.
		if got := advance(w, 1); len(got) != 1 || got[0].value != 1 {
			t.Errorf("%s: after the panic, handed out %v, want value 1", name, got)
		}
	}
}

// TestSteadyStateAllocs checks that add, cancel and advance allocate
// nothing once the slab and the lists' block tables have grown: here once
// every level-1 slot has been used.
func TestSteadyStateAllocs(t *testing.T) {
	w := New(time.Millisecond, 0)
	now := int64(0)
	cycle := func() {
		for i := range 100 {
			h := w.Add(now+int64(i)*ms, uint64(i))
			if i%3 == 0 {
				w.Cancel(h)
			}
		}
		now += 100 * ms
		w.Advance(now, func(uint64, int64) {})
		w.Next()
	}
	for range 700 { // 70 s: past every level-1 slot
		cycle()
	}
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("%.1f allocations per cycle, want 0", a)
	}
}

// TestDivisor compares the reciprocal division with the DIV instruction
// near multiples of the divisor and at the ends of the range.
func TestDivisor(t *testing.T) {
	var x uint64 = 88172645463325252
	for _, d := range []uint64{1, 2, 3, 7, 1000, 1 << 20, uint64(time.Millisecond), uint64(time.Second), 1<<63 + 1, math.MaxUint64} {
		v := newDivisor(d)
		check := func(n uint64) {
			if got, want := v.div(n), n/d; got != want {
				t.Fatalf("%d / %d = %d, want %d", n, d, got, want)
			}
		}
		for _, n := range []uint64{0, 1, d - 1, d, d + 1, math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 / d * d, math.MaxUint64/d*d - 1} {
			check(n)
		}
		for range 100000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			check(x)
			check(x >> (x % 64))
			q := x / d
			check(q * d)
			check(q*d - 1)
		}
	}
}

// TestBigBatchesAgainstModel drives slots of thousands of entries, with
// equal dues and cancels, through every way out of a slot (collected in
// slab order, collected, cascaded) and checks each step against the model.
func TestBigBatchesAgainstModel(t *testing.T) {
	c := newChecker(t, time.Millisecond, 0)
	var x uint64 = 0x9E3779B97F4A7C15
	next := func(n uint64) int64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return int64(x % n)
	}
	for round := range 4 {
		base := c.m.now
		for range 3000 {
			due := base + next(uint64(200_000*ms)) // levels 0 to 2
			if next(4) == 0 {
				due = base + 100_000*ms // many equal dues
			}
			c.add(due)
		}
		for range 500 {
			c.cancel(c.handles[next(uint64(len(c.handles)))])
		}
		switch round {
		case 0: // one huge jump
			c.advance(base + 300_000*ms)
		case 1: // the node's loop
			for c.w.Len() > 0 {
				due, _ := c.w.Next()
				c.advance(due)
			}
		default: // steps of a prime number of milliseconds
			for c.w.Len() > 0 {
				c.advance(c.m.now + 7919*ms)
			}
		}
	}
}
