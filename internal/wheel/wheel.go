package wheel

import (
	"math"
	"math/bits"
	"time"
)

// Handle names one entry for Cancel. It packs the entry's slab index (low
// 32 bits) with its generation (high 32 bits). Generations of live entries
// are odd, so 0 is never a valid handle, and freeing an entry bumps its
// generation, so a handle stays valid for exactly one entry life even when
// its slab slot is reused. A slot is reused 2^31 times before a generation
// repeats.
type Handle uint64

// Wheel is a hierarchical timing wheel. See the package documentation. The
// zero value is not usable; call New. A Wheel is not safe for concurrent
// use: the node loop owns it.
type Wheel struct {
	slab

	tick   uint64 // tick length in nanoseconds, > 0
	origin int64  // the time of tick 0: New's now
	now    int64  // the latest now given to Advance (or New)
	cur    uint64 // the tick of now, counted from origin
	levels int    // enough levels of 8 bits to cover every tick of the int64 range

	pending    uint32   // sentinel of the pending list: entries with due <= now or in the current tick
	pendingMin int64    // lower bound on the dues in the pending list; set on its first link
	counts     []uint32 // entries per list, by sentinel index
	occupied   []uint64 // bit h set while list h is non-empty

	// run is the hand-out queue: entries sorted by due, all of them either
	// due by now or in the current tick, so all earlier than any entry still
	// in a slot. run[runPos:] is still to go; spare is the radix sort's
	// scratch, swapped with run as sorting needs.
	run    []runItem
	runPos int
	spare  []runItem

	live    int   // entries added and neither cancelled nor handed out
	nextDue int64 // cached result of Next, valid while nextOK
	nextOK  bool
	busy    bool // inside Advance: the callback must not re-enter
}

// runItem is an entry queued for hand-out, with its due copied next to the
// index so sorting touches only the queue.
type runItem struct {
	due int64
	idx uint32
}

const (
	// maxBatch is the largest slot above level 0 that Advance hands out
	// directly by sorting it, when all of it is due, instead of cascading it
	// down: a huge jump then touches each entry once, and the sort buffers
	// stay below a few MiB. Larger slots cascade into 256 smaller ones first.
	maxBatch = 1 << 16
	// keepBatch is the buffer capacity kept after a hand-out; a larger one
	// (a single tick with millions of entries) is returned to the GC.
	keepBatch = 4 * maxBatch
	// scanMax bounds the level-0 slot that Next scans for the exact
	// earliest due; above it Next returns the slot's start.
	scanMax = 64
)

const reentered = "wheel: Add, Cancel, Advance or Next called from an Advance callback"

// New returns an empty wheel whose time is now. tick is the resolution of
// the finest level; tick <= 0 means 1ms. Entries due within one tick are
// still handed out in due order and never early: the tick only sets how
// coarse the wheel's buckets are.
func New(tick time.Duration, now int64) *Wheel {
	if tick <= 0 {
		tick = time.Millisecond
	}
	w := &Wheel{
		tick:       uint64(tick),
		origin:     now,
		now:        now,
		pendingMin: math.MaxInt64,
	}
	w.free = nilIndex
	w.levels = (bits.Len64(math.MaxUint64/w.tick) + slotBits - 1) / slotBits
	w.initLists()
	return w
}

// tickOf returns the tick of t, counted from the origin. t >= origin: the
// unsigned difference is then exact even when int64 subtraction would
// overflow.
func (w *Wheel) tickOf(t int64) uint64 {
	return (uint64(t) - uint64(w.origin)) / w.tick
}

// Len returns the number of entries added and neither cancelled nor handed
// out.
func (w *Wheel) Len() int { return w.live }

// Add schedules value to be handed out at due and returns its handle. A due
// at or before the wheel's time is fine: the entry is handed out by the
// next Advance. O(1), and no allocation once the slab has grown to the
// peak number of entries.
func (w *Wheel) Add(due int64, value uint64) Handle {
	if w.busy {
		panic(reentered)
	}
	i, e := w.alloc()
	e.due, e.value = due, value
	w.place(i, e)
	w.live++
	if w.nextOK && due < w.nextDue {
		w.nextDue = due
	}
	return Handle(uint64(e.gen)<<32 | uint64(i))
}

// place links entry i into the list its due belongs to, seen from the
// current tick: the pending list when it is due or in the current tick,
// else level l, where l is the highest 8-bit digit in which the entry's
// tick differs from the current tick, and the slot is the entry's digit l.
// That digit is greater than the current one, and the entry's higher
// digits equal the current tick's, which is what Advance relies on.
func (w *Wheel) place(i uint32, e *entry) {
	if e.due <= w.now {
		w.addPending(i, e)
		return
	}
	t := w.tickOf(e.due)
	if t == w.cur {
		w.addPending(i, e)
		return
	}
	l := (bits.Len64(t^w.cur) - 1) / slotBits
	w.link(head(l, t>>(uint(l)*slotBits)&slotMask), i, e)
}

func (w *Wheel) addPending(i uint32, e *entry) {
	if w.counts[w.pending] == 0 || e.due < w.pendingMin {
		w.pendingMin = e.due
	}
	w.link(w.pending, i, e)
}

// Cancel removes the entry h names and reports whether it did: false for a
// zero, unknown, cancelled or already handed-out handle. O(1).
func (w *Wheel) Cancel(h Handle) bool {
	if w.busy {
		panic(reentered)
	}
	i, gen := uint32(h), uint32(h>>32)
	if gen&1 == 0 || i <= w.pending || i >= w.size {
		return false
	}
	e := w.at(i)
	if e.gen != gen {
		return false
	}
	w.live--
	if w.nextOK && e.due == w.nextDue {
		w.nextOK = false
	}
	if e.list == inRun {
		// Queued for hand-out: going stale is enough; Advance or Next
		// frees it when it reaches the front of the run.
		e.gen++
		return true
	}
	w.unlink(e)
	w.release(i, e)
	return true
}

// Next returns a lower bound on the earliest due among the entries, and
// false when there are none. The bound is exact when the earliest entry is
// due or in the current tick (unless more than scanMax such entries were
// added since the last Advance and one was cancelled), or in a level-0 slot
// of at most scanMax entries; otherwise it is the start of the slot that must be handled next,
// where Advance will narrow it. After Advance(now), the bound is greater
// than now unless an entry due by now was added since, so a loop that
// sleeps until Next and then advances never spins. Amortized O(1): the
// result is cached until an Advance, an earlier Add, or the Cancel of an
// entry with that due.
func (w *Wheel) Next() (due int64, ok bool) {
	if w.busy {
		panic(reentered)
	}
	if w.live == 0 {
		return 0, false
	}
	if !w.nextOK {
		w.nextDue, w.nextOK = w.earliest(), true
	}
	return w.nextDue, true
}

// earliest computes Next's bound; there is at least one live entry.
func (w *Wheel) earliest() int64 {
	w.dropCancelled()
	due, found := int64(math.MaxInt64), false
	if w.runPos < len(w.run) {
		due, found = w.run[w.runPos].due, true
	}
	if n := w.counts[w.pending]; n > 0 {
		if n <= scanMax {
			// Cancels may have left pendingMin early; a short list is
			// cheap to make exact again.
			w.pendingMin = w.minDue(w.pending)
		}
		if w.pendingMin <= due {
			due, found = w.pendingMin, true
		}
	}
	if found {
		return due
	}
	t, h, ok := w.nextEvent()
	if !ok {
		panic("wheel: live entries in no list")
	}
	if h>>slotBits == 0 && w.counts[h] <= scanMax {
		return w.minDue(h)
	}
	return int64(uint64(w.origin) + t*w.tick)
}

// dropCancelled frees the cancelled entries at the front of the run.
func (w *Wheel) dropCancelled() {
	for w.runPos < len(w.run) {
		it := w.run[w.runPos]
		e := w.at(it.idx)
		if e.gen&1 != 0 {
			return
		}
		w.runPos++
		w.push(it.idx, e)
	}
}

// minDue returns the earliest due in the non-empty list with sentinel h.
func (w *Wheel) minDue(h uint32) int64 {
	due := int64(math.MaxInt64)
	for i := w.at(h).next; i != h; {
		e := w.at(i)
		due = min(due, e.due)
		i = e.next
	}
	return due
}
