package wheel

import "math/bits"

// The lists: one per slot of each level, plus the pending list. A list is
// an unrolled list: a sequence of blocks, each one 64-byte cache line
// holding blockLen entry indices and the list's own index, every block but
// the last (the tail) full. The list keeps its blocks' indices in order in
// a small table, and each entry records where its index sits (entry.loc),
// so:
//
//   - add appends to the tail block: O(1), touching one warm line;
//   - cancel moves the list's last index into the hole: O(1), reading the
//     list's index from the line it writes anyway;
//   - walking a list reads the block table in sequence and then blocks and
//     entries whose loads are all independent: the processor overlaps
//     their cache misses, where a linked list would make it chase one
//     pointer after another.
//
// Memory is 64 bytes per 15 entries plus 4 bytes in the table: 4.5 bytes
// per entry, about half of a prev/next pair of uint32.

const (
	slotBits = 8 // 256 slots per level
	slots    = 1 << slotBits
	slotMask = slots - 1
	wordBits = 64

	blockLen  = 15 // entry indices per block
	blockList = 15 // the word of a block holding its list's index
	posBits   = 4  // entry.loc = block<<posBits | position
	posMask   = 1<<posBits - 1
)

// block is one cache line: blockLen entry indices, then the list's index.
type block [blockLen + 1]uint32

// list is a slot's (or the pending) list of entries. The block table is
// kept apart, in Wheel.tables, so that the lists themselves stay small and
// hot: Add and Cancel touch a list's table only when it gains or loses a
// block.
//
// A list keeps its first block for good once it has one, and at most one
// empty spare after its tail, so a list that adds and cancels keep moving
// across a block boundary, or in and out of emptiness, allocates and frees
// nothing.
type list struct {
	n      uint32 // entries
	tail   uint32 // the block of the last entry (the first block when n == 0), or noBlock before first use
	fill   uint32 // entries in the tail block: 1..blockLen, or 0 when n == 0
	blocks uint32 // len of the list's table
}

// noBlock is list.tail for a list that never had an entry.
const noBlock = ^uint32(0)

// head returns the list index of slot s of level l.
func head(l int, s uint64) uint32 { return uint32(l)<<slotBits | uint32(s) }

// initLists creates levels*slots slot lists and then the pending list.
func (w *Wheel) initLists() {
	w.pending = head(w.levels, 0)
	w.lists = make([]list, w.pending+1)
	for l := range w.lists {
		w.lists[l].tail = noBlock
	}
	w.tables = make([][]uint32, w.pending+1)
	w.occupied = make([]uint64, (w.levels+1)*slots/wordBits) // the pending list has a level to itself
}

// link appends entry i to list l. Add spells out the same steps.
func (w *Wheel) link(l, i uint32, e *entry) {
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
}

// grow gives list l a fresh tail block: its spare, or a new block.
func (w *Wheel) grow(ls *list, l uint32) {
	j := (ls.n + blockLen - 1) / blockLen // blocks in use
	if j < ls.blocks {
		ls.tail, ls.fill = w.tables[l][j], 0
		return
	}
	b := w.allocBlock()
	w.block(b)[blockList] = l
	w.tables[l] = append(w.tables[l], b)
	ls.tail, ls.fill = b, 0
	ls.blocks++
}

// fillHole moves the last index of list ls into the hole at blk[pos].
func (w *Wheel) fillHole(blk *block, pos uint32, ls *list, loc uint32) {
	moved := w.block(ls.tail)[ls.fill]
	blk[pos] = moved
	w.at(moved).loc = loc
}

// shrink updates list l after its tail block was emptied: an empty list
// keeps the block, and a longer one moves its tail back a block and keeps
// the emptied one as its spare, freeing an older spare.
func (w *Wheel) shrink(ls *list, l uint32) {
	if ls.n == 0 {
		// The level's bit in levelMask is cleared lazily, by nextEvent.
		w.occupied[l/wordBits] &^= 1 << (l % wordBits)
		return
	}
	j := ls.n / blockLen // the emptied block
	table := w.tables[l]
	if ls.blocks > j+1 {
		w.freeBlocks = append(w.freeBlocks, table[j+1])
		w.tables[l] = table[:j+1]
		ls.blocks = j + 1
	}
	ls.tail, ls.fill = table[j-1], blockLen
}

// walk empties list l, calling visit with the entry indices of each block
// in list order and their dues, and frees the blocks. visit may link
// entries into other lists, never into l.
//
// The dues of the next block are loaded before the current block is
// visited. Those loads are independent of each other and of the visit, so
// the processor has the next block's cache misses in flight while it works
// on entries that are already in cache, instead of stalling on one miss
// after another as it would walking a linked list.
func (w *Wheel) walk(l uint32, visit func(idx []uint32, dues *[blockLen]int64)) {
	n, table := w.detach(l)
	dues := &w.gathered // a field: a local would escape through visit
	used := int((n + blockLen - 1) / blockLen)
	if used > 0 {
		w.gather(&dues[0], w.indices(table, 0, n))
	}
	for j := range used {
		if j+1 < used {
			w.gather(&dues[(j+1)&1], w.indices(table, j+1, n))
		}
		visit(w.indices(table, j, n), &dues[j&1])
	}
	w.freeBlocksOf(l, table)
}

// detach empties list l and returns what it held, for the caller to read
// and then pass to freeBlocksOf.
func (w *Wheel) detach(l uint32) (n uint32, table []uint32) {
	ls := &w.lists[l]
	n, table = ls.n, w.tables[l]
	if len(table) > 0 {
		*ls = list{tail: table[0], blocks: 1} // the first block stays
	}
	w.occupied[l/wordBits] &^= 1 << (l % wordBits)
	return n, table
}

// freeBlocksOf frees the blocks of a detached list but its first.
func (w *Wheel) freeBlocksOf(l uint32, table []uint32) {
	if len(table) > 1 {
		w.freeBlocks = append(w.freeBlocks, table[1:]...)
		w.tables[l] = table[:1]
	}
}

// indices returns the used part of block j of a list of n entries.
func (w *Wheel) indices(table []uint32, j int, n uint32) []uint32 {
	blk := w.block(table[j])
	if rest := n - uint32(j)*blockLen; rest < blockLen {
		return blk[:rest]
	}
	return blk[:blockLen]
}

// gather loads the dues of a block's entries.
func (w *Wheel) gather(dues *[blockLen]int64, idx []uint32) {
	for p, i := range idx {
		dues[p] = w.at(i).due
	}
}

// nextEvent finds the earliest tick after the current one at which a slot
// must be handled: the first occupied slot of the lowest non-empty level.
// Lower levels always come first because every slot of level l lies
// inside the current slot of level l+1, and every occupied slot of a level
// lies after the current tick's digit there (see slotOf). Amortized O(1):
// one mask and at most four words, whatever the time to skip, plus the
// lazy clearing of a level's bit once it has emptied.
func (w *Wheel) nextEvent() (tick uint64, slot uint32, ok bool) {
	for {
		levels := w.levelMask &^ (1 << w.levels) // without the pending list
		if levels == 0 {
			return 0, 0, false
		}
		l := bits.TrailingZeros64(levels)
		shift := uint(l) * slotBits
		s, found := w.firstAfter(l, (w.cur>>shift)&slotMask)
		if !found {
			// The level emptied since its bit was set. No slot of a
			// non-empty level is at or before the current digit (see
			// slotOf), so this is the only way to find nothing.
			w.levelMask &^= 1 << l
			continue
		}
		above := shift + slotBits // 64 for a top level of 8 bits: Go shifts that out to 0
		tick = w.cur>>above<<above | s<<shift
		return tick, head(l, s), true
	}
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
