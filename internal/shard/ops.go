package shard

import (
	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// Request is a validated timerd.schedule (or batch element).
type Request struct {
	// Timer holds the definition: ID, Subject, Kind, Spec and options, Due
	// for one-shots, Created, ReqHash, Headers, Payload.
	Timer            *record.Timer
	Replace          bool
	ExpectedRevision uint64
	HasExpected      bool
	// DryRun: validated only; the service answers Preview and nothing is
	// stored. A core never sees one.
	DryRun bool
}

// CallOptions are the options of cancel, pause and resume.
type CallOptions struct {
	ExpectedRevision uint64
	HasExpected      bool
}

func notFound(id string) *api.Error {
	return api.Errorf(api.CodeNotFound, "no timer with Timer-Id %q", id)
}

func alreadyFired(id string) *api.Error {
	return api.Errorf(api.CodeNotFound, "timer %q has already fired", id)
}

func conflict(id string) *api.Error {
	return api.Errorf(api.CodeConflict, "timer %q already exists with a different request; send Timer-Replace: true to replace it", id)
}

func revisionConflict(id string, want, have uint64) *api.Error {
	return api.Errorf(api.CodeConflict, "Timer-Expected-Revision %d: timer %q is at revision %d", want, id, have)
}

// Schedule creates or replaces a timer; the reply comes once it is stored.
// An identical retry is answered at once with the timer as it is.
func (s *Shard) Schedule(now int64, tok Token, req Request) {
	if s.refuse(tok) {
		return
	}
	rec := req.Timer
	i, found := s.tab.find(rec.ID)
	if !found {
		if req.HasExpected {
			s.fail(tok, api.Errorf(api.CodeConflict, "Timer-Expected-Revision %d: timer %q does not exist", req.ExpectedRevision, rec.ID))
			return
		}
		i = s.tab.add(rec.ID, rec.Kind, locLoaded)
		s.tab.setObject(i, &object{})
		s.counts.Loaded++
		s.write(pendingOp{op: record.Op{Kind: record.OpPut, Timer: rec}, ref: s.tab.ref(i), kind: opCreate, tok: tok, hasTok: true, created: true})
		return
	}
	e := &s.tab.ents[i]
	if e.writing > 0 {
		s.park(i, func(now int64) { s.Schedule(now, tok, req) })
		return
	}
	if e.reqHash == rec.ReqHash {
		s.reply(tok, api.ScheduleReply{ID: rec.ID, Revision: e.rev, Next: s.nextText(i, now)})
		return
	}
	fired := e.loc == locFired
	if !fired && !req.Replace {
		s.fail(tok, conflict(rec.ID))
		return
	}
	if req.HasExpected && e.rev != req.ExpectedRevision {
		s.fail(tok, revisionConflict(rec.ID, req.ExpectedRevision, e.rev))
		return
	}
	s.write(pendingOp{op: record.Op{Kind: record.OpPut, Timer: rec}, ref: s.tab.ref(i), kind: opCreate, tok: tok, hasTok: true, created: fired})
}

// Retried answers an identical retry of the request with hash reqHash that
// made timer id (a request that was valid when first sent may fail
// validation now: its start passed, say). The reply's Value is nil when id
// was not made by that request.
func (s *Shard) Retried(now int64, tok Token, id string, reqHash uint64) {
	if s.refuse(tok) {
		return
	}
	i, found := s.tab.find(id)
	if !found {
		s.reply(tok, nil)
		return
	}
	if s.tab.ents[i].writing > 0 {
		s.park(i, func(now int64) { s.Retried(now, tok, id, reqHash) })
		return
	}
	if e := &s.tab.ents[i]; e.reqHash != reqHash || e.seq == 0 && e.loc != locFired {
		s.reply(tok, nil)
		return
	}
	s.reply(tok, api.ScheduleReply{ID: id, Revision: s.tab.ents[i].rev, Next: s.nextText(i, now)})
}

// resolve finds id's entry for an operation. It parks the call (retry)
// while a write of the entry is in flight, and, when load is set, loads a
// far or near entry first (reading a far one's record, then retrying).
// ok false: the request is parked or answered.
func (s *Shard) resolve(now int64, tok Token, id string, load bool, retry func(int64)) (uint32, bool) {
	if s.refuse(tok) {
		return 0, false
	}
	i, found := s.tab.find(id)
	if !found {
		s.fail(tok, notFound(id))
		return 0, false
	}
	e := &s.tab.ents[i]
	switch {
	case e.writing > 0:
		s.park(i, retry)
		return 0, false
	case e.loc == locFired:
		s.fail(tok, alreadyFired(id))
		return 0, false
	case e.seq == 0:
		s.fail(tok, notFound(id)) // not stored: cannot be (its create would be in flight)
		return 0, false
	case load && e.loc == locFar:
		s.read(e.seq, readWaiter{tok: tok, hasTok: true, retry: retry})
		return 0, false
	case load && e.loc == locNear:
		rec := decodeDef(s.tab.nearDef(i))
		s.load(i, rec, now)
	}
	return i, true
}

func (s *Shard) checkRevision(tok Token, i uint32, id string, o CallOptions) bool {
	if o.HasExpected && s.tab.ents[i].rev != o.ExpectedRevision {
		s.fail(tok, revisionConflict(id, o.ExpectedRevision, s.tab.ents[i].rev))
		return false
	}
	return true
}

// Cancel deletes a timer. Once it is answered, no occurrence due after
// the answer fires; one already handed out may still be in flight.
func (s *Shard) Cancel(now int64, tok Token, id string, o CallOptions) {
	if _, found := s.tab.find(id); !found {
		// Memory says no such timer, but memory is this node's: a node
		// that lost the shard without hearing of it yet would answer 404
		// for a timer its new owner just stored, and the client would
		// take it as gone while it fires. The 404 is given once a delete
		// is stored under this shard's fence, which a deposed owner's is
		// refused (503, and the retry finds the owner).
		if s.refuse(tok) {
			return
		}
		s.write(pendingOp{op: record.Op{Kind: record.OpDelete, Timer: &record.Timer{ID: id}}, ref: noEntry, kind: opCancelMissing, tok: tok, hasTok: true})
		return
	}
	i, ok := s.resolve(now, tok, id, false, func(now int64) { s.Cancel(now, tok, id, o) })
	if !ok || !s.checkRevision(tok, i, id, o) {
		return
	}
	// Stop firing now, not only once the delete is stored: no occurrence
	// due after the request fires. Were the write to fail, the driver
	// reloads the shard from the store and the timer is armed again.
	s.disarm(i)
	s.write(pendingOp{op: record.Op{Kind: record.OpDelete, Timer: &record.Timer{ID: id}}, ref: s.tab.ref(i), kind: opCancel, tok: tok, hasTok: true})
}

// Pause stops a timer's firing without losing it; Resume restarts it (and
// clears a set-aside timer's failure). A paused one-shot whose time passed
// fires at once on resume; a recurring timer resumes with its next
// occurrence after the resume (occurrences during the pause are skipped).
func (s *Shard) Pause(now int64, tok Token, id string, o CallOptions) {
	s.setPaused(now, tok, id, o, true)
}

// Resume restarts a paused timer; see Pause.
func (s *Shard) Resume(now int64, tok Token, id string, o CallOptions) {
	s.setPaused(now, tok, id, o, false)
}

func (s *Shard) setPaused(now int64, tok Token, id string, opts CallOptions, paused bool) {
	i, ok := s.resolve(now, tok, id, true, func(now int64) { s.setPaused(now, tok, id, opts, paused) })
	if !ok || !s.checkRevision(tok, i, id, opts) {
		return
	}
	if s.tab.ents[i].loc == locFiring {
		s.fail(tok, api.Errorf(api.CodeConflict, "timer %q is firing now; it has no later occurrence to pause or resume", id))
		return
	}
	o := s.tab.obj(i)
	if o.rec.Paused == paused && (paused || o.rec.Failed == "") {
		s.reply(tok, s.view(i, now, 0))
		return
	}
	cp := *o.rec
	cp.Paused, cp.Revision, cp.Failed = paused, 0, ""
	cp.Fires, cp.LastNominal = o.ackedFires, o.ackedNominal
	kind := opPause
	if !paused {
		kind = opResume
		if !o.oneShot() {
			// Skip what the pause missed, after a restart too; never go back
			// before an occurrence already fired (by a trigger, say).
			cp.LastNominal = max(now, o.ackedNominal, o.lastHanded)
		}
	} else {
		s.disarm(i) // as a cancel: stop firing now
	}
	s.write(pendingOp{op: record.Op{Kind: record.OpPut, Timer: &cp}, ref: s.tab.ref(i), kind: kind, tok: tok, hasTok: true, obj: o})
}

// Trigger fires a timer's next occurrence now, with that occurrence's
// nominal time and dedup id. A one-shot is then done; a recurring timer
// goes on with the occurrence after it. It is answered once the fire is
// acknowledged and the change stored.
func (s *Shard) Trigger(now int64, tok Token, id string) {
	i, ok := s.resolve(now, tok, id, true, func(now int64) { s.Trigger(now, tok, id) })
	if !ok {
		return
	}
	if s.tab.ents[i].loc == locFiring {
		s.fail(tok, api.Errorf(api.CodeNotFound, "timer %q is firing already", id))
		return
	}
	o := s.tab.obj(i)
	if o.oneShot() {
		o.next, o.fireAt = o.rec.Due, o.rec.Due
	} else {
		if o.next == 0 && (o.rec.Paused || o.rec.Failed != "") {
			if next, ok := s.pausedNext(o, now); ok {
				o.next, o.fireAt = next, next
			}
		}
		if o.next == 0 {
			s.fail(tok, api.Errorf(api.CodeConflict, "timer %q has no occurrence left to trigger", id))
			return
		}
	}
	if o.handle != 0 {
		s.wheel.Cancel(o.handle)
		o.handle = 0
	}
	s.handOut(i, o, &tok)
}

// Get answers a timer with up to upcoming next occurrences. A far timer's
// record is read and nothing of it is kept.
func (s *Shard) Get(now int64, tok Token, id string, upcoming int) {
	i, ok := s.resolve(now, tok, id, false, func(now int64) { s.Get(now, tok, id, upcoming) })
	if !ok {
		return
	}
	if s.tab.ents[i].loc == locFar {
		e := &s.tab.ents[i]
		ref, seq := s.tab.ref(i), e.seq
		s.read(seq, readWaiter{tok: tok, hasTok: true, view: func(now int64, ops []record.Op) {
			e, live := s.tab.live(ref)
			if !live || e.seq != seq || e.loc != locFar {
				s.Get(now, tok, id, upcoming) // changed meanwhile: answer it as it is now
				return
			}
			rec := putOf(ops, id)
			if rec == nil {
				s.fail(tok, api.Errorf(api.CodeInternal, "timer %q: record %d does not hold it", id, seq))
				return
			}
			s.reply(tok, s.viewOf(i, rec, nil, now, upcoming))
		}})
		return
	}
	s.reply(tok, s.view(i, now, upcoming))
}

// putOf is the last Put of id in a record's operations.
func putOf(ops []record.Op, id string) *record.Timer {
	for k := len(ops) - 1; k >= 0; k-- {
		if ops[k].Timer.ID == id {
			if ops[k].Kind == record.OpPut {
				return ops[k].Timer
			}
			return nil
		}
	}
	return nil
}

// refuse answers 503 while the shard is loading, or broken by a failed
// write until it is reloaded.
func (s *Shard) refuse(tok Token) bool {
	if s.broken != nil {
		s.fail(tok, api.Errorf(api.CodeNotReady, "the timer's shard %d is being reloaded after a failed write (%v); retry shortly", s.cfg.ID, s.broken))
		return true
	}
	if s.loading {
		s.fail(tok, api.Errorf(api.CodeNotReady, "the timer's shard %d is loading; retry shortly", s.cfg.ID))
		return true
	}
	return false
}
