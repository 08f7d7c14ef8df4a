package shard

import (
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Housekeeping: what the shard records and tidies between fires. The
// driver calls these every mark interval; none of them walks the table.

const (
	// A shard's dead records at its head are purged once purgeMinRecords
	// of them have gathered, else every purgeEvery checkpoints (a round)
	// or when a checkpoint is forced: a purge by prefix is a request the
	// server serves with a pass over the shard's blocks. Dead records
	// behind a live one are removed one by one at a round, once they have
	// been dead for a whole round (records.collect).
	purgeMinRecords = 64
	purgeEvery      = 10
)

// Checkpoint records what happened since the last one: the progress of
// recurring timers that fired (an operation each, grouped in the next
// record), a mark when one-shots completed (what fired, without a write per
// timer), and a purge of the records nothing lives in any more. final
// forces a mark and a purge (a clean stop or a hand-off).
func (s *Shard) Checkpoint(now int64, final bool) {
	if s.loading || s.broken != nil {
		return
	}
	kept := s.dirty[:0]
	for _, r := range s.dirty {
		e, live := s.tab.live(r)
		if !live || (e.loc != locLoaded && e.loc != locFiring) {
			continue
		}
		o := s.tab.obj(r.i)
		if !o.dirty || o.oneShot() {
			continue
		}
		if e.writing > 0 {
			kept = append(kept, r) // next time: a write in flight may carry it
			continue
		}
		o.dirty = false
		s.write(pendingOp{op: record.Op{Kind: record.OpProgress, Timer: &record.Timer{ID: o.rec.ID, Fires: o.ackedFires, LastNominal: o.ackedNominal}},
			ref: r, kind: opProgress})
	}
	clear(s.dirty[len(kept):])
	s.dirty = kept

	if !s.markPending && (s.firedSince || final) {
		m := store.Mark{Through: s.lowWater(now) - 1, Seq: s.recs.acked}
		// Each mark must hold on its own: a one-shot stored after the last
		// mark may be due before its Through, so Through can go back (a
		// restart then fires again, deduplicated, what lies between).
		if m.Through != s.mark.Through || m.Seq != s.mark.Seq {
			s.out.Mark = &m
			s.markPending = true
		}
		s.firedSince = false
	}
	s.checkpoints++
	if !s.purgePending {
		// Every purgeEvery checkpoints even a few dead records go, so a
		// quiet shard does not keep them forever.
		if s.recs.collect(final, s.checkpoints%purgeEvery == 0, purgeMinRecords) {
			s.out.PurgeBelow, s.out.Deletes = s.recs.below, s.recs.deletes
			s.purgePending = true
		}
	}
}

// lowWater is a lower bound of the nominal time of every one-shot of the
// shard that is stored and has not fired: armed ones (the wheel's next
// entry, less the largest jitter), far ones, ones being read in for the
// horizon, and fires not yet acknowledged.
func (s *Shard) lowWater(now int64) int64 {
	low := now
	if next, ok := s.wheel.Next(); ok {
		low = min(low, next-s.maxJitter)
	}
	if due, ok := s.tab.farMin(); ok {
		low = min(low, due)
	}
	if s.promoting > 0 {
		low = min(low, s.promoteLow)
	}
	for _, f := range s.fires {
		if f.obj.oneShot() {
			low = min(low, f.nominal)
		}
	}
	// A cancel or pause disarms at once; until it is stored the timer is
	// still pending as far as the store knows.
	stopping := func(ps []pendingOp) {
		for _, p := range ps {
			if p.kind != opCancel && p.kind != opPause {
				continue
			}
			if e, live := s.tab.live(p.ref); live && !e.kind.Recurring() && e.loc != locFired {
				low = min(low, e.due)
			}
		}
	}
	stopping(s.queue)
	for _, g := range s.inflight {
		stopping(g)
	}
	return low
}

// MarkWritten takes the outcome of writing mark m.
func (s *Shard) MarkWritten(m store.Mark, err error) {
	s.markPending = false
	if err != nil {
		s.firedSince = true // try again next time
		return
	}
	s.mark = m
}

// Purged takes the outcome of the purge the last Ready asked for
// (PurgeBelow and Deletes): on an error it is asked for again at the next
// checkpoint.
func (s *Shard) Purged(err error) {
	s.purgePending = false
	s.recs.purged(err)
}

// Forget drops the fired one-shots remembered for longer than KeepFired.
func (s *Shard) Forget(now int64) {
	keep := int64(s.cfg.KeepFired)
	q := s.tab.firedQ
	k := 0
	for ; k < len(q) && q[k].at+keep <= now; k++ {
		if e, live := s.tab.live(q[k].ref); live && e.loc == locFired && e.writing == 0 {
			s.forget(q[k].ref.i)
		}
	}
	if k > 0 {
		s.tab.firedQ = append(q[:0], q[k:]...)
	}
}

// Promote reads in the far entries that come within the horizon by now:
// their records are read and they become near entries.
func (s *Shard) Promote(now int64) {
	if s.loading || s.broken != nil || s.tab.horizon <= 0 {
		return
	}
	s.scratch = s.tab.takeFar(now+s.tab.horizon, s.scratch[:0])
	if len(s.scratch) == 0 {
		return
	}
	bySeq := make(map[uint64][]entryRef)
	var seqs []uint64
	for _, r := range s.scratch {
		e := &s.tab.ents[r.i]
		if s.promoting == 0 || e.due < s.promoteLow {
			s.promoteLow = e.due
		}
		if _, ok := bySeq[e.seq]; !ok {
			seqs = append(seqs, e.seq)
		}
		bySeq[e.seq] = append(bySeq[e.seq], r)
	}
	for _, seq := range seqs {
		s.promoting++
		s.read(seq, readWaiter{promote: true, refs: bySeq[seq]})
	}
}

// promoted makes the far entries whose Put is in record seq near.
func (s *Shard) promoted(seq uint64, ops []record.Op, now int64) {
	s.promoting--
	for _, op := range ops {
		if op.Kind != record.OpPut {
			continue
		}
		i, ok := s.tab.find(op.Timer.ID)
		if !ok || s.tab.ents[i].loc != locFar || s.tab.ents[i].seq != seq {
			continue
		}
		e := &s.tab.ents[i]
		op.Timer.Revision = e.rev
		e.loc = locFree
		s.counts.Far--
		s.makeNear(i, op.Timer)
	}
}

// promoteFailed puts the far entries of a failed read back in their
// buckets: a later pass reads them again.
func (s *Shard) promoteFailed(refs []entryRef) {
	s.promoting--
	for _, r := range refs {
		if e, live := s.tab.live(r); live && e.loc == locFar {
			s.tab.queueFar(r.i)
		}
	}
}
