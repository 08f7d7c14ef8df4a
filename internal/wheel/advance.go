package wheel

import "math"

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
// for the next Advance.
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
	// now is set first: from here on, place sends everything due by now to
	// the pending list, which is what lets a cascade skip the lower levels
	// for entries already due.
	w.now = now
	w.nextOK = false
	target := w.tickOf(now)
	for {
		if w.counts[w.pending] > 0 {
			w.mergePending()
		}
		if !w.handOut(now, fn) {
			return // the run's head is not due: nothing in the slots is
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

// handOut gives fn the run's entries while they are due, freeing cancelled
// ones on the way. It reports whether the run is now empty.
func (w *Wheel) handOut(now int64, fn func(value uint64, due int64)) bool {
	for w.runPos < len(w.run) {
		it := w.run[w.runPos]
		e := w.at(it.idx)
		if e.gen&1 == 0 {
			w.runPos++
			w.push(it.idx, e)
			continue
		}
		if it.due > now {
			return false
		}
		w.runPos++
		value := e.value
		w.release(it.idx, e)
		w.live--
		fn(value, it.due)
	}
	w.run, w.runPos = w.run[:0], 0
	if cap(w.run) > keepBatch {
		w.run, w.spare = nil, nil
	}
	return true
}

// expand handles the slot with sentinel h, which the current tick (just
// moved to the slot's start) has reached. A level-0 slot is the current
// tick: it goes to the run. A higher slot whose every tick is before the
// target tick is all due: it goes to the run as well, sorted in one piece,
// when it is small enough. Any other slot cascades: each entry is placed
// again relative to the new current tick, which puts it in the pending
// list when it is due and otherwise on a lower level.
func (w *Wheel) expand(h uint32, target uint64) {
	l := h >> slotBits
	last := w.cur | (uint64(1)<<(l*slotBits) - 1) // the slot's last tick
	if l == 0 || (last < target && w.counts[h] <= maxBatch) {
		w.collect(h)
		w.run, w.spare = sortRun(w.run, w.spare)
		return
	}
	s := w.at(h)
	i := s.next
	w.emptied(h)
	for i != h {
		e := w.at(i)
		next := e.next
		w.place(i, e)
		i = next
	}
}

// collect appends the entries of the list with sentinel h to the run and
// empties the list.
func (w *Wheel) collect(h uint32) {
	run := w.run
	for i := w.at(h).next; i != h; {
		e := w.at(i)
		run = append(run, runItem{due: e.due, idx: i})
		e.list = inRun
		i = e.next
	}
	w.run = run
	w.emptied(h)
}

// mergePending moves the pending list into the run, keeping it sorted.
// The run's remaining entries are already sorted, which the sort detects
// cheaply when the pending entries all come after them.
func (w *Wheel) mergePending() {
	if w.runPos > 0 {
		n := copy(w.run, w.run[w.runPos:])
		w.run, w.runPos = w.run[:n], 0
	}
	w.collect(w.pending)
	w.pendingMin = math.MaxInt64
	w.run, w.spare = sortRun(w.run, w.spare)
}
