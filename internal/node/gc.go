package node

import (
	"context"
	"time"

	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/record"
)

// housekeeping runs every MarkInterval: shard marks, recurring progress,
// purging of dead records, forgetting fired one-shots, and shard reloads
// after a failed write.
func (n *Node) housekeeping() {
	defer n.stopped.Done()
	tick := time.NewTicker(n.cfg.MarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case shard := <-n.reload:
			n.reloadShard(shard)
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			n.checkpoint(ctx, false)
			n.compact(ctx)
			cancel()
			n.mu.Lock()
			n.recent.rotate(time.Now().UnixNano(), n.cfg.KeepFired)
			n.mu.Unlock()
		}
	}
}

func (n *Node) reloadShard(shard int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Writes in flight must land (or fail) first, so the replay sees the
	// store as it will stay.
	if err := n.store.Drain(ctx); err != nil {
		n.log.Error("reload: store writes did not settle", "shard", shard, "err", err)
	}
	for {
		err := n.load(ctx, []int{shard})
		if err == nil {
			n.log.Info("shard reloaded from the store", "shard", shard)
			return
		}
		n.log.Error("reloading shard failed; retrying", "shard", shard, "err", err)
		select {
		case <-n.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

type markWrite struct {
	shard int
	mark  jetstream.Mark
}

// checkpoint records what has happened since the last one: a mark for each
// shard where one-shots completed (what fired, without a write per timer),
// the progress of recurring timers that fired (one small operation per
// timer, grouped per shard), and purges of records nothing lives in any more.
// final writes every mark and waits for the writes.
func (n *Node) checkpoint(ctx context.Context, final bool) {
	now := time.Now().UnixNano()
	var marks []markWrite
	var purges []markWrite
	var waits []<-chan outcome

	n.mu.Lock()
	low := now
	if next, ok := n.wheel.Next(); ok {
		low = min(low, next-n.maxJitter)
	}
	if due, ok := n.far.minDue(); ok {
		low = min(low, due)
	}
	shardLow := make([]int64, len(n.shards))
	for i := range shardLow {
		shardLow[i] = low
	}
	for _, f := range n.inflight {
		shardLow[f.shard] = min(shardLow[f.shard], f.nominal)
	}
	for i, s := range n.shards {
		if s.loading {
			continue
		}
		if s.firedSince || (final && s.acked > 0) {
			// Every one-shot of a record <= acked is on the wheel, in flight,
			// paused, or fired; none not fired is due at or before Through.
			m := jetstream.Mark{Through: shardLow[i] - 1, Seq: s.acked}
			if m.Through > s.mark.Through || m.Seq > s.mark.Seq {
				marks = append(marks, markWrite{shard: i, mark: m})
				s.mark = m
			}
			s.firedSince = false
		}
		if below := s.collect(final || n.checkpoints%purgeEvery == 0); below > 0 {
			purges = append(purges, markWrite{shard: i, mark: jetstream.Mark{Seq: below}})
		}
	}
	n.checkpoints++
	for _, t := range n.dirty {
		t.dirty = false
		if t.removed || t.writing > 0 {
			continue // gone, or a write in flight will carry fresher state
		}
		waits = append(waits, n.write(ctx, t, record.OpProgress,
			&record.Timer{ID: t.rec.ID, Fires: t.ackedFires, LastNominal: t.ackedNominal}, nil))
	}
	clear(n.dirty)
	n.dirty = n.dirty[:0]
	n.mu.Unlock()

	// A mark covers plain publishes too: they must have reached the server.
	if len(marks) > 0 {
		if err := n.fires.Flush(ctx); err != nil {
			n.log.Warn("flushing fires before marks; marks not written", "err", err)
			n.mu.Lock()
			for _, m := range marks {
				n.shards[m.shard].firedSince = true // try again next time
			}
			n.mu.Unlock()
			marks = nil
		}
	}
	markDone := make(chan error, len(marks))
	for _, m := range marks {
		n.store.WriteMark(ctx, m.shard, m.mark, func(err error) { markDone <- err })
	}
	for _, p := range purges {
		if err := n.store.PurgeBelow(ctx, p.shard, p.mark.Seq); err != nil {
			n.log.Warn("purging dead records", "shard", p.shard, "err", err)
		}
	}
	if !final {
		return // the acks arrive on their own; a failed mark is rewritten next time
	}
	for range marks {
		if err := <-markDone; err != nil {
			n.log.Warn("writing shard mark", "err", err)
		}
	}
	for _, w := range waits {
		<-w
	}
}

// Compaction bounds dead records: a long-lived timer in an old record keeps
// every later record of its shard from being purged (purge works below the
// oldest live record). When at least compactMinDead records of a shard are
// dead and they are at least half of its records, the live operations of
// its older half are rewritten (same state, same revision) so that half can
// go. Candidates are found by reading those records back, not by walking
// the index, and the lock is held one record at a time.
const (
	// A shard's dead records are purged once purgeMinRecords of them have
	// gathered, else every purgeEvery checkpoints: a purge is a request the
	// server serves with a pass over the shard's subjects.
	purgeMinRecords = 64
	purgeEvery      = 10
	compactMinDead  = 128
	compactMaxOps   = 20000 // rewrites per pass, to keep a pass short
	// A one-shot due this soon is not rewritten: its fire frees its record.
	compactSkipDue = time.Minute
	// A shard is compacted at most this often: records holding only timers
	// due soon are not read again every second.
	compactPause = 5 * time.Second
)

// compact rewrites the live operations held in old records of the shards
// that need it. Call without n.mu.
func (n *Node) compact(ctx context.Context) {
	n.mu.Lock()
	var seqs []uint64
	ops := 0
	now := time.Now()
	for _, s := range n.shards {
		if s.loading || s.dead < compactMinDead || 2*s.dead < len(s.order) || now.Before(s.compactAfter) || ops >= compactMaxOps {
			continue
		}
		s.compactAfter = now.Add(compactPause)
		cutoff := s.order[len(s.order)/2]
		for _, seq := range s.order {
			if seq >= cutoff || ops >= compactMaxOps {
				break
			}
			if live := s.live[seq]; live > 0 {
				seqs = append(seqs, seq)
				ops += int(live)
			}
		}
	}
	n.mu.Unlock()
	for _, seq := range seqs {
		recOps, err := n.store.ReadRecord(ctx, seq)
		if err != nil {
			n.log.Warn("compaction: reading a record back", "seq", seq, "err", err)
			return
		}
		n.mu.Lock()
		n.rewriteLive(ctx, seq, lastOps(recOps))
		n.mu.Unlock()
	}
}

// rewriteLive stores again the timers whose live operations are in record
// seq (ops: its last operation per id). Call with n.mu held.
func (n *Node) rewriteLive(ctx context.Context, seq uint64, ops []record.Op) {
	soon := time.Now().Add(compactSkipDue).UnixNano()
	for _, op := range ops {
		id := op.Timer.ID
		if i, ok := n.far.find(id); ok {
			e := &n.far.ents[i]
			if _, near := n.far.near[i]; near && e.due < soon {
				continue
			}
			if e.seq == seq && op.Kind == record.OpPut && !n.shards[e.shard].loading {
				n.rewriteFar(ctx, i, op.Timer)
			}
			continue
		}
		t := n.timers[id]
		if t == nil || t.done || t.writing > 0 || n.shards[t.shard].loading || (t.storedSeq != seq && t.progSeq != seq) {
			continue
		}
		if t.oneShot() && t.fireAt != 0 && t.fireAt < soon {
			continue
		}
		cp := *t.rec // keeps Revision: clients see no change
		cp.Fires, cp.LastNominal = t.ackedFires, t.ackedNominal
		n.write(ctx, t, record.OpPut, &cp, nil)
		n.counts.compacted.Add(1)
	}
}

// rewriteFar stores far entry i's definition again. Called with n.mu held,
// like every write, so writes reach the store in the order they were decided.
func (n *Node) rewriteFar(ctx context.Context, i uint32, rec *record.Timer) {
	e := n.far.ents[i]
	rec.Revision = e.rev // clients see no change
	shard := int(e.shard)
	n.counts.compacted.Add(1)
	n.store.Write(ctx, shard, []record.Op{{Kind: record.OpPut, Timer: rec}}, func(seq uint64, err error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		s := n.shards[shard]
		switch {
		case err != nil:
			n.log.Error("store write failed; reloading the shard", "shard", shard, "id", rec.ID, "err", err)
			n.requestReload(shard)
		case s.loading:
		default:
			// The entry moves to the new record. If it left the far tier
			// meanwhile, the old record stays its holder: this copy is older
			// than anything written for it since, so a replay is not misled.
			if cur := &n.far.ents[i]; cur.gen == e.gen && cur.seq == e.seq {
				stub := timer{storedSeq: e.seq}
				s.applyStored(&stub, seq, record.OpPut)
				cur.seq = stub.storedSeq
			} else {
				s.addRecord(seq)
			}
		}
	})
}

// misfireName is the protocol's name of a stored misfire policy.
func misfireName(m uint8) string {
	switch cronfeed.Misfire(m) {
	case cronfeed.MisfireSkip:
		return "skip"
	case cronfeed.MisfireAll:
		return "all"
	}
	return "once"
}
