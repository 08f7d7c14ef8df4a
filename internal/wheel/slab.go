package wheel

// The slab: entries live in fixed-size chunks of one pointer-free struct,
// addressed by a uint32 index, and so do the blocks that make up the lists
// (lists.go). Chunks are never moved or freed, so growing the slab copies
// nothing and wastes at most one partly used chunk; the garbage collector
// sees one pointer per chunk and never scans the chunks themselves.

const (
	entryChunkBits = 12 // 4096 entries of 24 B: 96 KiB per chunk
	entryChunk     = 1 << entryChunkBits
	blockChunkBits = 10 // 1024 blocks of 64 B: 64 KiB per chunk
	blockChunk     = 1 << blockChunkBits

	// inQueue is entry.loc for an entry moved to the hand-out queue's
	// later part: it is in no list, and Cancel only marks it.
	inQueue = ^uint32(0)
	// maxBlocks keeps block<<posBits|position below inQueue.
	maxBlocks = 1<<(32-posBits) - 1
	// maxEntries keeps entry indices, and the slab's size, in a uint32.
	maxEntries = ^uint32(0)
)

// entry is one timer: 24 bytes, no pointers.
type entry struct {
	due   int64  // the caller's due time
	value uint64 // the caller's value, handed back at expiry
	gen   uint32 // generation: odd while the entry is live, even while free
	loc   uint32 // block<<posBits | position of the entry's index in its list; or inQueue
}

// slab allocates entries and blocks. Both free lists are stacks of
// indices, so that taking a free entry reads nothing from the entry (a
// free list threaded through the entries would chase one cache miss per
// Add after a mass expiry), and the most recently freed, warmest entry is
// reused first.
type slab struct {
	chunks []*[entryChunk]entry
	size   uint32   // entry indices in use or ever used: the high-water mark
	free   []uint32 // free entry indices

	blockChunks []*[blockChunk]block
	blockCount  uint32   // block indices in use or ever used
	freeBlocks  []uint32 // free block indices
}

// at returns the entry at index i. The mask lets the compiler drop the
// bounds check on the chunk.
func (s *slab) at(i uint32) *entry {
	return &s.chunks[i>>entryChunkBits][i&(entryChunk-1)]
}

// alloc returns a free entry index; the caller makes the generation odd.
func (s *slab) alloc() uint32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	return s.grow()
}

// grow reserves the index at the high-water mark.
func (s *slab) grow() uint32 {
	if s.size == maxEntries {
		panic("wheel: more than 4 billion entries")
	}
	i := s.size
	if i>>entryChunkBits == uint32(len(s.chunks)) {
		s.chunks = append(s.chunks, new([entryChunk]entry))
	}
	s.size++
	return i
}

// release makes the generation even, so every handle to the entry goes
// stale at once, and frees the entry.
func (s *slab) release(i uint32, e *entry) {
	e.gen++
	s.free = append(s.free, i)
}

// block returns block b.
func (s *slab) block(b uint32) *block {
	return &s.blockChunks[b>>blockChunkBits][b&(blockChunk-1)]
}

// allocBlock returns a free block.
func (s *slab) allocBlock() uint32 {
	if n := len(s.freeBlocks); n > 0 {
		b := s.freeBlocks[n-1]
		s.freeBlocks = s.freeBlocks[:n-1]
		return b
	}
	if s.blockCount == maxBlocks {
		panic("wheel: out of list blocks")
	}
	b := s.blockCount
	if b>>blockChunkBits == uint32(len(s.blockChunks)) {
		s.blockChunks = append(s.blockChunks, new([blockChunk]block))
	}
	s.blockCount++
	return b
}
