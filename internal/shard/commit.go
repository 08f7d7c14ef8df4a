package shard

import (
	"errors"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Group commit: operations decided on the shard wait in a queue, and the
// queue goes out as one record whenever fewer than RecordsInFlight of the
// shard's records await their ack. At idle an operation costs one round
// trip; under load each record carries everything decided during the
// last one. An operation takes effect in memory only when its record is
// acknowledged (Acked), so memory never holds what is not stored, and a
// reply is sent only then: a 200 means stored.

type opKind uint8

const (
	opCreate        opKind = iota + 1 // Put of a new timer, or of a replacement (obj: the new life)
	opCancel                          // Delete
	opPause                           // Put with Paused (obj: the same life)
	opResume                          // Put without Paused (obj: the same life)
	opTriggered                       // Delete of a triggered one-shot once it fired
	opProgress                        // Progress of a recurring timer
	opSetAside                        // Put with Failed
	opCancelMissing                   // Delete of an id the shard does not hold: its 404 is answered once stored
)

// noEntry is the ref of an operation on no entry (opCancelMissing).
var noEntry = entryRef{i: ^uint32(0)}

// pendingOp is an operation decided and not yet acknowledged.
type pendingOp struct {
	op      record.Op
	ref     entryRef
	kind    opKind
	tok     Token
	hasTok  bool
	obj     *object
	created bool
	fire    *fire // opTriggered, opProgress of a trigger, opSetAside
}

// write queues p; Ready turns the queue into records, so everything one
// driver step decides (a whole batch of one shard) goes out together.
func (s *Shard) write(p pendingOp) {
	if e, ok := s.tab.live(p.ref); ok {
		e.writing++
	}
	s.queue = append(s.queue, p)
}

// flush turns queued operations into records while fewer than
// RecordsInFlight of them await their ack, each below MaxRecord bytes.
func (s *Shard) flush() {
	for len(s.inflight) < s.cfg.RecordsInFlight && len(s.queue) > 0 {
		n, size := 0, 0
		for n < len(s.queue) {
			sz := record.Size(s.queue[n].op)
			if n > 0 && size+sz > s.cfg.MaxRecord {
				break
			}
			n, size = n+1, size+sz
		}
		var group []pendingOp
		if n == len(s.queue) { // the usual case: the whole queue is one record
			group, s.queue = s.queue, nil
		} else {
			group = make([]pendingOp, n)
			copy(group, s.queue)
			s.queue = s.queue[n:]
		}
		ops := make([]record.Op, n)
		for k := range group {
			ops[k] = group[k].op
		}
		s.recordSeq++
		s.inflight[s.recordSeq] = group
		s.out.Records = append(s.out.Records, Record{ID: s.recordSeq, Ops: ops})
	}
}

// WritesInFlight is the number of operations decided and not yet
// acknowledged.
func (s *Shard) WritesInFlight() int {
	n := len(s.queue)
	for _, g := range s.inflight {
		n += len(g)
	}
	return n
}

// Acked takes the outcome of record id: stored as seq, or failed with err.
// Stored operations take effect and are answered; failed ones are answered
// 503 (the driver reloads or unloads the shard, see Ready.WriteFailed).
func (s *Shard) Acked(now int64, id uint64, seq uint64, err error) {
	group, ok := s.inflight[id]
	if !ok {
		return
	}
	delete(s.inflight, id)
	if err == nil {
		s.recs.add(seq)
	} else if !errors.Is(err, store.ErrTooLarge) && s.broken == nil {
		// (Too large is refused before it is sent: nothing landed.)
		// Memory may now differ from the store (a write that timed out may
		// have landed): nothing more is decided until the driver reloads.
		s.broken = err
		s.out.WriteFailed = err
	}
	var settled []entryRef
	for _, p := range group {
		if e, live := s.tab.live(p.ref); live {
			e.writing--
			if e.writing == 0 {
				settled = append(settled, p.ref)
			}
		}
		if err != nil {
			s.failOp(p, err)
			continue
		}
		s.apply(p, seq, now)
	}
	if err == nil {
		s.recs.settled(seq)
	}
	for _, r := range settled {
		s.unpark(r, now)
	}
}

// failOp answers an operation whose record was not stored.
func (s *Shard) failOp(p pendingOp, err error) {
	if p.kind == opCreate {
		if e, live := s.tab.live(p.ref); live && e.seq == 0 && e.loc == locLoaded && s.tab.obj(p.ref.i).rec == nil {
			s.forget(p.ref.i) // it never existed
		}
	}
	if !p.hasTok {
		return
	}
	code, why := api.CodeNotReady, "was not stored"
	switch {
	case errors.Is(err, store.ErrFenced):
		why = "was not stored: another node owns its shard now"
	case errors.Is(err, store.ErrTooLarge):
		s.fail(p.tok, api.Errorf(api.CodeTooLarge, "timer %q is too large to store on this NATS server (%v)", p.op.Timer.ID, err))
		return
	}
	s.fail(p.tok, api.Errorf(code, "timer %q %s (%v); retry (the request is idempotent)", p.op.Timer.ID, why, err))
}

// apply makes a stored operation take effect.
func (s *Shard) apply(p pendingOp, seq uint64, now int64) {
	if p.kind == opCancelMissing {
		// Stored under this shard's fence: no other node held the shard,
		// so no create of the id can have been stored before it.
		if p.hasTok {
			s.fail(p.tok, notFound(p.op.Timer.ID))
		}
		return
	}
	e, live := s.tab.live(p.ref)
	if !live {
		return
	}
	i := p.ref.i
	rec := p.op.Timer
	switch p.kind {
	case opCreate:
		if e.seq != 0 && e.loc != locFired {
			s.uncountTimer(i, e.kind) // the replaced one
		}
		s.disarm(i)
		old := e.seq
		s.release(i)
		if rec.Revision == 0 {
			rec.Revision = seq
		}
		e.seq = seq
		s.recs.hold(seq)
		s.recs.guards(old, seq)
		s.countTimer(i, rec.Kind)
		s.counts.Created++
		s.place(i, rec, nil, now, true)
		if p.hasTok {
			s.reply(p.tok, api.ScheduleReply{ID: rec.ID, Revision: rec.Revision, Created: p.created, Next: s.nextText(i, now)})
		}
	case opCancel:
		s.recs.guards(e.seq, seq) // the Delete outlives the Put it deletes
		s.forget(i)
		s.counts.Cancelled++
		if p.hasTok {
			s.reply(p.tok, api.CancelReply{ID: rec.ID, Cancelled: true})
		}
	case opPause, opResume:
		if e.loc != locLoaded || s.tab.obj(i) != p.obj {
			// Cannot be: changes wait for the write in flight, and a pause
			// disarms before it is written.
			if p.hasTok {
				s.reply(p.tok, s.view(i, now, 0))
			}
			return
		}
		old := e.seq
		s.release(i)
		rec.Revision = seq
		e.seq = seq
		s.recs.hold(seq)
		s.recs.guards(old, seq)
		o := p.obj
		if p.kind == opResume && rec.Kind.Recurring() {
			o.lastHanded, o.ackedNominal = rec.LastNominal, rec.LastNominal
		}
		s.place(i, rec, o, now, false)
		if p.hasTok {
			s.reply(p.tok, s.view(i, now, 0))
		}
	case opTriggered:
		if e.loc == locFiring && s.tab.obj(i) == p.fire.obj {
			s.recs.guards(e.seq, seq)
			s.complete(i, now)
		}
		s.reply(p.tok, api.TriggerReply{ID: rec.ID, Due: api.FormatTime(time.Unix(0, p.fire.nominal)), Fire: p.fire.number})
	case opProgress:
		if (e.loc == locLoaded || e.loc == locFiring) && (p.fire == nil || s.tab.obj(i) == p.fire.obj) {
			o := s.tab.obj(i)
			if o.progSeq != 0 {
				s.recs.drop(o.progSeq)
			}
			o.progSeq = seq
			s.recs.hold(seq)
		}
		if p.hasTok {
			s.reply(p.tok, api.TriggerReply{ID: rec.ID, Due: api.FormatTime(time.Unix(0, p.fire.nominal)), Fire: p.fire.number, Next: s.nextText(i, now)})
		}
	case opSetAside:
		delete(s.fires, p.fire.id)
		if s.tab.obj(i) != p.obj {
			return
		}
		o := p.obj
		if e.loc == locFiring {
			e.loc = locLoaded
			s.counts.Firing--
			s.counts.Loaded++
			s.count(o.rec)
		}
		if o.failSeq != 0 {
			s.recs.drop(o.failSeq)
		}
		o.failSeq = seq
		s.recs.hold(seq)
		cp := *o.rec
		cp.Failed = rec.Failed
		s.place(i, &cp, o, now, false)
	}
}

// park makes fn run again once entry i's writes have settled.
func (s *Shard) park(i uint32, fn func(now int64)) {
	s.parked[i] = append(s.parked[i], fn)
}

func (s *Shard) unpark(r entryRef, now int64) {
	fns := s.parked[r.i]
	if len(fns) == 0 {
		return
	}
	delete(s.parked, r.i)
	for _, fn := range fns {
		fn(now)
	}
}
