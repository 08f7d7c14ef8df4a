package node

import (
	"context"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
)

// ShardOf is the shard of a timer id: xxhash of the id modulo the shard count.
func ShardOf(id string, shards int) int {
	return int(xxhash.Sum64String(id) % uint64(shards))
}

// load (re)builds the given shards from the store: marks first, then every
// group record in stream order, then each surviving timer is put on the wheel.
// One-shots the mark shows as fired are dropped; recurring timers catch up
// per their misfire policy.
func (n *Node) load(ctx context.Context, shards []int) error {
	n.mu.Lock()
	for _, id := range shards {
		s := n.shards[id]
		s.loading = true
		for tid, t := range n.timers {
			if t.shard == id {
				n.disarm(t)
				t.removed = true
				delete(n.timers, tid)
			}
		}
		for i := range n.far.ents {
			if e := &n.far.ents[i]; e.idLen != 0 && int(e.shard) == id {
				n.dropEntry(uint32(i))
			}
		}
		s.reset()
	}
	n.mu.Unlock()
	for _, id := range shards {
		m, err := n.store.ReadMark(ctx, id)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.shards[id].mark = m
		n.mu.Unlock()
	}
	// Replay builds into a private index first: the records are applied
	// under the lock in chunks so API calls on other shards go on meanwhile.
	// One-shots due beyond the horizon go to the far tier (far.go) as they
	// are read, so a load never holds every definition at once.
	loaded := make(map[string]*timer)
	horizonFrom := time.Now().UnixNano()
	// Near entries are armed once the replay is done: a later operation of
	// the replay may still delete or replace them.
	type nearLater struct {
		i, gen uint32
		seq    uint64
		op     record.Op
	}
	var near []nearLater
	err := n.store.Replay(ctx, shards, func(sh int, seq uint64, ops []record.Op) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		s := n.shards[sh]
		for _, op := range ops {
			id := op.Timer.ID
			t := loaded[id]
			if i, ok := n.far.find(id); ok && t == nil {
				// Stored in the far tier: a put or delete supersedes it.
				if op.Kind == record.OpProgress {
					continue
				}
				stub := timer{storedSeq: n.far.ents[i].seq}
				n.dropEntry(i)
				if op.Kind == record.OpDelete {
					s.applyStored(&stub, seq, record.OpDelete)
					continue
				}
				s.release(&stub)
			}
			switch op.Kind {
			case record.OpPut:
				r := op.Timer
				if r.Revision == 0 {
					r.Revision = seq
				}
				fired := r.Due <= s.mark.Through && seq <= s.mark.Seq // dropped at the end
				if !r.Kind.Recurring() && !r.Paused && !fired && n.nearEnabled() {
					if t != nil {
						s.release(t)
						delete(loaded, id)
					}
					var stub timer
					s.applyStored(&stub, seq, record.OpPut)
					if i, kept, isNear := n.addEntry(r, sh, seq, horizonFrom, false); kept {
						if isNear {
							near = append(near, nearLater{i: i, gen: n.far.ents[i].gen, seq: seq, op: op})
						}
						continue
					}
					s.release(&stub) // not kept as an entry: load it
					t = nil
				}
				if t == nil {
					t = &timer{shard: sh}
					loaded[id] = t
				}
				t.rec = r
			case record.OpDelete:
				if t == nil {
					continue
				}
				delete(loaded, id)
			case record.OpProgress:
				if t == nil {
					continue
				}
				t.rec.Fires, t.rec.LastNominal = op.Timer.Fires, op.Timer.LastNominal
			}
			s.applyStored(t, seq, op.Kind)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load shards: %w", err)
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	// Until when this shard's recurring timers may have fired unrecorded:
	// at start, the previous lease holder's last sign of life; on a reload,
	// now (this node fired until now).
	replayThrough := n.prevAlive
	if n.ready {
		replayThrough = now.UnixNano()
	}
	for _, p := range near {
		if _, armed := n.far.near[p.i]; !armed && n.far.ents[p.i].gen == p.gen && n.far.ents[p.i].seq == p.seq {
			n.armNear(p.i, p.op)
		}
	}
	for id, t := range loaded {
		s := n.shards[t.shard]
		r := t.rec
		if !r.Kind.Recurring() && !r.Paused && t.storedSeq <= s.mark.Seq && r.Due <= s.mark.Through {
			s.release(t) // fired before the mark was written
			continue
		}
		if err := n.compile(t); err != nil {
			// A stored spec that no longer compiles (a zone removed from the
			// tz database, say) must not stop the node; keep it visible.
			n.log.Error("stored timer cannot be scheduled", "id", id, "err", err)
		}
		t.fires, t.ackedFires, t.ackedNominal = r.Fires, r.Fires, r.LastNominal
		if r.Kind.Recurring() {
			t.replayThrough = min(replayThrough, now.UnixNano())
		}
		n.timers[id] = t
		n.plan(t, now, true)
	}
	for _, id := range shards {
		n.shards[id].loading = false
	}
	return nil
}

// compile prepares t's recurring schedule. Call with n.mu held.
func (n *Node) compile(t *timer) error {
	if !t.rec.Kind.Recurring() {
		return nil
	}
	sched, err := cronfeed.Compile(SpecOf(t.rec))
	if err != nil {
		return err
	}
	t.sched = sched
	return nil
}

// SpecOf is the cronfeed spec of a stored recurring timer.
func SpecOf(r *record.Timer) cronfeed.Spec {
	s := cronfeed.Spec{Zone: r.TimeZone, Created: time.Unix(0, r.Created)}
	if r.Kind == record.KindCron {
		s.Cron = r.Spec
	} else {
		s.Repeat = r.Spec
	}
	if r.Start != 0 {
		s.Start = time.Unix(0, r.Start)
	}
	if r.End != 0 {
		s.End = time.Unix(0, r.End)
	}
	return s
}
