package node

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// The far and near tiers: a one-shot due beyond the horizon (Config.Horizon) is not
// kept as a timer object with its definition, payload and wheel entry, but
// as one pointer-free farEntry (its id in an arena, the record holding its
// Put, its due time, revision and request hash: about 100 bytes with the
// index). The promote loop reads the definitions back from their group
// records by sequence shortly before they come within the horizon; an
// operation that changes such a timer (replace, cancel, pause, resume,
// trigger) reads it back first. Get and list read records without keeping
// what they read.
//
// Within the horizon, a plain one-shot is a *near* entry: the same entry,
// armed on the wheel, with its definition encoded in a pointer-free chunk
// of its due bucket (nearRef). It becomes a timer object only when it is
// due (or an operation touches it). So the Go heap the garbage collector
// scans holds only recurring, paused and in-flight timers: with a million
// loaded one-shots the collector's mark phases, not the wheel, made the
// fire lag's p99. Recurring, paused and written-to timers stay loaded.

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

// far reports whether a one-shot due at fireAt belongs in the far tier now.
func (n *Node) isFar(fireAt, now int64) bool {
	return n.cfg.Horizon > 0 && n.far.granule > 0 && fireAt > now+int64(n.cfg.Horizon)+n.far.granule
}

// maybeDemote makes t a far or near entry when it qualifies: a one-shot,
// not paused, alone in the index under its id, armed, with nothing in
// flight. Call with n.mu held.
func (n *Node) maybeDemote(t *timer, now int64) {
	if !t.oneShot() || t.rec.Paused || t.done || t.removed || t.writing > 0 || t.successor != nil ||
		t.storedSeq == 0 || t.progSeq != 0 || t.handle == 0 || n.timers[t.rec.ID] != t {
		return
	}
	n.disarm(t)
	if _, kept, _ := n.addEntry(t.rec, t.shard, t.storedSeq, now, true); !kept {
		n.arm(t)
		return
	}
	delete(n.timers, t.rec.ID)
	t.removed = true // the entry now holds its stored Put
	t.storedSeq = 0
}

// materialize turns far entry i back into a loaded timer, with rec (read
// from the entry's record) as its definition. Call with n.mu held.
func (n *Node) materialize(i uint32, rec *record.Timer, now time.Time) *timer {
	e := n.far.ents[i]
	rec.Revision = e.rev
	t := &timer{rec: rec, shard: int(e.shard), storedSeq: e.seq}
	n.dropEntry(i)
	n.timers[rec.ID] = t
	n.plan(t, now, true)
	return t
}

// promote reads the records of far entries and makes them near (load
// false) or loaded timers. Call without n.mu; entries changed or gone
// meanwhile are skipped.
func (n *Node) promote(ctx context.Context, refs []farRef, load bool) error {
	n.mu.Lock()
	var seqs []uint64
	for _, r := range refs {
		_, near := n.far.near[r.i]
		if e := &n.far.ents[r.i]; e.gen == r.gen && e.idLen != 0 && (load || !near) {
			seqs = append(seqs, e.seq)
		}
	}
	n.mu.Unlock()
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	for _, seq := range seqs {
		ops, err := n.store.ReadRecord(ctx, seq)
		if err != nil {
			return err
		}
		now := time.Now()
		n.mu.Lock()
		for _, op := range lastOps(ops) {
			if op.Kind != record.OpPut {
				continue
			}
			i, ok := n.far.find(op.Timer.ID)
			if !ok || n.far.ents[i].seq != seq {
				continue
			}
			if n.shards[n.far.ents[i].shard].loading {
				n.far.queue(i) // its load arms it; if not, a later pass will
				continue
			}
			if _, near := n.far.near[i]; load {
				n.materialize(i, op.Timer, now)
			} else if !near {
				n.armNear(i, op)
			}
		}
		n.mu.Unlock()
	}
	return nil
}

// lastOps is the last operation of each id in a record: the one a timer
// stored in that record is the result of.
func lastOps(ops []record.Op) []record.Op {
	seen := make(map[string]struct{}, len(ops))
	out := make([]record.Op, 0, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		if _, dup := seen[ops[i].Timer.ID]; !dup {
			seen[ops[i].Timer.ID] = struct{}{}
			out = append(out, ops[i])
		}
	}
	return out
}

// promoteID loads the far timer id, if it is one. It is called with n.mu
// held and returns true with n.mu released (the caller looks again);
// false with n.mu still held when id is not far.
func (n *Node) promoteID(ctx context.Context, id string) (bool, error) {
	i, ok := n.far.find(id)
	if !ok {
		return false, nil
	}
	if _, near := n.far.near[i]; near {
		n.materialize(i, n.nearDef(i), time.Now())
		n.mu.Unlock()
		return true, nil
	}
	r := farRef{i: i, gen: n.far.ents[i].gen}
	n.mu.Unlock()
	if err := n.promote(ctx, []farRef{r}, true); err != nil {
		return true, errorf(api.CodeNotReady, "timer %q could not be read back from the store: %v", id, err)
	}
	return true, nil
}

// promoteLoop loads far timers as they come within the horizon.
func (n *Node) promoteLoop() {
	defer n.stopped.Done()
	period := min(max(time.Duration(n.far.granule)/2, 50*time.Millisecond), time.Second)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var refs []farRef
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		n.mu.Lock()
		refs = n.far.takeDue(time.Now().Add(n.cfg.Horizon).UnixNano(), refs[:0])
		n.mu.Unlock()
		if len(refs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := n.promote(ctx, refs, false)
		cancel()
		if err != nil {
			// Put them back: the next tick tries again.
			n.log.Error("loading timers due within the horizon", "timers", len(refs), "err", err)
			n.mu.Lock()
			for _, r := range refs {
				if e := &n.far.ents[r.i]; e.gen == r.gen && e.idLen != 0 {
					n.far.queue(r.i)
				}
			}
			n.mu.Unlock()
		}
	}
}

// farViews answers the timer objects of entries, in order, from their
// near definitions or by reading their records; entries changed meanwhile
// are left out. Call with n.mu held: it is released while records are read.
func (n *Node) farViews(ctx context.Context, is []uint32) ([]api.Timer, error) {
	type want struct {
		i, gen uint32
		seq    uint64
	}
	out := make([]*api.Timer, len(is))
	wants := make([]want, len(is))
	var seqs []uint64
	for k, i := range is {
		e := &n.far.ents[i]
		wants[k] = want{i: i, gen: e.gen, seq: e.seq}
		if _, near := n.far.near[i]; near {
			v := n.entryView(i, n.nearDef(i))
			out[k] = &v
		} else {
			seqs = append(seqs, e.seq)
		}
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	puts := make(map[uint64]map[string]*record.Timer, len(seqs))
	var err error
	if len(seqs) > 0 {
		n.mu.Unlock()
		for _, seq := range seqs {
			var ops []record.Op
			if ops, err = n.store.ReadRecord(ctx, seq); err != nil {
				break
			}
			m := make(map[string]*record.Timer)
			for _, op := range lastOps(ops) {
				if op.Kind == record.OpPut {
					m[op.Timer.ID] = op.Timer
				}
			}
			puts[seq] = m
		}
		n.mu.Lock()
	}
	if err != nil {
		return nil, errorf(api.CodeNotReady, "timers beyond the horizon could not be read from the store: %v", err)
	}
	views := make([]api.Timer, 0, len(is))
	for k, w := range wants {
		if out[k] != nil {
			views = append(views, *out[k])
			continue
		}
		e := &n.far.ents[w.i]
		if e.gen != w.gen || e.seq != w.seq {
			continue
		}
		if rec := puts[w.seq][string(n.far.id(w.i))]; rec != nil {
			views = append(views, n.entryView(w.i, rec))
		}
	}
	return views, nil
}

// entryView is entry i's timer object, rec its definition.
func (n *Node) entryView(i uint32, rec *record.Timer) api.Timer {
	e := &n.far.ents[i]
	rec.Revision = e.rev
	return n.view(&timer{rec: rec, shard: int(e.shard), next: e.due, fireAt: e.due})
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

// nearEnabled: near entries are kept unless every timer is to stay loaded.
func (n *Node) nearEnabled() bool { return n.cfg.Horizon > 0 }

// armNear makes far entry i near: its definition (op, a Put) is kept in the
// chunk of its due bucket and it is put on the wheel. Call with n.mu held.
func (n *Node) armNear(i uint32, op record.Op) {
	e := &n.far.ents[i]
	n.defScratch = record.AppendOps(n.defScratch[:0], []record.Op{op})
	key := e.due / n.far.granule
	c := n.far.chunks[key]
	if c == nil {
		c = &defChunk{}
		n.far.chunks[key] = c
	}
	ref := nearRef{off: c.put(n.defScratch), size: uint32(len(n.defScratch))}
	ref.handle = n.wheel.Add(e.due, nearFlag|uint64(i))
	n.far.near[i] = ref
	n.poke(e.due)
}

// nearDef decodes near entry i's definition (a new copy each call).
func (n *Node) nearDef(i uint32) *record.Timer {
	ref := n.far.near[i]
	def := n.far.chunks[n.far.ents[i].due/n.far.granule].get(ref.off, ref.size)
	ops, err := record.DecodeOps(def)
	if err != nil || len(ops) != 1 {
		panic(fmt.Sprintf("node: near definition of %q does not decode: %v", n.far.id(i), err)) // our own encoding
	}
	return ops[0].Timer
}

// takeNear removes entry i's near state (not its wheel entry: the caller
// cancelled it or the wheel handed it out) and returns its definition.
func (n *Node) takeNear(i uint32) *record.Timer {
	rec := n.nearDef(i)
	delete(n.far.near, i)
	key := n.far.ents[i].due / n.far.granule
	if c := n.far.chunks[key]; c.live == 1 {
		delete(n.far.chunks, key)
	} else {
		c.live--
	}
	return rec
}

// dropEntry removes entry i from the tiers, off the wheel if near. Its
// record bookkeeping is the caller's. Call with n.mu held.
func (n *Node) dropEntry(i uint32) {
	if ref, ok := n.far.near[i]; ok {
		n.wheel.Cancel(ref.handle)
		n.takeNear(i)
	}
	n.far.remove(i)
}

// addEntry keeps the stored one-shot rec (its Put in record seq) as an
// entry if it qualifies (kept false: it is to be loaded). Due within the
// horizon, the entry is made near when arm is set, and near says so.
// Call with n.mu held.
func (n *Node) addEntry(rec *record.Timer, shard int, seq uint64, now int64, arm bool) (i uint32, kept, near bool) {
	if rec.Kind.Recurring() || rec.Paused || !n.nearEnabled() {
		return 0, false, false
	}
	near = !n.isFar(rec.Due, now)
	if !n.far.add(rec.ID, shard, seq, rec.Revision, rec.ReqHash, rec.Due, !near) {
		return 0, false, false
	}
	i, _ = n.far.find(rec.ID)
	if near && arm {
		n.armNear(i, record.Op{Kind: record.OpPut, Timer: rec})
	}
	return i, true, near
}

// dueNear turns the near entry i the wheel handed out into a loaded timer,
// due now. Call with n.mu held.
func (n *Node) dueNear(i uint32) *timer {
	rec := n.takeNear(i)
	e := n.far.ents[i]
	rec.Revision = e.rev
	t := &timer{rec: rec, shard: int(e.shard), storedSeq: e.seq, next: rec.Due, fireAt: rec.Due}
	n.far.remove(i)
	n.timers[rec.ID] = t
	return t
}
