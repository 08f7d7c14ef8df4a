package wheel

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// The reference model: a binary heap (container/heap) of the live
// entries, ordered by due, with the wheel's time beside it. It is too slow
// for millions of timers and obviously right, which is the point.

type modelItem struct {
	due    int64
	value  uint64
	handle Handle
	index  int // position in the heap
}

type modelHeap []*modelItem

func (h modelHeap) Len() int           { return len(h) }
func (h modelHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h modelHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *modelHeap) Push(x any) {
	it := x.(*modelItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *modelHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

type model struct {
	now  int64
	heap modelHeap
	live map[Handle]*modelItem
}

func newModel(now int64) *model {
	return &model{now: now, live: make(map[Handle]*modelItem)}
}

func (m *model) add(due int64, value uint64, h Handle) {
	it := &modelItem{due: due, value: value, handle: h}
	heap.Push(&m.heap, it)
	m.live[h] = it
}

func (m *model) cancel(h Handle) bool {
	it, ok := m.live[h]
	if !ok {
		return false
	}
	heap.Remove(&m.heap, it.index)
	delete(m.live, h)
	return true
}

// advance returns the entries due by now in due order; entries with equal
// due are sorted by value, since the wheel's order among them is only
// promised to be deterministic.
func (m *model) advance(now int64) []fired {
	if now < m.now {
		return nil
	}
	m.now = now
	var out []fired
	for len(m.heap) > 0 && m.heap[0].due <= now {
		it := heap.Pop(&m.heap).(*modelItem)
		delete(m.live, it.handle)
		out = append(out, fired{value: it.value, due: it.due})
	}
	sortTies(out)
	return out
}

func (m *model) earliest() (int64, bool) {
	if len(m.heap) == 0 {
		return 0, false
	}
	return m.heap[0].due, true
}

type fired struct {
	value uint64
	due   int64
}

// sortTies sorts runs of equal due by value.
func sortTies(fs []fired) {
	for i := 0; i < len(fs); {
		j := i + 1
		for j < len(fs) && fs[j].due == fs[i].due {
			j++
		}
		slices.SortFunc(fs[i:j], func(a, b fired) int {
			switch {
			case a.value < b.value:
				return -1
			case a.value > b.value:
				return 1
			}
			return 0
		})
		i = j
	}
}

// checker drives a wheel and the model with the same operations and fails
// at the first difference. log keeps every hand-out in the wheel's own
// order, for the determinism test.
type checker struct {
	t       testing.TB
	w       *Wheel
	m       *model
	tick    int64
	ops     int
	values  uint64
	handles []Handle // live handles, in the order added
	dead    []Handle // cancelled or handed-out handles
	dues    []int64  // dues seen, for equal-due adds
	// dirty is set when an entry due by the wheel's time was added since
	// the last Advance: only then may Next be at or before that time.
	dirty bool
	// skipNext leaves Next out of check, so that the wheel also meets
	// sequences of Add, Cancel and Advance that Next never interleaves.
	skipNext bool
	log      []fired
}

func newChecker(t testing.TB, tick time.Duration, now int64) *checker {
	c := &checker{t: t, w: New(tick, now), m: newModel(now), tick: int64(tick)}
	if tick <= 0 {
		c.tick = int64(time.Millisecond)
	}
	c.check("New", now)
	return c
}

func (c *checker) fail(op, format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("op %d (%s), wheel time %d: %s", c.ops, op, c.m.now, fmt.Sprintf(format, args...))
}

func (c *checker) add(due int64) {
	c.ops++
	c.values++
	h := c.w.Add(due, c.values)
	if h == 0 {
		c.fail("add", "zero handle")
	}
	if _, dup := c.m.live[h]; dup {
		c.fail("add", "handle %#x already live", h)
	}
	c.m.add(due, c.values, h)
	c.handles = append(c.handles, h)
	c.dues = append(c.dues, due)
	if due <= c.m.now {
		c.dirty = true
	}
	c.check("add", due)
}

func (c *checker) cancel(h Handle) {
	c.ops++
	want := c.m.cancel(h)
	if got := c.w.Cancel(h); got != want {
		c.fail("cancel", "Cancel(%#x) = %v, want %v", h, got, want)
	}
	if want {
		k := slices.Index(c.handles, h)
		c.handles = slices.Delete(c.handles, k, k+1)
		c.dead = append(c.dead, h)
	}
	c.check("cancel", int64(h))
}

func (c *checker) advance(now int64) {
	c.ops++
	want := c.m.advance(now)
	var got []fired
	c.w.Advance(now, func(value uint64, due int64) {
		if due > now {
			c.fail("advance", "early: due %d handed out at %d", due, now)
		}
		if len(got) > 0 && due < got[len(got)-1].due {
			c.fail("advance", "out of order: due %d after %d", due, got[len(got)-1].due)
		}
		got = append(got, fired{value: value, due: due})
	})
	c.log = append(c.log, got...)
	sortTies(got)
	if !slices.Equal(got, want) {
		c.fail("advance", "Advance(%d) handed out\n%v\nwant\n%v", now, short(got), short(want))
	}
	if len(want) > 0 {
		c.handles = slices.DeleteFunc(c.handles, func(h Handle) bool {
			if c.m.live[h] == nil {
				c.dead = append(c.dead, h)
				return true
			}
			return false
		})
	}
	if now >= c.m.now {
		c.dirty = false
	}
	c.check("advance", now)
}

// short shortens a hand-out list for a failure message.
func short(fs []fired) []fired {
	if len(fs) > 20 {
		return fs[:20]
	}
	return fs
}

// check compares Len and Next with the model after every operation; arg
// is the operation's argument, for the failure message.
func (c *checker) check(name string, arg int64) {
	c.t.Helper()
	op := func() string { return fmt.Sprintf("%s %d", name, arg) }
	if got, want := c.w.Len(), len(c.m.heap); got != want {
		c.fail(op(), "Len() = %d, want %d", got, want)
	}
	if c.skipNext {
		return
	}
	got, ok := c.w.Next()
	want, wantOK := c.m.earliest()
	if ok != wantOK {
		c.fail(op(), "Next() ok = %v, want %v", ok, wantOK)
	}
	if !ok {
		return
	}
	if got > want {
		c.fail(op(), "Next() = %d, later than the earliest due %d", got, want)
	}
	if !c.dirty && want > c.m.now && got <= c.m.now {
		c.fail(op(), "Next() = %d, not after the wheel's time though nothing is due", got)
	}
	if again, _ := c.w.Next(); again != got {
		c.fail(op(), "Next() changed from %d to %d with no call between", got, again)
	}
}

// addSat returns a+b, saturated at the int64 range.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}
