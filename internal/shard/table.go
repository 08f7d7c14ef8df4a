package shard

import (
	"container/heap"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// The timer table: one pointer-free entry per timer the shard knows, found
// by id through an open-addressing index, whatever form the timer is in.
// An entry's location says where its definition is:
//
//	far     only in its group record (seq): due beyond the horizon; read
//	        back shortly before it comes within it
//	near    encoded in a chunk of its due bucket, armed on the wheel
//	loaded  an object (recurring, paused, failed, or a one-shot being
//	        changed or just made)
//	firing  a one-shot handed out whose fire is not yet acknowledged: the
//	        fire holds the definition
//	fired   a fired one-shot, remembered KeepFired for idempotent retries
//
// Millions of far and near entries add nothing for the garbage collector
// to scan: entries, index, id arena and chunks hold no pointers. Only
// loaded objects are Go objects. convert.go moves timers between the forms.
type location uint8

const (
	locFree location = iota
	locFar
	locNear
	locLoaded
	locFiring
	locFired
)

func (l location) String() string {
	return [...]string{"free", "far", "near", "loaded", "firing", "fired"}[l]
}

// entry is one timer: 56 bytes, no pointers.
type entry struct {
	seq     uint64 // the record holding its live Put; 0 while its first Put is being written
	rev     uint64 // its revision as clients see it
	reqHash uint64 // the request that made it, for identical retries
	due     int64  // one-shots: the nominal fire time; recurring: unused
	idOff   uint64 // its id in the arena
	aux     uint32 // near: slot in nears; loaded and firing: slot in objs
	gen     uint32 // bumped when the entry is freed: references check it
	idLen   uint16
	writing uint16 // writes in flight for it: changes wait until they settle
	loc     location
	kind    record.Kind
	armGen  uint16 // bumped when it is armed: a wheel value names one arming
}

// entryRef names an entry as it was when the reference was taken.
type entryRef struct {
	i   uint32
	gen uint32
}

type table struct {
	ents    []entry
	free    []uint32
	idx     index
	ids     []byte // ids of the entries, back to back
	deadIDs int    // bytes of ids no entry uses any more
	count   int

	objs    []*object
	objFree []uint32

	nears    []nearRef
	nearFree []uint32
	granule  int64               // due bucket width (ns): far promotion and near chunks
	chunks   map[int64]*defChunk // due bucket -> encoded definitions of its near entries
	buckets  map[int64][]uint32  // due bucket -> far entries (stale ones are skipped)
	keys     int64Heap           // the keys of buckets, smallest first
	horizon  int64               // <= 0: no far or near entries

	firedQ []firedRef // fired entries in the order they fired
}

type firedRef struct {
	ref entryRef
	at  int64
}

func (t *table) init(horizon time.Duration) {
	t.horizon = int64(horizon)
	t.granule = int64(min(max(horizon/16, 10*time.Millisecond), 5*time.Minute))
	t.chunks = make(map[int64]*defChunk)
	t.buckets = make(map[int64][]uint32)
}

func (t *table) id(i uint32) []byte {
	e := &t.ents[i]
	return t.ids[e.idOff : e.idOff+uint64(e.idLen)]
}

// find is the entry of id.
func (t *table) find(id string) (uint32, bool) {
	if t.count == 0 {
		return 0, false
	}
	return t.idx.find(t, xxhash.Sum64String(id), id)
}

// add makes an entry for id, which has none, at location loc.
func (t *table) add(id string, kind record.Kind, loc location) uint32 {
	var i uint32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		i = uint32(len(t.ents))
		t.ents = append(t.ents, entry{})
	}
	e := &t.ents[i]
	*e = entry{idOff: uint64(len(t.ids)), idLen: uint16(len(id)), gen: e.gen, armGen: e.armGen, kind: kind, loc: loc}
	t.ids = append(t.ids, id...)
	t.idx.insert(xxhash.Sum64String(id), i)
	t.count++
	return i
}

// remove frees entry i. Its location's state (object, near slot, wheel
// entry, record liveness) must have been dropped by the caller.
func (t *table) remove(i uint32) {
	e := &t.ents[i]
	t.idx.delete(xxhash.Sum64(t.id(i)), i)
	t.deadIDs += int(e.idLen)
	*e = entry{gen: e.gen + 1, armGen: e.armGen}
	t.free = append(t.free, i)
	t.count--
	if t.count == 0 {
		// Entries are kept (free) so their generations never repeat.
		t.ids, t.deadIDs = t.ids[:0], 0
		t.idx = index{}
	} else if t.deadIDs > 1<<20 && t.deadIDs > len(t.ids)/2 {
		t.compactIDs()
	}
}

func (t *table) ref(i uint32) entryRef { return entryRef{i: i, gen: t.ents[i].gen} }

// live returns the entry r names, if it is still that entry.
func (t *table) live(r entryRef) (*entry, bool) {
	if int(r.i) >= len(t.ents) {
		return nil, false
	}
	e := &t.ents[r.i]
	return e, e.gen == r.gen && e.loc != locFree
}

// compactIDs rewrites the id arena without the ids of freed entries.
func (t *table) compactIDs() {
	ids := make([]byte, 0, len(t.ids)-t.deadIDs)
	for i := range t.ents {
		e := &t.ents[i]
		if e.loc == locFree {
			continue
		}
		off := uint64(len(ids))
		ids = append(ids, t.ids[e.idOff:e.idOff+uint64(e.idLen)]...)
		e.idOff = off
	}
	t.ids, t.deadIDs = ids, 0
}

// isFar reports whether a one-shot due at due is to be a far entry now.
func (t *table) isFar(due, now int64) bool {
	return t.horizon > 0 && due > now+t.horizon+t.granule
}

// queueFar puts far entry i in the bucket of its due time.
func (t *table) queueFar(i uint32) {
	key := t.ents[i].due / t.granule
	b, ok := t.buckets[key]
	if !ok {
		heap.Push(&t.keys, key)
	}
	t.buckets[key] = append(b, i)
}

// farMin is a lower bound of every far entry's due time (ok false: none).
func (t *table) farMin() (int64, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	return t.keys[0] * t.granule, true
}

// takeFar removes the buckets starting before until and returns their far
// entries. A bucket may name an entry freed and reused since, or one that
// is no longer far: only entries still far and due in that bucket count.
func (t *table) takeFar(until int64, out []entryRef) []entryRef {
	for len(t.keys) > 0 && t.keys[0]*t.granule < until {
		key := heap.Pop(&t.keys).(int64)
		b := t.buckets[key]
		slices.Sort(b) // an entry freed and reused in the same bucket is in it twice
		for _, i := range slices.Compact(b) {
			if e := &t.ents[i]; e.loc == locFar && e.due/t.granule == key {
				out = append(out, t.ref(i))
			}
		}
		delete(t.buckets, key)
	}
	return out
}

// nearRef is a near entry's wheel entry and encoded definition.
type nearRef struct {
	handle wheel.Handle
	off    uint64 // in the defChunk of the entry's due bucket
	size   uint32
}

// putNear keeps def, the one Put op of near entry i, encoded in the
// chunk of its due bucket, armed as handle.
func (t *table) putNear(i uint32, def record.Op, handle wheel.Handle) {
	e := &t.ents[i]
	key := e.due / t.granule
	c := t.chunks[key]
	if c == nil {
		c = &defChunk{}
		t.chunks[key] = c
	}
	off, size := c.putOp(def)
	ref := nearRef{handle: handle, off: off, size: size}
	var slot uint32
	if k := len(t.nearFree); k > 0 {
		slot = t.nearFree[k-1]
		t.nearFree = t.nearFree[:k-1]
		t.nears[slot] = ref
	} else {
		slot = uint32(len(t.nears))
		t.nears = append(t.nears, ref)
	}
	e.aux, e.loc = slot, locNear
}

// nearDef is near entry i's encoded definition.
func (t *table) nearDef(i uint32) []byte {
	e := &t.ents[i]
	ref := &t.nears[e.aux]
	return t.chunks[e.due/t.granule].get(ref.off, ref.size)
}

// dropNear forgets near entry i's definition and slot (its wheel entry is
// the caller's) and returns its handle.
func (t *table) dropNear(i uint32) wheel.Handle {
	e := &t.ents[i]
	h := t.nears[e.aux].handle
	t.nears[e.aux] = nearRef{}
	t.nearFree = append(t.nearFree, e.aux)
	key := e.due / t.granule
	if c := t.chunks[key]; c.live == 1 {
		delete(t.chunks, key)
	} else {
		c.live--
	}
	e.aux = 0
	return h
}

// setObject makes o entry i's object.
func (t *table) setObject(i uint32, o *object) {
	var slot uint32
	if k := len(t.objFree); k > 0 {
		slot = t.objFree[k-1]
		t.objFree = t.objFree[:k-1]
		t.objs[slot] = o
	} else {
		slot = uint32(len(t.objs))
		t.objs = append(t.objs, o)
	}
	t.ents[i].aux = slot
}

func (t *table) obj(i uint32) *object { return t.objs[t.ents[i].aux] }

// dropObject forgets entry i's object.
func (t *table) dropObject(i uint32) {
	e := &t.ents[i]
	t.objs[e.aux] = nil
	t.objFree = append(t.objFree, e.aux)
	e.aux = 0
}

// index finds entries by id: open addressing with linear probing over
// slots holding the low 32 bits of the id's hash and the entry index + 1
// (0: empty). About 13 bytes an entry at 10M, against ~42 for a Go map;
// equal hashes are told apart by comparing the ids.
type index struct {
	slots []uint64
	used  int
}

func (x *index) find(t interface{ id(uint32) []byte }, h uint64, id string) (uint32, bool) {
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
			if i := uint32(s) - 1; string(t.id(i)) == id {
				return i, true
			}
		}
	}
}

func (x *index) insert(h uint64, i uint32) {
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

func (x *index) grow() {
	old := x.slots
	x.slots = make([]uint64, max(64, 2*len(old)))
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
func (x *index) delete(h uint64, i uint32) {
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

// defChunk holds the encoded definitions of the near entries of one due
// bucket, in blocks that never move; it is dropped when its last entry goes.
type defChunk struct {
	blocks [][]byte
	live   int
}

const defBlock = 64 << 10

// room makes the last block hold n more bytes and returns its index.
func (c *defChunk) room(n int) int {
	last := len(c.blocks) - 1
	if last < 0 || len(c.blocks[last])+n > cap(c.blocks[last]) {
		size := defBlock
		if len(c.blocks) == 0 {
			size = 4 << 10 // most buckets are small: grow as they fill
		} else {
			size = min(cap(c.blocks[last])*2, 1<<20)
		}
		c.blocks = append(c.blocks, make([]byte, 0, max(size, n)))
		last++
	}
	return last
}

func (c *defChunk) put(def []byte) uint64 {
	last := c.room(len(def))
	off := uint64(last)<<32 | uint64(len(c.blocks[last]))
	c.blocks[last] = append(c.blocks[last], def...)
	c.live++
	return off
}

// putOp encodes op (a one-Put record) into the chunk itself, without an
// encoding of its own to copy from; it returns its offset and size.
func (c *defChunk) putOp(op record.Op) (uint64, uint32) {
	ops := [1]record.Op{op}
	last := c.room(record.Size(op) + 8) // and the record's version and count
	b := c.blocks[last]
	start := len(b)
	b = record.AppendOps(b, ops[:])
	if cap(b) != cap(c.blocks[last]) { // Size fell short: b is a copy
		def := b[start:]
		return c.put(def), uint32(len(def))
	}
	c.blocks[last] = b
	c.live++
	return uint64(last)<<32 | uint64(start), uint32(len(b) - start)
}

func (c *defChunk) get(off uint64, size uint32) []byte {
	b := c.blocks[off>>32]
	o := off & (1<<32 - 1)
	return b[o : o+uint64(size)]
}
