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
// its slab slot is reused. A generation repeats only after its slot was
// reused 2^31 times, so a handle kept that long after its entry is gone
// could cancel a stranger: drop a handle once its entry was handed out or
// cancelled.
type Handle uint64

// Wheel is a hierarchical timing wheel. See the package documentation. The
// zero value is not usable; call New. A Wheel is not safe for concurrent
// use: the node loop owns it.
type Wheel struct {
	slab

	tick   uint64  // tick length in nanoseconds, > 0
	ticks  divisor // divides by tick
	origin int64   // the time of tick 0: New's now
	now    int64   // the latest now given to Advance (or New)
	cur    uint64  // the tick of now, counted from origin
	levels int     // enough levels of 8 bits to cover every tick of the int64 range

	pending    uint32     // index of the pending list: entries due by now or in the current tick
	pendingMin int64      // lower bound on the dues in the pending list; set on its first link
	lists      []list     // levels*slots slot lists, then the pending list
	tables     [][]uint32 // each list's blocks, in order, then at most one empty spare
	occupied   []uint64   // bit l set while list l is non-empty
	levelMask  uint64     // bit l set while level l has an occupied slot; bit levels for the pending list

	queue                       // entries taken out of the slots, in due order (queue.go)
	gathered [2][blockLen]int64 // walk's buffers of dues

	live    int   // entries added and neither cancelled nor handed out
	nextDue int64 // cached result of Next, valid while nextOK
	nextOK  bool
	busy    bool // inside Advance: the callback must not re-enter
}

const (
	// maxBatch is the largest slot above level 0 that Advance hands out
	// directly by sorting it, when all of it is due, instead of cascading it
	// down: a huge jump then touches each entry once. A sort of 2^18 items
	// costs less than one more pass over entries scattered in the slab;
	// larger slots cascade into 256 smaller ones first, which bounds the
	// queue's buffers.
	maxBatch = 1 << 18
	// keepBatch is the buffer capacity kept after a hand-out (4 MiB per
	// buffer); a larger one, from a single tick holding more entries, is
	// returned to the GC.
	keepBatch = maxBatch
	// scanMax bounds the slot that Next scans for the exact earliest due;
	// above it Next returns the slot's start.
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
	w.ticks = newDivisor(w.tick)
	w.levels = (bits.Len64(math.MaxUint64/w.tick) + slotBits - 1) / slotBits
	w.initLists()
	return w
}

// tickOf returns the tick of t, counted from the origin. t >= origin: the
// unsigned difference is then exact even when int64 subtraction would
// overflow.
func (w *Wheel) tickOf(t int64) uint64 {
	return w.ticks.div(uint64(t) - uint64(w.origin))
}

// Len returns the number of entries added and neither cancelled nor handed
// out.
func (w *Wheel) Len() int { return w.live }

// Add schedules value to be handed out at due and returns its handle. A due
// at or before the wheel's time is fine: the entry is handed out by the
// next Advance. O(1), and no allocation once the slab and the slot lists
// have grown to their peak.
func (w *Wheel) Add(due int64, value uint64) Handle {
	if w.busy {
		panic(reentered)
	}
	i := w.alloc()
	e := w.at(i)
	gen := e.gen + 1
	e.gen, e.due, e.value = gen, due, value
	w.live++
	if w.nextOK && due < w.nextDue {
		w.nextDue = due
	}
	// An entry due by now or in the current tick goes to the pending list,
	// for the next Advance; any other to the slot slotOf gives. The link
	// is spelled out (see link): the hottest path is measurably faster
	// without the calls.
	if due > w.now {
		if t := w.tickOf(due); t != w.cur {
			l := w.slotOf(t)
			ls := &w.lists[l]
			if ls.fill == blockLen || ls.tail == noBlock {
				w.grow(ls, l)
			}
			w.block(ls.tail)[ls.fill] = i
			e.loc = ls.tail<<posBits | ls.fill
			ls.fill++
			ls.n++
			w.occupied[l/wordBits] |= 1 << (l % wordBits)
			w.levelMask |= 1 << (l >> slotBits)
			return Handle(uint64(gen)<<32 | uint64(i))
		}
	}
	w.addPending(i, e)
	return Handle(uint64(gen)<<32 | uint64(i))
}

// slotOf returns the slot list for tick t > cur: level l is the highest
// 8-bit digit in which t differs from the current tick, and the slot is
// t's digit l. That digit is greater than the current tick's, and t's
// higher digits equal the current tick's; nextEvent relies on both.
func (w *Wheel) slotOf(t uint64) uint32 {
	l := (bits.Len64(t^w.cur) - 1) / slotBits
	return head(l, t>>(uint(l)*slotBits)&slotMask)
}

func (w *Wheel) addPending(i uint32, e *entry) {
	if w.lists[w.pending].n == 0 || e.due < w.pendingMin {
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
	if gen&1 == 0 || i >= w.size {
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
	if e.loc == inQueue {
		// Queued for hand-out: going stale is enough; Advance or Next
		// frees it when it reaches the front of the queue.
		e.gen++
		return true
	}
	// Unlink: move the list's last index into the hole (lists.go).
	b, pos := e.loc>>posBits, e.loc&posMask
	blk := w.block(b)
	l := blk[blockList]
	ls := &w.lists[l]
	ls.n--
	ls.fill--
	if b != ls.tail || pos != ls.fill {
		w.fillHole(blk, pos, ls, e.loc)
	}
	if ls.fill == 0 {
		w.shrink(ls, l)
	}
	w.release(i, e)
	return true
}

// Next returns a lower bound on the earliest due among the entries, and
// false when there are none. The bound is exact when the next slot to
// handle holds at most scanMax entries, which is the common case, and when
// the earliest entry is queued for the current tick; otherwise it is the
// start of that slot, and Advance to it narrows the bound by cascading the
// slot. (After cancels among more than scanMax entries added in the
// current tick, the bound may be one of theirs.) After Advance(now), the
// bound is greater than now unless an entry due by now was added since,
// so a loop that sleeps until Next and then advances never spins. Amortized O(1): the
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
	due, found := w.queueHead()
	if n := w.lists[w.pending].n; n > 0 {
		if n <= scanMax {
			// Cancels may have left pendingMin early; a short list is
			// cheap to make exact again.
			w.pendingMin = w.minDue(w.pending)
		}
		if !found || w.pendingMin < due {
			due, found = w.pendingMin, true
		}
	}
	if found {
		return due
	}
	t, slot, ok := w.nextEvent()
	if !ok {
		panic("wheel: live entries in no list")
	}
	if w.lists[slot].n <= scanMax {
		return w.minDue(slot)
	}
	return int64(uint64(w.origin) + t*w.tick)
}

// minDue returns the earliest due in the non-empty list l.
func (w *Wheel) minDue(l uint32) int64 {
	due := int64(math.MaxInt64)
	ls := &w.lists[l]
	for j := range int((ls.n + blockLen - 1) / blockLen) {
		for _, i := range w.indices(w.tables[l], j, ls.n) {
			due = min(due, w.at(i).due)
		}
	}
	return due
}
