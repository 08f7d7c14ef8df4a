package wheel

import (
	"math"
	"slices"
)

// Advance moves the wheel's time to now and hands every entry with
// due <= now to fn, in nondecreasing due order across the whole call.
// Entries with equal due come out in a deterministic order that depends
// only on the sequence of calls made on the wheel. A now earlier than the
// wheel's time does nothing; a now equal to it hands out entries added
// since with a due at or before it.
//
// fn must not call Add, Cancel, Advance or Next on the wheel (they panic);
// collect what it needs and act after Advance returns. If fn panics, the
// entry it was given counts as handed out and the others stay in the wheel
// for the next Advance; those already due can no longer be cancelled.
//
// The cost is O(levels) per occupied slot reached, whatever the length of
// the time skipped, plus amortized O(1) per entry handed out or cascaded:
// a jump of years over an empty wheel costs as much as a jump of one tick.
func (w *Wheel) Advance(now int64, fn func(value uint64, due int64)) {
	if w.busy {
		panic(reentered)
	}
	if now < w.now {
		return
	}
	w.busy = true
	defer func() { w.busy = false }()
	// now is set first: from here on, a cascade sends everything due by
	// now straight to the queue, skipping the lower levels, and the queue
	// frees it at once (see enqueue).
	w.now = now
	w.nextOK = false
	target := w.tickOf(now)
	for {
		if w.lists[w.pending].n > 0 {
			w.mergePending()
		}
		if !w.handOut(now, fn) {
			return // the queue's head is not due: nothing in the slots is
		}
		if w.cur == target || w.live == 0 {
			w.cur = target
			return
		}
		t, h, ok := w.nextEvent()
		if !ok || t > target {
			w.cur = target
			return
		}
		w.cur = t
		w.expand(h, target)
	}
}

// expand handles slot list l, which the current tick (just moved to the
// slot's start) has reached. A level-0 slot is the current tick: it goes
// to the queue. A higher slot whose every tick is before the target tick
// is all due: it goes to the queue as well, in one piece, when it is no
// bigger than maxBatch. Any other slot cascades: each entry due by now or
// in the current tick goes to the queue, and every other one to a lower
// level, placed relative to the new current tick as Add would place it.
func (w *Wheel) expand(l uint32, target uint64) {
	level := l >> slotBits
	last := w.cur | (uint64(1)<<(level*slotBits) - 1) // the slot's last tick
	n := w.lists[l].n
	switch {
	case level > 0 && last < target && n >= inOrderMin && n <= maxBatch:
		w.collectDue(l)
	case level == 0 || (last < target && n <= maxBatch):
		w.collect(l)
	default:
		w.cascade(l)
	}
	w.sortQueue()
}

// inOrderMin is the smallest all-due slot that collectDue visits in slab
// order.
const inOrderMin = 1024

// collectDue moves list l, all of whose entries are due, to the queue. It
// visits the entries in slab order rather than list order: a big slot's
// entries are scattered over the slab, and in address order the processor
// walks each page (and TLB entry) once instead of jumping between them at
// random. Ordering the indices first (by stretch of the slab, see
// sortIndices) costs a fraction of that. It also
// leaves the free stack in address order, so the next Adds fill the slab
// sequentially.
func (w *Wheel) collectDue(l uint32) {
	n, table := w.detach(l)
	idx := w.idx[:0]
	if cap(idx) < int(n) {
		idx = make([]uint32, 0, n)
	}
	for j := range int((n + blockLen - 1) / blockLen) {
		idx = append(idx, w.indices(table, j, n)...)
	}
	w.freeBlocksOf(l, table)
	idx, w.idxScratch = sortIndices(idx, w.idxScratch)
	ready := w.ready
	if cap(ready)-len(ready) < len(idx) {
		ready = append(make([]item, 0, len(ready)+len(idx)), ready...)
	}
	k := len(ready)
	ready = ready[:k+len(idx)]
	out := ready[k:]
	for j, i := range idx {
		e := w.at(i)
		out[j] = item{due: e.due, v: e.value}
		e.gen++ // release, but for the free stack, which takes idx at once
	}
	w.ready = ready
	if cap(w.free)-len(w.free) < len(idx) {
		// Grow the free stack by at least its length: a mass expiry
		// fills it in big steps, and copying it at each 1.25x growth of
		// append costs more than the entries' reads.
		w.free = slices.Grow(w.free, max(len(idx), len(w.free)))
	}
	w.free = append(w.free, idx...)
	w.idx = idx[:0]
}

// cascade empties list l into the queue and the lower levels.
func (w *Wheel) cascade(l uint32) {
	w.walk(l, func(idx []uint32, dues *[blockLen]int64) {
		for p, i := range idx {
			due := dues[p&posMask]
			if due <= w.now {
				w.enqueue(i, w.at(i))
				continue
			}
			t := w.tickOf(due)
			if t == w.cur {
				w.enqueue(i, w.at(i))
				continue
			}
			w.link(w.slotOf(t), i, w.at(i))
		}
	})
}

// collect appends the entries of list l to the queue and empties the list.
func (w *Wheel) collect(l uint32) {
	w.walk(l, func(idx []uint32, _ *[blockLen]int64) {
		for _, i := range idx {
			w.enqueue(i, w.at(i))
		}
	})
}

// mergePending moves the pending list into the queue.
func (w *Wheel) mergePending() {
	w.collect(w.pending)
	w.pendingMin = math.MaxInt64
	w.sortQueue()
}
