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
			cancel()
			n.forgetFired(time.Now().UnixNano())
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
		if below := s.collect(); below > 0 {
			purges = append(purges, markWrite{shard: i, mark: jetstream.Mark{Seq: below}})
		}
	}
	waits = append(waits, n.compact(ctx)...)
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
// dead and they are at least half of its records, the live operations of its
// older half are rewritten (same state, same revision) so that half can go.
const (
	compactMinDead = 128
	compactMaxOps  = 20000 // rewrites per pass, to keep a pass short
)

// compact rewrites the live timers held in old records of shards that need
// it. Call with n.mu held.
func (n *Node) compact(ctx context.Context) []<-chan outcome {
	cutoff := make([]uint64, len(n.shards))
	any := false
	for i, s := range n.shards {
		if !s.loading && s.dead >= compactMinDead && 2*s.dead >= len(s.order) {
			cutoff[i] = s.order[len(s.order)/2]
			any = true
		}
	}
	if !any {
		return nil
	}
	var waits []<-chan outcome
	for id, t := range n.timers {
		c := cutoff[t.shard]
		if c == 0 || t.done || t.writing > 0 || n.timers[id] != t {
			continue
		}
		if (t.storedSeq == 0 || t.storedSeq >= c) && (t.progSeq == 0 || t.progSeq >= c) {
			continue
		}
		cp := *t.rec // keeps Revision: clients see no change
		cp.Fires, cp.LastNominal = t.ackedFires, t.ackedNominal
		waits = append(waits, n.write(ctx, t, record.OpPut, &cp, nil))
		if len(waits) == compactMaxOps {
			break
		}
	}
	n.counts.compacted.Add(uint64(len(waits)))
	return waits
}

// forgetFired drops fired one-shots kept past KeepFired.
func (n *Node) forgetFired(now int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := 0
	for ; i < len(n.expiring) && n.expiring[i].expires <= now; i++ {
		t := n.expiring[i]
		if n.timers[t.rec.ID] == t {
			delete(n.timers, t.rec.ID)
		}
		t.removed = true
	}
	clear(n.expiring[:i])
	n.expiring = n.expiring[i:]
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
