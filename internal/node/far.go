package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// Far and near entries. A one-shot due beyond the horizon (Config.Horizon)
// is not a timer object with its definition, payload and wheel entry but a
// far entry (entries.go): its id, the record holding its Put, due time,
// revision and request hash, about 110 bytes with the index. The promote
// loop reads definitions back from their group records by sequence shortly
// before they come within the horizon; an operation that changes such a
// timer (replace, cancel, pause, resume, trigger) reads it back first; get
// and list read records without keeping what they read.
//
// Within the horizon a plain one-shot is a near entry: the same entry,
// armed on the wheel, with its definition encoded in a pointer-free chunk
// of its due bucket. It becomes a timer object only when it is due or an
// operation touches it, so the heap the garbage collector scans holds only
// recurring, paused and in-flight timers: with a million loaded one-shots,
// the collector's mark phases made the fire lag's p99.

// isFar reports whether a one-shot due at fireAt is to be a far entry now.
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
