package wheel

// The slab: every entry and every list head lives in fixed-size chunks of
// one pointer-free struct, addressed by a uint32 index. Chunks are never
// moved or freed, so growing the slab copies nothing and costs at most one
// partly used chunk; the garbage collector sees one pointer per chunk and
// never scans the chunks themselves.

const (
	chunkBits = 13 // 8192 entries of 32 B: 256 KiB per chunk
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1

	// nilIndex ends the free list.
	nilIndex = ^uint32(0)
	// inRun is entry.list for an entry that was moved into the hand-out
	// run; such an entry is linked in no list and is cancelled lazily.
	inRun = nilIndex - 1
	// maxIndex bounds the slab so the two marks above stay unambiguous.
	maxIndex = inRun - 1
)

// entry is one timer, or the head (sentinel) of one circular list.
// 32 bytes, no pointers.
type entry struct {
	due   int64  // the caller's due time
	value uint64 // the caller's value, handed back at expiry
	next  uint32 // next in the list; next free entry while free
	prev  uint32 // previous in the list
	gen   uint32 // generation: odd while the entry is live, even while free
	list  uint32 // sentinel index of the list holding the entry, or inRun
}

// slab allocates entries. Indices [0, heads) are list sentinels; timers
// use the indices above them.
type slab struct {
	chunks []*[chunkSize]entry
	size   uint32 // indices in use or ever used: the high-water mark
	free   uint32 // head of the free list, nilIndex when empty
}

// at returns the entry at index i. The mask lets the compiler drop the
// bounds check on the chunk.
func (s *slab) at(i uint32) *entry {
	return &s.chunks[i>>chunkBits][i&chunkMask]
}

// grow reserves one more index at the high-water mark.
func (s *slab) grow() uint32 {
	i := s.size
	if i > maxIndex {
		panic("wheel: more than 4 billion entries")
	}
	if i>>chunkBits == uint32(len(s.chunks)) {
		s.chunks = append(s.chunks, new([chunkSize]entry))
	}
	s.size++
	return i
}

// alloc returns a free index and makes its generation odd (live).
func (s *slab) alloc() (uint32, *entry) {
	i := s.free
	var e *entry
	if i != nilIndex {
		e = s.at(i)
		s.free = e.next
	} else {
		i = s.grow()
		e = s.at(i)
	}
	e.gen++
	return i, e
}

// release makes the generation even, so every handle to the entry goes
// stale at once, and frees the entry.
func (s *slab) release(i uint32, e *entry) {
	e.gen++
	s.push(i, e)
}

// push puts an entry whose generation is already even on the free list.
// LIFO reuse keeps the next Add on a cache line that is still warm.
func (s *slab) push(i uint32, e *entry) {
	e.next = s.free
	s.free = i
}
