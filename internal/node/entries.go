package node

import (
	"container/heap"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// The pointer-free structures behind far and near entries (far.go) and the
// fired set: slices of plain values, an id arena and an open-addressing
// index, so millions of timers add nothing for the garbage collector to
// scan.

// farEntry is one far one-shot. An entry whose idLen is 0 is free.
type farEntry struct {
	seq     uint64 // the record holding its live Put
	rev     uint64 // its revision as clients see it
	reqHash uint64
	due     int64
	idOff   uint64
	idLen   uint16
	shard   uint16
	gen     uint32 // bumped when the entry is freed: bucket refs check it
}

// farRef names an entry as it was when the reference was taken.
type farRef struct {
	i   uint32
	gen uint32
}

type farTier struct {
	near    map[uint32]nearRef // entries armed on the wheel, with their definitions
	chunks  map[int64]*defChunk
	idx     farIndex // id -> entry
	ents    []farEntry
	free    []uint32
	ids     []byte // the ids of the entries, back to back
	deadIDs int    // bytes of ids no entry uses any more
	count   int
	granule int64              // bucket width (ns)
	buckets map[int64][]uint32 // due/granule -> entries (stale ones are skipped)
	keys    int64Heap          // the keys of buckets, smallest first
}

func newFarTier(granule time.Duration) *farTier {
	return &farTier{buckets: make(map[int64][]uint32), granule: int64(granule),
		near: make(map[uint32]nearRef), chunks: make(map[int64]*defChunk)}
}

func (f *farTier) id(i uint32) []byte {
	e := &f.ents[i]
	return f.ids[e.idOff : e.idOff+uint64(e.idLen)]
}

// find is the entry of id.
func (f *farTier) find(id string) (uint32, bool) {
	if f.count == 0 {
		return 0, false
	}
	return f.idx.find(f, xxhash.Sum64String(id), id)
}

// add makes an entry for a one-shot that is in no tier, queued in the
// bucket of its due time when it is far. It fails for an id too long for
// an entry: that timer then stays loaded.
func (f *farTier) add(id string, shard int, seq, rev, reqHash uint64, due int64, far bool) bool {
	if len(id) == 0 || len(id) > 1<<16-1 {
		return false
	}
	var i uint32
	if k := len(f.free); k > 0 {
		i = f.free[k-1]
		f.free = f.free[:k-1]
	} else {
		i = uint32(len(f.ents))
		f.ents = append(f.ents, farEntry{})
	}
	e := &f.ents[i]
	*e = farEntry{seq: seq, rev: rev, reqHash: reqHash, due: due, idOff: uint64(len(f.ids)),
		idLen: uint16(len(id)), shard: uint16(shard), gen: e.gen}
	f.ids = append(f.ids, id...)
	f.idx.insert(xxhash.Sum64String(id), i)
	f.count++
	if far {
		f.queue(i)
	}
	return true
}

// queue puts entry i in the bucket of its due time.
func (f *farTier) queue(i uint32) {
	key := f.ents[i].due / f.granule
	b, ok := f.buckets[key]
	if !ok {
		heap.Push(&f.keys, key)
	}
	f.buckets[key] = append(b, i)
}

// remove frees entry i; its record bookkeeping is the caller's.
func (f *farTier) remove(i uint32) {
	e := &f.ents[i]
	f.idx.delete(xxhash.Sum64(f.id(i)), i)
	f.deadIDs += int(e.idLen)
	*e = farEntry{gen: e.gen + 1}
	f.free = append(f.free, i)
	f.count--
	if f.count == 0 {
		// Entries are kept (free) so their generations never repeat.
		f.ids, f.deadIDs = f.ids[:0], 0
		f.idx = farIndex{}
		clear(f.buckets)
		f.keys = f.keys[:0]
	} else if f.deadIDs > 1<<20 && f.deadIDs > len(f.ids)/2 {
		f.compactIDs()
	}
}

// compactIDs rewrites the id arena without the ids of freed entries.
func (f *farTier) compactIDs() {
	ids := make([]byte, 0, len(f.ids)-f.deadIDs)
	for i := range f.ents {
		e := &f.ents[i]
		if e.idLen == 0 {
			continue
		}
		off := uint64(len(ids))
		ids = append(ids, f.ids[e.idOff:e.idOff+uint64(e.idLen)]...)
		e.idOff = off
	}
	f.ids, f.deadIDs = ids, 0
}

// minDue is a lower bound of every entry's due time (ok false: none).
func (f *farTier) minDue() (int64, bool) {
	if f.count == 0 || len(f.keys) == 0 {
		return 0, false
	}
	return f.keys[0] * f.granule, true
}

// takeDue removes the buckets starting before until and returns their
// live entries. A bucket may name an entry freed and reused since: it is
// taken only if it still belongs there (else its own bucket has it).
func (f *farTier) takeDue(until int64, out []farRef) []farRef {
	for len(f.keys) > 0 && f.keys[0]*f.granule < until {
		key := heap.Pop(&f.keys).(int64)
		b := f.buckets[key]
		slices.Sort(b) // an entry freed and reused in the same bucket is in it twice
		for _, i := range slices.Compact(b) {
			if e := &f.ents[i]; e.idLen != 0 && e.due/f.granule == key {
				out = append(out, farRef{i: i, gen: e.gen})
			}
		}
		delete(f.buckets, key)
	}
	return out
}

// farIndex finds entries by id: open addressing with linear probing over
// slots holding the low 32 bits of the id's hash and the entry index + 1
// (0: empty). About 13 bytes an entry at 10M, against ~42 for a Go map;
// equal hashes are told apart by comparing the ids.
type farIndex struct {
	slots []uint64
	used  int
}

func (x *farIndex) find(f interface{ id(uint32) []byte }, h uint64, id string) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for k := h & mask; ; k = (k + 1) & mask {
		s := x.slots[k]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == uint32(h) {
			if i := uint32(s) - 1; string(f.id(i)) == id {
				return i, true
			}
		}
	}
}

func (x *farIndex) insert(h uint64, i uint32) {
	if 5*(x.used+1) > 4*len(x.slots) {
		x.grow()
	}
	mask := uint64(len(x.slots) - 1)
	k := h & mask
	for x.slots[k] != 0 {
		k = (k + 1) & mask
	}
	x.slots[k] = uint64(uint32(h))<<32 | uint64(i+1)
	x.used++
}

func (x *farIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, max(1024, 2*len(old)))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s != 0 {
			k := (s >> 32) & mask
			for x.slots[k] != 0 {
				k = (k + 1) & mask
			}
			x.slots[k] = s
		}
	}
}

// delete removes entry i (hash h), shifting later slots of the probe run
// back so that no tombstones are needed.
func (x *farIndex) delete(h uint64, i uint32) {
	mask := uint64(len(x.slots) - 1)
	want := uint64(uint32(h))<<32 | uint64(i+1)
	k := h & mask
	for x.slots[k] != want {
		k = (k + 1) & mask
	}
	x.used--
	for {
		x.slots[k] = 0
		j := k
		for {
			j = (j + 1) & mask
			s := x.slots[j]
			if s == 0 {
				return
			}
			home := (s >> 32) & mask
			// s may move into the hole at k unless its home lies
			// cyclically in (k, j].
			if (j > k && (home <= k || home > j)) || (j < k && home <= k && home > j) {
				x.slots[k] = s
				k = j
				break
			}
		}
	}
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// nearFlag marks a wheel value naming a near entry (else: a slot of n.slots).
const nearFlag = 1 << 63

// nearRef is a near entry's wheel entry and encoded definition.
type nearRef struct {
	handle wheel.Handle
	off    uint64 // in the defChunk of the entry's due bucket
	size   uint32
}

// defChunk holds the encoded definitions of the near entries of one due
// bucket, in blocks that never move; it is dropped when its last entry goes.
type defChunk struct {
	blocks [][]byte
	live   int
}

const defBlock = 1 << 20

func (c *defChunk) put(def []byte) uint64 {
	last := len(c.blocks) - 1
	if last < 0 || len(c.blocks[last])+len(def) > cap(c.blocks[last]) {
		c.blocks = append(c.blocks, make([]byte, 0, max(defBlock, len(def))))
		last++
	}
	off := uint64(last)<<32 | uint64(len(c.blocks[last]))
	c.blocks[last] = append(c.blocks[last], def...)
	c.live++
	return off
}

func (c *defChunk) get(off uint64, size uint32) []byte {
	b := c.blocks[off>>32]
	o := off & (1<<32 - 1)
	return b[o : o+uint64(size)]
}

// firedSet remembers fired one-shots for at least KeepFired so that an
// identical retry of the request that created one is answered, not
// scheduled again. What a retry needs (request hash, revision, due time) is
// kept pointer-free, in two generations swapped wholesale: forgetting costs
// no work per timer under the lock, and at 20,000 fires/s the set adds
// nothing for the garbage collector to scan (as timer objects it made the
// mark phases, and so the fire lag's p99, grow with the fire rate).
type firedSet struct {
	cur, prev firedGen
	since     int64 // when cur was started (Unix ns)
}

type firedGen struct {
	idx  farIndex
	ents []firedEntry
	ids  []byte
}

type firedEntry struct {
	reqHash, rev uint64
	due          int64
	idOff        uint64
	idLen        uint32
	gone         bool // forgotten: the id was scheduled again
}

func (g *firedGen) id(i uint32) []byte {
	e := &g.ents[i]
	return g.ids[e.idOff : e.idOff+uint64(e.idLen)]
}

func (g *firedGen) get(id string) (*firedEntry, bool) {
	i, ok := g.idx.find(g, xxhash.Sum64String(id), id)
	if !ok || g.ents[i].gone {
		return nil, false
	}
	return &g.ents[i], true
}

// get answers a fired one-shot as a timer object (done), or nil.
func (f *firedSet) get(id string) *timer {
	e, ok := f.cur.get(id)
	if !ok {
		if e, ok = f.prev.get(id); !ok {
			return nil
		}
	}
	return &timer{done: true, rec: &record.Timer{ID: id, Kind: record.KindAt, Due: e.due, ReqHash: e.reqHash, Revision: e.rev}}
}

func (f *firedSet) add(t *timer) {
	g := &f.cur
	if i, ok := g.idx.find(g, xxhash.Sum64String(t.rec.ID), t.rec.ID); ok {
		// Fired again under the same id (or forgotten): the newer one counts.
		e := &g.ents[i]
		e.reqHash, e.rev, e.due, e.gone = t.rec.ReqHash, t.rec.Revision, t.rec.Due, false
		return
	}
	i := uint32(len(g.ents))
	g.ents = append(g.ents, firedEntry{reqHash: t.rec.ReqHash, rev: t.rec.Revision, due: t.rec.Due,
		idOff: uint64(len(g.ids)), idLen: uint32(len(t.rec.ID))})
	g.ids = append(g.ids, t.rec.ID...)
	g.idx.insert(xxhash.Sum64String(t.rec.ID), i)
}

func (f *firedSet) forget(id string) {
	for _, g := range []*firedGen{&f.cur, &f.prev} {
		if e, ok := g.get(id); ok {
			e.gone = true
		}
	}
}

// rotate starts a new generation once the current one is keep old: an
// entry is then kept between keep and twice keep.
func (f *firedSet) rotate(now int64, keep time.Duration) {
	if now-f.since >= int64(keep) {
		f.prev, f.cur, f.since = f.cur, firedGen{}, now
	}
}
