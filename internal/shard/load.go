package shard

import (
	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Loading a shard: Loading with its mark, Apply for every record in
// stream order, then Loaded. Nothing is armed until Loaded: a later record
// may still replace or delete what an earlier one put.

// Loading starts (or restarts) a load: the shard answers 503 until Loaded.
func (s *Shard) Loading(m store.Mark) {
	s.loading = true
	s.mark = m
}

// Apply replays record seq of the shard.
func (s *Shard) Apply(seq uint64, ops []record.Op) {
	s.recs.add(seq)
	for _, op := range ops {
		id := op.Timer.ID
		i, found := s.tab.find(id)
		switch op.Kind {
		case record.OpPut:
			r := op.Timer
			if r.Revision == 0 {
				r.Revision = seq
			}
			var old uint64
			if found {
				old = s.tab.ents[i].seq
				s.release(i)
				s.leave(i)
			}
			// One-shots the mark shows as fired are dropped at Loaded: a
			// later OpFailed may say this one was set aside instead.
			if !found {
				i = s.tab.add(id, r.Kind, locFree)
			}
			e := &s.tab.ents[i]
			e.seq, e.rev, e.reqHash, e.kind = seq, r.Revision, r.ReqHash, r.Kind
			s.recs.hold(seq)
			s.recs.guards(old, seq)
			if !r.Kind.Recurring() {
				e.due = r.Due
			}
			if s.entryQualifies(r) {
				// Far or near is decided at Loaded; keep the definition
				// encoded meanwhile, not as an object.
				s.tab.putNear(i, op, 0)
				s.counts.Near++
				if r.Jitter > 0 {
					if s.jittered == nil {
						s.jittered = map[uint32]bool{}
					}
					s.jittered[i] = true
				} else if s.jittered != nil {
					delete(s.jittered, i) // an entry a replace or a delete freed
				}
				continue
			}
			o := &object{rec: r, fires: r.Fires, ackedFires: r.Fires, ackedNominal: r.LastNominal, lastHanded: r.LastNominal}
			s.tab.setObject(i, o)
			e.loc = locLoaded
			s.counts.Loaded++
		case record.OpDelete:
			if found {
				s.recs.guards(s.tab.ents[i].seq, seq)
				s.release(i)
				s.leave(i)
				s.tab.remove(i)
			}
		case record.OpFailed:
			if !found {
				continue
			}
			e := &s.tab.ents[i]
			var o *object
			switch e.loc {
			case locNear: // a plain one-shot so far: load it to hold its failure
				rec := decodeDef(s.tab.nearDef(i))
				rec.Revision = e.rev
				s.leave(i)
				o = &object{rec: rec}
				s.tab.setObject(i, o)
				e.loc = locLoaded
				s.counts.Loaded++
			case locLoaded:
				o = s.tab.obj(i)
			default:
				continue
			}
			cp := *o.rec
			cp.Failed = op.Timer.Failed
			o.rec = &cp
			if o.failSeq != 0 {
				s.recs.drop(o.failSeq)
			}
			o.failSeq = seq
			s.recs.hold(seq)
		case record.OpProgress:
			if !found || s.tab.ents[i].loc != locLoaded {
				continue // the timer is gone: a replay ignores its progress
			}
			o := s.tab.obj(i)
			if !o.rec.Kind.Recurring() {
				continue
			}
			o.fires, o.ackedFires = op.Timer.Fires, op.Timer.Fires
			o.ackedNominal, o.lastHanded = op.Timer.LastNominal, op.Timer.LastNominal
			if o.progSeq != 0 {
				s.recs.drop(o.progSeq)
			}
			o.progSeq = seq
			s.recs.hold(seq)
		}
	}
	s.recs.settled(seq)
}

// markedFired says entry i, being loaded, is a one-shot that fired before
// the shard's mark was written: its Put is in a record <= Mark.Seq and it
// was due <= Mark.Through (paused and set-aside ones never count as fired).
func (s *Shard) markedFired(i uint32) bool {
	e := &s.tab.ents[i]
	if e.kind.Recurring() || e.seq > s.mark.Seq || e.due > s.mark.Through {
		return false
	}
	switch e.loc {
	case locNear:
		return true
	case locLoaded:
		r := s.tab.obj(i).rec
		return !r.Paused && r.Failed == ""
	}
	return false
}

// Loaded ends a load at now: entries are armed, recurring timers catch up
// per their misfire policy. Occurrences of recurring timers up to
// replayThrough (Unix ns; the previous owner's last sign of life) may have
// fired already: they are fired again exactly as they were (same
// Timer-Fire, same dedup id) rather than treated as misfires. This is the
// one walk over the shard's table, before it serves anything.
func (s *Shard) Loaded(now, replayThrough int64) {
	for i := range s.tab.ents {
		e := &s.tab.ents[i]
		if e.loc == locFree {
			continue
		}
		if s.markedFired(uint32(i)) {
			s.release(uint32(i))
			s.leave(uint32(i))
			s.tab.remove(uint32(i))
			continue
		}
		s.countTimer(uint32(i), e.kind)
		switch e.loc {
		case locNear:
			// A near entry's due is its definition's; only a jitter needs
			// the definition itself (decoding every one took a quarter of
			// a 2M load).
			due, maxJitter, j := e.due, int64(0), int64(0)
			if s.jittered[uint32(i)] {
				rec := decodeDef(s.tab.nearDef(uint32(i)))
				maxJitter, j = rec.Jitter, jitterOf(rec, rec.Due)
			}
			if s.tab.isFar(due+maxJitter, now) {
				s.tab.dropNear(uint32(i))
				s.counts.Near--
				e.loc = locFar
				s.tab.queueFar(uint32(i))
				s.counts.Far++
				continue
			}
			s.tab.nears[e.aux].handle = s.arm(uint32(i), due+j, j)
		case locLoaded:
			o := s.tab.obj(uint32(i))
			if o.rec.Kind.Recurring() {
				o.replayThrough = min(replayThrough, now)
			}
			s.tab.dropObject(uint32(i))
			e.loc = locFree
			s.counts.Loaded--
			s.place(uint32(i), o.rec, o, now, true)
		}
	}
	s.loading, s.jittered = false, nil
}

// Unload ends the shard on this node (handed off, fenced, or reloading):
// every armed entry and retry leaves the wheel, and requests waiting on it
// are answered 503. The shard must not be used after.
func (s *Shard) Unload(why string) {
	for i := range s.tab.ents {
		s.disarm(uint32(i))
	}
	for _, f := range s.fires {
		if f.retry != 0 {
			s.wheel.Cancel(f.retry)
		}
		if f.hasTok {
			s.fail(f.trigger, api.Errorf(api.CodeNotReady, "timer %q: %s; retry", f.rec.ID, why))
		}
	}
	notReady := api.Errorf(api.CodeNotReady, "the timer's shard %d %s; retry shortly", s.cfg.ID, why)
	for _, g := range s.inflight {
		for _, p := range g {
			if p.hasTok {
				s.fail(p.tok, notReady)
			}
		}
	}
	for _, p := range s.queue {
		if p.hasTok {
			s.fail(p.tok, notReady)
		}
	}
	for _, ws := range s.reading {
		for _, w := range ws {
			if w.hasTok {
				s.fail(w.tok, notReady)
			}
		}
	}
	s.loading = true // parked requests run again and are refused
	parked := s.parked
	s.inflight, s.queue, s.reading, s.parked = map[uint64][]pendingOp{}, nil, map[uint64][]readWaiter{}, map[uint32][]func(int64){}
	for _, fns := range parked {
		for _, fn := range fns {
			fn(0)
		}
	}
}

// MarkPending reports whether a mark is being written.
func (s *Shard) MarkPending() bool { return s.markPending }

// FiresInFlight is the number of fires handed out and not yet acknowledged.
func (s *Shard) FiresInFlight() int { return len(s.fires) }
