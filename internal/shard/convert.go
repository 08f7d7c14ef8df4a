package shard

import (
	"fmt"
	"time"

	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// Every move of a timer between the table's locations (table.go) is in
// this file: placing a stored definition, making an entry near or far,
// loading it as an object, arming and disarming, releasing its records.

// object is a loaded timer: recurring, paused, failed, or a one-shot being
// changed, made or fired. An object is one definition's life: a replace
// makes a new object, so results of fires of the old one are told apart
// by identity; pause and resume keep the object (and its progress).
type object struct {
	rec    *record.Timer      // the stored definition; nil while its first Put is being written
	sched  *cronfeed.Schedule // recurring kinds
	handle wheel.Handle       // armed when not 0
	next   int64              // next nominal occurrence (Unix ns); 0: none left
	fireAt int64              // next plus jitter

	fires        int64   // occurrences handed out; the last one's Timer-Fire
	lastHanded   int64   // nominal time of the last occurrence handed out
	catchUp      []int64 // missed occurrences still to fire (misfire all)
	afterCatchUp int64   // the regular occurrence after the catch-up ones
	// replayThrough: after a load, occurrences after the recorded progress
	// and up to this time may have fired already (Unix ns; 0: none).
	replayThrough int64
	ackedFires    int64  // occurrences acknowledged, and the nominal time
	ackedNominal  int64  // of the latest: the progress to record
	progSeq       uint64 // record holding its latest stored Progress
	failSeq       uint64 // record holding the OpFailed that set it aside
	dirty         bool   // progress not yet recorded
}

func (o *object) oneShot() bool { return !o.rec.Kind.Recurring() }

// Wheel values: the shard's ID (16 bits), a tag (2 bits), the arming's
// generation (14 bits) and an index (32 bits): an entry, or a retry slot.
const (
	tagEntry = 0
	tagRetry = 1
)

func (s *Shard) value(tag uint64, gen uint16, i uint32) uint64 {
	return uint64(s.cfg.ID)<<48 | tag<<46 | uint64(gen&(1<<14-1))<<32 | uint64(i)
}

// ShardOfValue is the shard a wheel value belongs to.
func ShardOfValue(v uint64) int { return int(v >> 48) }

func splitValue(v uint64) (tag uint64, gen uint16, i uint32) {
	return v >> 46 & 3, uint16(v >> 32 & (1<<14 - 1)), uint32(v)
}

// jitterOf is the delay added to the occurrence of rec at nominal.
func jitterOf(rec *record.Timer, nominal int64) int64 {
	if rec.Jitter <= 0 {
		return 0
	}
	return int64(cronfeed.Jitter(rec.ID, time.Unix(0, nominal), time.Duration(rec.Jitter)))
}

// arm puts entry i on the wheel at fireAt and returns the handle.
func (s *Shard) arm(i uint32, fireAt int64, jitter int64) wheel.Handle {
	e := &s.tab.ents[i]
	e.armGen++
	s.maxJitter = max(s.maxJitter, jitter)
	return s.wheel.Add(fireAt, s.value(tagEntry, e.armGen, i))
}

// disarm takes entry i off the wheel, whatever its location.
func (s *Shard) disarm(i uint32) {
	e := &s.tab.ents[i]
	switch e.loc {
	case locNear:
		s.wheel.Cancel(s.tab.nears[e.aux].handle)
		s.tab.nears[e.aux].handle = 0
	case locLoaded, locFiring:
		if o := s.tab.obj(i); o.handle != 0 {
			s.wheel.Cancel(o.handle)
			o.handle = 0
		}
	}
}

// leave removes entry i's definition from its location (after disarm):
// the near chunk, the object, the count of its location.
func (s *Shard) leave(i uint32) {
	e := &s.tab.ents[i]
	switch e.loc {
	case locFar:
		s.counts.Far-- // its bucket reference goes stale
	case locNear:
		s.tab.dropNear(i)
		s.counts.Near--
	case locLoaded:
		s.uncount(s.tab.obj(i).rec)
		s.tab.dropObject(i)
		s.counts.Loaded--
	case locFiring:
		s.tab.dropObject(i)
		s.counts.Firing--
	case locFired:
		s.counts.Fired--
	}
	e.loc = locFree
}

// release drops the record liveness entry i's definition held: its Put
// and its progress.
func (s *Shard) release(i uint32) {
	e := &s.tab.ents[i]
	if e.seq != 0 {
		s.recs.drop(e.seq)
		e.seq = 0
	}
	// (A recurring timer is released only when replaced or deleted: the
	// new Put or the Delete outlives its Put, and so its progress matters
	// no more. A finished one stays, holding its last progress.)
	if e.loc == locLoaded || e.loc == locFiring {
		o := s.tab.obj(i)
		if o.progSeq != 0 {
			s.recs.drop(o.progSeq)
			o.progSeq = 0
		}
		if o.failSeq != 0 {
			s.recs.drop(o.failSeq)
			o.failSeq = 0
		}
	}
}

// forget removes entry i from the table altogether.
func (s *Shard) forget(i uint32) {
	e := &s.tab.ents[i]
	if e.seq != 0 && e.loc != locFired {
		s.uncountTimer(i, e.kind)
	}
	s.disarm(i)
	s.release(i)
	s.leave(i)
	s.tab.remove(i)
}

// place puts entry i, whose definition rec is now stored, where it
// belongs and arms it: a far or near entry, or an object (o, kept for a
// pause or resume so that progress carries over; nil makes a new one).
// Recurring objects are planned with catch-up when they come back after
// being away. The table's counts of timers are the caller's.
func (s *Shard) place(i uint32, rec *record.Timer, o *object, now int64, catchUp bool) {
	e := &s.tab.ents[i]
	keep := o != nil && e.loc == locLoaded && s.tab.obj(i) == o && !s.entryQualifies(rec)
	if !keep {
		// Leave the old location first: it is found by the old due time.
		s.disarm(i)
		s.leave(i)
	}
	e.kind, e.rev, e.reqHash = rec.Kind, rec.Revision, rec.ReqHash
	if !rec.Kind.Recurring() {
		e.due = rec.Due
	}
	if s.entryQualifies(rec) {
		if s.tab.isFar(rec.Due+rec.Jitter, now) {
			e.loc = locFar
			s.tab.queueFar(i)
			s.counts.Far++
			return
		}
		s.makeNear(i, rec)
		return
	}
	if o == nil {
		o = &object{}
	}
	if keep {
		s.uncount(o.rec)
	} else {
		s.tab.setObject(i, o)
		e.loc = locLoaded
		s.counts.Loaded++
	}
	o.rec = rec
	s.count(rec)
	if rec.Kind.Recurring() && o.sched == nil {
		sched, err := cronfeed.Compile(SpecOf(rec))
		if err != nil {
			// A stored spec that no longer compiles (a zone gone from the
			// tz database, say) must not stop the shard: the timer stays,
			// visible, and fires nothing.
			return
		}
		o.sched = sched
	}
	s.plan(i, o, now, catchUp)
}

// count and uncount keep the counts of paused and failed objects.
func (s *Shard) count(rec *record.Timer) {
	if rec == nil {
		return
	}
	if rec.Paused {
		s.counts.Paused++
	}
	if rec.Failed != "" {
		s.counts.Failed++
	}
}

func (s *Shard) uncount(rec *record.Timer) {
	if rec == nil {
		return
	}
	if rec.Paused {
		s.counts.Paused--
	}
	if rec.Failed != "" {
		s.counts.Failed--
	}
}

func (s *Shard) countTimer(i uint32, k record.Kind) {
	s.counts.Timers++
	s.counts.ByKind[k]++
	if t := s.tenantOf(i); t != "" {
		if s.counts.ByTenant == nil {
			s.counts.ByTenant = make(map[string]int64)
		}
		s.counts.ByTenant[t]++
	}
}

func (s *Shard) uncountTimer(i uint32, k record.Kind) {
	s.counts.Timers--
	s.counts.ByKind[k]--
	if t := s.tenantOf(i); t != "" {
		if s.counts.ByTenant[t]--; s.counts.ByTenant[t] == 0 {
			delete(s.counts.ByTenant, t)
		}
	}
}

// tenantOf is the tenant of entry i's id ("" for the operator's).
func (s *Shard) tenantOf(i uint32) string {
	id := s.tab.id(i)
	for k, c := range id {
		if c == ' ' {
			return string(id[:k])
		}
	}
	return ""
}

// entryQualifies says a stored timer is kept as a far or near entry, not
// an object: a plain one-shot (not paused, not failed) when far and near
// entries are on.
func (s *Shard) entryQualifies(rec *record.Timer) bool {
	return s.tab.horizon > 0 && !rec.Kind.Recurring() && !rec.Paused && rec.Failed == ""
}

// makeNear arms entry i (a qualifying one-shot) with its definition rec
// encoded in its due bucket's chunk.
func (s *Shard) makeNear(i uint32, rec *record.Timer) {
	j := jitterOf(rec, rec.Due)
	h := s.arm(i, rec.Due+j, j)
	s.tab.putNear(i, record.Op{Kind: record.OpPut, Timer: rec}, h)
	s.counts.Near++
}

// decodeDef decodes a near entry's definition (a new copy each call).
func decodeDef(def []byte) *record.Timer {
	ops, err := record.DecodeOps(def)
	if err != nil || len(ops) != 1 {
		panic(fmt.Sprintf("shard: a near definition does not decode: %v", err)) // our own encoding
	}
	return ops[0].Timer
}

// load makes entry i (far or near, with definition rec) a loaded object,
// still armed as it was due: an operation is about to change it.
func (s *Shard) load(i uint32, rec *record.Timer, now int64) *object {
	e := &s.tab.ents[i]
	rec.Revision = e.rev
	o := &object{rec: rec}
	var h wheel.Handle
	if e.loc == locNear {
		h = s.tab.nears[e.aux].handle
		s.tab.nears[e.aux].handle = 0
	}
	s.leave(i)
	s.tab.setObject(i, o)
	e.loc = locLoaded
	s.counts.Loaded++
	if h != 0 {
		o.handle, o.next, o.fireAt = h, rec.Due, rec.Due+jitterOf(rec, rec.Due)
	} else {
		s.plan(i, o, now, false)
	}
	return o
}

// SpecOf is the cronfeed spec of a stored recurring timer.
func SpecOf(r *record.Timer) cronfeed.Spec {
	s := cronfeed.Spec{Zone: r.TimeZone, Created: time.Unix(0, r.Created), Dialect: r.Dialect}
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
