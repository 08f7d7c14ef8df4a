package wheel

// The hand-out queue. Entries leave the slots for one of two sorted
// arrays, and every entry in either is earlier than any entry still in a
// slot:
//
//   - ready: entries due by the wheel's time. They will be handed out
//     before the current Advance returns, whatever fn does short of
//     panicking, so they are freed as they are queued and carry their
//     value: handing them out touches only the array, never the slab.
//   - later: entries of the current tick that are not due yet. They stay
//     allocated, so they can still be cancelled; a cancelled one is skipped
//     and freed when it reaches the front.
//
// Advance hands out the two merged by due (ready first on ties).

// item is a queued entry: its due, copied so that sorting touches only the
// array, and its value (ready) or slab index (later).
type item struct {
	due int64
	v   uint64
}

type queue struct {
	ready, later       []item
	readyPos, laterPos int      // the fronts: items before them are gone
	scratch            []item   // the sorts' second buffer
	counts             []uint32 // bucketSort's counts

	idx, idxScratch []uint32 // collectDue's buffers
}

// enqueue moves entry i, taken out of its list, to the queue.
func (w *Wheel) enqueue(i uint32, e *entry) {
	if e.due <= w.now {
		w.ready = append(w.ready, item{due: e.due, v: e.value})
		w.release(i, e)
		return
	}
	e.loc = inQueue
	w.later = append(w.later, item{due: e.due, v: uint64(i)})
}

// sortQueue sorts both arrays after entries were enqueued. Leftovers are
// moved to the front first; they are sorted already, which the sort
// notices cheaply when the new entries come after them.
func (w *Wheel) sortQueue() {
	w.ready, w.readyPos = compact(w.ready, w.readyPos)
	w.later, w.laterPos = compact(w.later, w.laterPos)
	w.ready, w.scratch = sortItems(w.ready, w.scratch, &w.counts)
	w.later, w.scratch = sortItems(w.later, w.scratch, &w.counts)
}

// compact drops the items before pos.
func compact(items []item, pos int) ([]item, int) {
	if pos == 0 {
		return items, 0
	}
	return items[:copy(items, items[pos:])], 0
}

// handOut gives fn the queued entries while they are due, merging the two
// arrays by due. It reports whether the queue is now empty.
func (w *Wheel) handOut(now int64, fn func(value uint64, due int64)) bool {
	for {
		w.dropCancelled()
		if w.readyPos < len(w.ready) {
			it := w.ready[w.readyPos]
			if w.laterPos == len(w.later) || it.due <= w.later[w.laterPos].due {
				w.readyPos++
				w.live--
				fn(it.v, it.due)
				continue
			}
		}
		if w.laterPos == len(w.later) {
			break
		}
		it := w.later[w.laterPos]
		if it.due > now {
			return false
		}
		w.laterPos++
		i := uint32(it.v)
		e := w.at(i)
		value := e.value
		w.release(i, e)
		w.live--
		fn(value, it.due)
	}
	w.ready, w.readyPos = w.ready[:0], 0
	w.later, w.laterPos = w.later[:0], 0
	if max(cap(w.ready), cap(w.later), cap(w.scratch)) > keepBatch {
		w.ready, w.later, w.scratch = nil, nil, nil // a huge batch: give it back to the GC
	}
	if cap(w.idx) > keepBatch || cap(w.idxScratch) > keepBatch {
		w.idx, w.idxScratch = nil, nil
	}
	return true
}

// dropCancelled frees the cancelled entries at the front of later.
func (w *Wheel) dropCancelled() {
	for w.laterPos < len(w.later) {
		i := uint32(w.later[w.laterPos].v)
		if w.at(i).gen&1 != 0 {
			return
		}
		w.laterPos++
		w.free = append(w.free, i)
	}
}

// queueHead returns the earliest due in the queue.
func (w *Wheel) queueHead() (int64, bool) {
	w.dropCancelled()
	switch {
	case w.readyPos < len(w.ready):
		due := w.ready[w.readyPos].due
		if w.laterPos < len(w.later) {
			due = min(due, w.later[w.laterPos].due)
		}
		return due, true
	case w.laterPos < len(w.later):
		return w.later[w.laterPos].due, true
	}
	return 0, false
}
