package wheel

import "math/bits"

// The lists: one circular, doubly linked list per slot of each level, plus
// the pending list, each with a sentinel entry at a fixed slab index. With
// a sentinel, unlinking never needs to know whether an entry is first or
// last, which is what makes Cancel O(1) without a branch per case.

const (
	slotBits = 8 // 256 slots per level
	slots    = 1 << slotBits
	slotMask = slots - 1
	wordBits = 64
)

// head returns the sentinel index of slot s of level l.
func head(l int, s uint64) uint32 { return uint32(l)<<slotBits | uint32(s) }

// initLists reserves the sentinels: levels*slots slot heads and then the
// pending head, each an empty list that points at itself.
func (w *Wheel) initLists() {
	w.pending = head(w.levels, 0)
	n := w.pending + 1
	for i := uint32(0); i < n; i++ {
		w.grow()
		w.clear(i)
	}
	w.counts = make([]uint32, n)
	w.occupied = make([]uint64, (n+wordBits-1)/wordBits)
}

// clear makes the list with sentinel h empty. Its former entries must
// already be accounted for by the caller.
func (w *Wheel) clear(h uint32) {
	s := w.at(h)
	s.next, s.prev, s.list = h, h, h
}

// empty reports that the list with sentinel h and its occupancy bit are
// reset, after its entries were moved elsewhere.
func (w *Wheel) emptied(h uint32) {
	w.clear(h)
	w.counts[h] = 0
	w.occupied[h/wordBits] &^= 1 << (h % wordBits)
}

// link appends entry i to the tail of the list with sentinel h. The tail
// it touches is usually the entry linked there last, so a warm line.
func (w *Wheel) link(h, i uint32, e *entry) {
	s := w.at(h)
	tail := s.prev
	e.next, e.prev, e.list = h, tail, h
	w.at(tail).next = i
	s.prev = i
	w.counts[h]++
	w.occupied[h/wordBits] |= 1 << (h % wordBits)
}

// unlink removes e from its list.
func (w *Wheel) unlink(e *entry) {
	w.at(e.prev).next = e.next
	w.at(e.next).prev = e.prev
	h := e.list
	w.counts[h]--
	if w.counts[h] == 0 {
		w.occupied[h/wordBits] &^= 1 << (h % wordBits)
	}
}

// nextEvent finds the earliest tick after the current one at which a slot
// must be handled: the first occupied slot of the lowest level that has
// one past the current position. Lower levels always come first because
// every slot of level l lies inside the current slot of level l+1.
// O(levels) with four words per level, whatever the time to skip.
func (w *Wheel) nextEvent() (tick uint64, h uint32, ok bool) {
	for l := 0; l < w.levels; l++ {
		shift := uint(l) * slotBits
		digit := (w.cur >> shift) & slotMask
		s, found := w.firstAfter(l, digit)
		if !found {
			continue
		}
		above := shift + slotBits // 64 for the top level: Go shifts that out to 0
		tick = w.cur>>above<<above | s<<shift
		return tick, head(l, s), true
	}
	return 0, 0, false
}

// firstAfter returns the first occupied slot of level l after slot digit.
func (w *Wheel) firstAfter(l int, digit uint64) (uint64, bool) {
	start := digit + 1
	if start == slots {
		return 0, false
	}
	words := w.occupied[l*slots/wordBits : (l+1)*slots/wordBits]
	i := start / wordBits
	word := words[i] &^ (1<<(start%wordBits) - 1)
	for {
		if word != 0 {
			return i*wordBits + uint64(bits.TrailingZeros64(word)), true
		}
		i++
		if i == slots/wordBits {
			return 0, false
		}
		word = words[i]
	}
}
