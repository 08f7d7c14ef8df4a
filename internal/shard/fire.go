package shard

import (
	"fmt"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// catchUpLimit bounds the missed occurrences one recurring timer fires at
// once under Timer-Misfire: all; older ones are skipped (docs/semantics.md).
const catchUpLimit = 1000

// fire is one occurrence handed out and not yet acknowledged.
type fire struct {
	id      uint64
	ref     entryRef
	obj     *object       // the definition's life it belongs to
	rec     *record.Timer // the definition fired
	nominal int64
	fireAt  int64
	number  int64
	tries   int
	retry   wheel.Handle // armed for a retry
	slot    uint32       // its retry slot while armed
	trigger Token        // a trigger's request, answered once it is stored
	hasTok  bool
	aside   string // set aside: the failed Put is being written
}

// plan computes o's next occurrence and arms entry i for it. catchUp says
// the timer has been away (new, loaded, resumed): recurring occurrences
// missed until now follow the misfire policy.
func (s *Shard) plan(i uint32, o *object, now int64, catchUp bool) {
	if o.handle != 0 {
		s.wheel.Cancel(o.handle)
		o.handle = 0
	}
	o.next, o.fireAt = 0, 0
	r := o.rec
	if r.Paused || r.Failed != "" {
		return
	}
	if o.oneShot() {
		o.next = r.Due
	} else {
		if o.sched == nil || (r.MaxFires > 0 && o.fires >= r.MaxFires) {
			return
		}
		var next time.Time
		ok := false
		if catchUp {
			var last time.Time
			if o.ackedNominal != 0 {
				last = time.Unix(0, o.ackedNominal)
			}
			left := min(catchUpLimit, cronfeed.FiresLeft(int(r.MaxFires), int(o.fires)))
			// Occurrences up to replayThrough may have fired before a crash
			// or a move: fire them again as they were (the dedup id drops
			// the ones that did); only later ones are misfires.
			missed := o.replay(&last, left)
			o.replayThrough = 0
			var more []time.Time
			more, next, ok = o.sched.Due(last, time.Unix(0, now), cronfeed.Misfire(r.Misfire), left-len(missed))
			missed = append(missed, more...)
			if len(missed) > 0 {
				o.catchUp = o.catchUp[:0]
				for _, m := range missed {
					o.catchUp = append(o.catchUp, m.UnixNano())
				}
				o.afterCatchUp = 0
				if ok {
					o.afterCatchUp = next.UnixNano()
				}
				o.next = o.catchUp[0]
				o.catchUp = o.catchUp[1:]
			}
		} else {
			next, ok = o.sched.Next(time.Unix(0, o.lastHanded))
		}
		if o.next == 0 {
			if !ok {
				return
			}
			o.next = next.UnixNano()
		}
	}
	j := jitterOf(r, o.next)
	o.fireAt = o.next + j
	o.handle = s.arm(i, o.fireAt, j)
}

// replay returns the occurrences after *last and at or before
// o.replayThrough, at most limit, and moves *last to the newest of them.
func (o *object) replay(last *time.Time, limit int) []time.Time {
	var out []time.Time
	for o.replayThrough != 0 && len(out) < limit {
		var t time.Time
		var ok bool
		if last.IsZero() {
			t, ok = o.sched.First()
		} else {
			t, ok = o.sched.Next(*last)
		}
		if !ok || t.UnixNano() > o.replayThrough {
			break
		}
		out = append(out, t)
		*last = t
	}
	return out
}

// advance moves recurring o past the occurrence just handed out: the next
// catch-up occurrence if any, else the schedule's next.
func (s *Shard) advance(i uint32, o *object) {
	switch {
	case len(o.catchUp) > 0:
		o.next = o.catchUp[0]
		o.catchUp = o.catchUp[1:]
	case o.afterCatchUp != 0:
		o.next, o.afterCatchUp = o.afterCatchUp, 0
	default:
		s.plan(i, o, 0, false)
		return
	}
	if o.rec.Paused || o.rec.Failed != "" || (o.rec.MaxFires > 0 && o.fires >= o.rec.MaxFires) {
		o.next, o.catchUp, o.afterCatchUp = 0, nil, 0
		return
	}
	j := jitterOf(o.rec, o.next)
	o.fireAt = o.next + j
	o.handle = s.arm(i, o.fireAt, j)
}

// Due takes the wheel values of this shard that the driver's wheel handed
// out at now, and hands out their fires. Values of entries changed since
// they were armed are ignored.
func (s *Shard) Due(now int64, values []uint64) {
	for _, v := range values {
		tag, gen, i := splitValue(v)
		if tag == tagRetry {
			s.dueRetry(i, gen, now)
			continue
		}
		if int(i) >= len(s.tab.ents) {
			continue
		}
		e := &s.tab.ents[i]
		if e.armGen&(1<<14-1) != gen {
			continue
		}
		switch e.loc {
		case locNear:
			rec := decodeDef(s.tab.nearDef(i))
			rec.Revision = e.rev
			s.tab.nears[e.aux].handle = 0
			s.leave(i)
			o := &object{rec: rec, next: rec.Due, fireAt: rec.Due + jitterOf(rec, rec.Due)}
			s.tab.setObject(i, o)
			e.loc = locLoaded
			s.counts.Loaded++
			s.handOut(i, o, nil)
		case locLoaded:
			o := s.tab.obj(i)
			if o.handle == 0 {
				continue
			}
			o.handle = 0
			s.handOut(i, o, nil)
		}
	}
}

// handOut turns o's current occurrence into a fire and moves o on: a
// one-shot becomes firing, a recurring timer is armed for its next.
func (s *Shard) handOut(i uint32, o *object, trigger *Token) *fire {
	o.fires++
	o.lastHanded = o.next
	s.fireSeq++
	f := &fire{id: s.fireSeq, ref: s.tab.ref(i), obj: o, rec: o.rec, nominal: o.next, fireAt: o.fireAt, number: o.fires}
	if trigger != nil {
		f.trigger, f.hasTok = *trigger, true
	}
	s.fires[f.id] = f
	s.counts.Fires++
	if o.oneShot() {
		o.next, o.fireAt = 0, 0
		e := &s.tab.ents[i]
		if e.loc == locLoaded {
			s.uncount(o.rec)
			s.counts.Loaded--
			s.counts.Firing++
			e.loc = locFiring
		}
	} else {
		s.advance(i, o)
	}
	s.emit(f)
	return f
}

func (s *Shard) emit(f *fire) {
	s.out.Fires = append(s.out.Fires, Fire{ID: f.id, Timer: f.rec, Nominal: f.nominal, Number: f.number, FireAt: f.fireAt, Tries: f.tries, Triggered: f.hasTok})
}

// retrySlots maps retry wheel values to fires.
type retrySlots struct {
	fires []*fire
	free  []uint32
}

func (r *retrySlots) put(f *fire) uint32 {
	if k := len(r.free); k > 0 {
		i := r.free[k-1]
		r.free = r.free[:k-1]
		r.fires[i] = f
		return i
	}
	r.fires = append(r.fires, f)
	return uint32(len(r.fires) - 1)
}

func (r *retrySlots) take(i uint32) *fire {
	if int(i) >= len(r.fires) {
		return nil
	}
	f := r.fires[i]
	if f != nil {
		r.fires[i] = nil
		r.free = append(r.free, i)
	}
	return f
}

func (s *Shard) dueRetry(slot uint32, gen uint16, _ int64) {
	f := s.retrySlots.take(slot)
	if f == nil || uint16(f.tries)&(1<<14-1) != gen {
		return
	}
	f.retry = 0
	if _, ok := s.fires[f.id]; ok {
		s.emit(f)
	}
}

// Fired takes the outcome of fire id at now. A failure is retried with
// backoff (the dedup id makes a repeat harmless); permanent says retrying
// cannot help (the message is too large for the server, say): after
// MaxFireTries such failures the timer is set aside. A success completes a
// one-shot or records a recurring timer's progress.
func (s *Shard) Fired(now int64, id uint64, err error, permanent bool) {
	f := s.fires[id]
	if f == nil {
		return
	}
	if err != nil {
		f.tries++
		s.counts.Retries++
		if permanent && f.tries >= s.cfg.MaxFireTries {
			s.setAside(f, now, err)
			return
		}
		backoff := min(time.Duration(1<<min(f.tries, 10))*10*time.Millisecond, 2*time.Second)
		f.slot = s.retrySlots.put(f)
		f.retry = s.wheel.Add(now+int64(backoff), s.value(tagRetry, uint16(f.tries), f.slot))
		return
	}
	delete(s.fires, id)
	e, live := s.tab.live(f.ref)
	same := live && (e.loc == locFiring || e.loc == locLoaded) && s.tab.obj(f.ref.i) == f.obj
	if f.obj.oneShot() {
		if !same || e.loc != locFiring {
			if f.hasTok {
				s.reply(f.trigger, api.TriggerReply{ID: f.rec.ID, Due: api.FormatTime(time.Unix(0, f.nominal)), Fire: f.number})
			}
			return
		}
		if f.hasTok {
			// A triggered one-shot is done once its delete is stored.
			s.write(pendingOp{op: record.Op{Kind: record.OpDelete, Timer: &record.Timer{ID: f.rec.ID}}, ref: f.ref,
				kind: opTriggered, tok: f.trigger, hasTok: true, fire: f})
			return
		}
		s.complete(f.ref.i, now)
		return
	}
	if !same {
		if f.hasTok {
			s.reply(f.trigger, api.TriggerReply{ID: f.rec.ID, Due: api.FormatTime(time.Unix(0, f.nominal)), Fire: f.number})
		}
		return
	}
	o := f.obj
	if f.nominal > o.ackedNominal {
		o.ackedNominal, o.ackedFires = f.nominal, f.number
	}
	if f.hasTok {
		s.write(pendingOp{op: record.Op{Kind: record.OpProgress, Timer: &record.Timer{ID: f.rec.ID, Fires: o.ackedFires, LastNominal: o.ackedNominal}},
			ref: f.ref, kind: opProgress, tok: f.trigger, hasTok: true, fire: f})
		return
	}
	if !o.dirty {
		o.dirty = true
		s.dirty = append(s.dirty, f.ref)
	}
}

// complete ends fired one-shot i: its record no longer holds it, and it is
// remembered only to recognize a retry of the request that made it.
func (s *Shard) complete(i uint32, now int64) {
	e := &s.tab.ents[i]
	s.uncountTimer(i, e.kind)
	s.release(i)
	s.leave(i)
	e.loc = locFired
	s.counts.Fired++
	s.tab.firedQ = append(s.tab.firedQ, firedRef{ref: s.tab.ref(i), at: now})
	s.firedSince = true
}

// setAside stops firing f's timer: its definition is stored again with
// Failed set, and until that is stored f stays pending (the mark does not
// pass it).
func (s *Shard) setAside(f *fire, now int64, err error) {
	s.counts.SetAside++
	reason := fmt.Sprintf("fire of %s could not be published: %v", api.FormatTime(time.Unix(0, f.nominal)), err)
	f.aside = reason
	s.out.SetAside = append(s.out.SetAside, f.rec.ID+": "+reason)
	e, live := s.tab.live(f.ref)
	if !live || s.tab.obj(f.ref.i) != f.obj || (e.loc != locFiring && e.loc != locLoaded) {
		delete(s.fires, f.id) // replaced or cancelled meanwhile: nothing to keep
		return
	}
	if f.hasTok {
		s.fail(f.trigger, api.Errorf(api.CodeBadRequest, "timer %q: %s; it was set aside", f.rec.ID, reason))
		f.hasTok = false
	}
	s.write(pendingOp{op: record.Op{Kind: record.OpFailed, Timer: &record.Timer{ID: f.rec.ID, Failed: reason}},
		ref: f.ref, kind: opSetAside, obj: f.obj, fire: f})
}
