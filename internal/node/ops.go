package node

import (
	"context"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/record"
)

// ScheduleRequest is a validated timerd.schedule (or batch element).
type ScheduleRequest struct {
	// Timer holds the definition: ID, Subject, Kind, Spec and options, Due for
	// one-shots, Created, ReqHash, Headers, Payload.
	Timer            *record.Timer
	Replace          bool
	ExpectedRevision uint64
	HasExpected      bool
}

// CallOptions are the options of cancel, pause and resume.
type CallOptions struct {
	ExpectedRevision uint64
	HasExpected      bool
}

// outcome is what an operation waits for: its write's ack.
type outcome struct {
	seq uint64
	err error
}

// errNotReady answers operations while the node or the shard is not serving.
func errNotReady(what string) *Error {
	return errorf(api.CodeNotReady, "timerd is not ready: %s; retry shortly", what)
}

// lockShard takes n.mu and checks that the node and t's shard serve
// operations. On error n.mu is not held.
func (n *Node) lockShard(id string) (*shard, error) {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil, errNotReady("the node is shutting down")
	}
	if !n.ready {
		n.mu.Unlock()
		return nil, errNotReady("timers are still loading")
	}
	s := n.shards[ShardOf(id, len(n.shards))]
	if s.loading {
		n.mu.Unlock()
		return nil, errNotReady("the timer's shard is reloading")
	}
	return s, nil
}

// waitSettled releases n.mu until t's writes in flight are acknowledged.
func (n *Node) waitSettled(ctx context.Context, t *timer) error {
	ch := t.settled
	n.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return errorf(api.CodeNotReady, "timer %q: an earlier change is not yet stored: %v", t.rec.ID, ctx.Err())
	}
}

// write stores one operation on t; on its ack, with n.mu held, the store
// bookkeeping is updated and then runs, before the returned channel reports.
// Call with n.mu held.
func (n *Node) write(ctx context.Context, t *timer, kind record.OpKind, rec *record.Timer, then func(seq uint64)) <-chan outcome {
	done := make(chan outcome, 1)
	s := n.shards[t.shard]
	t.beginWrite()
	op := record.Op{Kind: kind, Timer: rec}
	n.store.Write(ctx, t.shard, []record.Op{op}, func(seq uint64, err error) {
		n.mu.Lock()
		if err == nil && !s.loading {
			s.applyStored(t, seq, kind)
			if then != nil {
				then(seq)
			}
		} else if err != nil {
			n.log.Error("store write failed; reloading the shard", "shard", t.shard, "id", rec.ID, "err", err)
			n.requestReload(t.shard)
		}
		t.endWrite()
		if err == nil {
			n.maybeDemote(t, time.Now().UnixNano())
		}
		n.mu.Unlock()
		if err != nil {
			err = errorf(api.CodeNotReady, "timer %q was not stored: %v; retry (the request is idempotent)", rec.ID, err)
		}
		done <- outcome{seq: seq, err: err}
	})
	return done
}

// retire ends an object whose successor's Put is stored: it leaves the
// wheel and its records no longer hold a live operation for it. Call with
// n.mu held.
func (n *Node) retire(t *timer) {
	n.disarm(t)
	t.removed = true
	n.shards[t.shard].release(t)
}

// requestReload asks the housekeeping loop to rebuild a shard from the store.
func (n *Node) requestReload(shard int) {
	if s := n.shards[shard]; !s.loading {
		s.loading = true
		select {
		case n.reload <- shard:
		default:
		}
	}
}

// Schedule creates or replaces a timer; the reply comes once it is stored.
func (n *Node) Schedule(ctx context.Context, req ScheduleRequest) (api.ScheduleReply, error) {
	return n.scheduleBegin(ctx, req)(ctx)
}

// ScheduleBatch schedules many timers; each succeeds or fails on its own,
// and all their writes are in flight together.
func (n *Node) ScheduleBatch(ctx context.Context, reqs []ScheduleRequest) ([]api.ScheduleReply, []error) {
	waits := make([]func(context.Context) (api.ScheduleReply, error), len(reqs))
	for i, r := range reqs {
		waits[i] = n.scheduleBegin(ctx, r)
	}
	replies, errs := make([]api.ScheduleReply, len(reqs)), make([]error, len(reqs))
	for i, w := range waits {
		replies[i], errs[i] = w(ctx)
	}
	return replies, errs
}

type scheduleWait = func(context.Context) (api.ScheduleReply, error)

func failed(err error) scheduleWait {
	return func(context.Context) (api.ScheduleReply, error) { return api.ScheduleReply{}, err }
}

func (n *Node) scheduleBegin(ctx context.Context, req ScheduleRequest) scheduleWait {
	rec := req.Timer
	for {
		s, err := n.lockShard(rec.ID)
		if err != nil {
			return failed(err)
		}
		t := n.lookup(rec.ID)
		if t == nil {
			if i, ok := n.far.find(rec.ID); ok {
				if n.far.ents[i].reqHash == rec.ReqHash {
					reply := n.entryReply(i)
					n.mu.Unlock()
					return func(context.Context) (api.ScheduleReply, error) { return reply, nil }
				}
				if req.Replace {
					if _, err := n.promoteID(ctx, rec.ID); err != nil {
						return failed(err)
					}
					continue
				}
				n.mu.Unlock()
				return failed(errorf(api.CodeConflict, "timer %q already exists with a different request; send Timer-Replace: true to replace it", rec.ID))
			}
		}
		if t != nil && rec.ReqHash == t.rec.ReqHash {
			// The same request again: answer the timer as it is.
			if t.writing > 0 {
				if err := n.waitSettled(ctx, t); err != nil {
					return failed(err)
				}
				continue
			}
			reply := api.ScheduleReply{ID: rec.ID, Revision: t.rec.Revision, Next: n.nextText(t)}
			n.mu.Unlock()
			return func(context.Context) (api.ScheduleReply, error) { return reply, nil }
		}
		if t != nil && !t.done && !req.Replace {
			n.mu.Unlock()
			return failed(errorf(api.CodeConflict, "timer %q already exists with a different request; send Timer-Replace: true to replace it", rec.ID))
		}
		if req.HasExpected {
			if t == nil {
				n.mu.Unlock()
				return failed(errorf(api.CodeConflict, "Timer-Expected-Revision %d: timer %q does not exist", req.ExpectedRevision, rec.ID))
			}
			if t.writing > 0 {
				if err := n.waitSettled(ctx, t); err != nil {
					return failed(err)
				}
				continue
			}
			if t.rec.Revision != req.ExpectedRevision {
				n.mu.Unlock()
				return failed(errorf(api.CodeConflict, "Timer-Expected-Revision %d: timer %q is at revision %d", req.ExpectedRevision, rec.ID, t.rec.Revision))
			}
		}
		created := t == nil || t.done
		old := t
		nt := &timer{rec: rec, shard: s.id}
		if err := n.compile(nt); err != nil { // validated before: a defect if it fails here
			n.mu.Unlock()
			return failed(errorf(api.CodeBadRequest, "%v", err))
		}
		n.timers[rec.ID] = nt
		if old != nil && old.done {
			n.recent.forget(rec.ID)
		}
		var reply api.ScheduleReply
		cp := *rec
		wait := n.write(ctx, nt, record.OpPut, &cp, func(seq uint64) {
			nt.rec.Revision = seq
			if old != nil && !old.done {
				n.retire(old)
			}
			if !nt.removed {
				n.plan(nt, time.Now(), true)
			}
			reply = api.ScheduleReply{ID: rec.ID, Revision: seq, Created: created, Next: n.nextText(nt)}
		})
		n.counts.created.Add(1)
		n.mu.Unlock()
		return func(ctx context.Context) (api.ScheduleReply, error) {
			select {
			case o := <-wait:
				if o.err != nil {
					return api.ScheduleReply{}, o.err
				}
				return reply, nil
			case <-ctx.Done():
				return api.ScheduleReply{}, errorf(api.CodeNotReady, "timer %q: not confirmed stored in time: %v", rec.ID, ctx.Err())
			}
		}
	}
}

// Retried answers a request already applied: the timer id exists with the
// same request hash (an identical retry). The service asks when a request
// fails validation, since what was valid at the first try (a start time
// in the future, say) may not be any more at the retry.
func (n *Node) Retried(ctx context.Context, id string, reqHash uint64) (api.ScheduleReply, bool) {
	for {
		if _, err := n.lockShard(id); err != nil {
			return api.ScheduleReply{}, false
		}
		t := n.lookup(id)
		if i, ok := n.far.find(id); ok && t == nil && n.far.ents[i].reqHash == reqHash {
			reply := n.entryReply(i)
			n.mu.Unlock()
			return reply, true
		}
		if t == nil || t.rec.ReqHash != reqHash {
			n.mu.Unlock()
			return api.ScheduleReply{}, false
		}
		if t.writing > 0 {
			if err := n.waitSettled(ctx, t); err != nil {
				return api.ScheduleReply{}, false
			}
			continue
		}
		reply := api.ScheduleReply{ID: id, Revision: t.rec.Revision, Next: n.nextText(t)}
		n.mu.Unlock()
		return reply, true
	}
}

// lockLoaded takes n.mu for an operation that changes timer id: when id is
// a far or near entry, it is loaded first and again says to look again
// (n.mu is then not held, nor on error).
func (n *Node) lockLoaded(ctx context.Context, id string) (again bool, err error) {
	if _, err := n.lockShard(id); err != nil {
		return false, err
	}
	return n.promoteID(ctx, id)
}

// entryReply answers an identical retry of the request that created entry
// i. Call with n.mu held.
func (n *Node) entryReply(i uint32) api.ScheduleReply {
	e := &n.far.ents[i]
	return api.ScheduleReply{ID: string(n.far.id(i)), Revision: e.rev, Next: api.FormatTime(time.Unix(0, e.due))}
}

// live finds a timer that exists and has not fired for good. Call with n.mu held.
func (n *Node) live(id string) (*timer, error) {
	t := n.lookup(id)
	if t == nil {
		return nil, errorf(api.CodeNotFound, "no timer with Timer-Id %q", id)
	}
	if t.done {
		return nil, errorf(api.CodeNotFound, "timer %q has already fired", id)
	}
	return t, nil
}

// checkRevision applies Timer-Expected-Revision; wait is true when a write
// in flight must be acknowledged first (n.mu is then released).
func (n *Node) checkRevision(ctx context.Context, t *timer, o CallOptions) (wait bool, err error) {
	if !o.HasExpected {
		return false, nil
	}
	if t.writing > 0 {
		return true, n.waitSettled(ctx, t)
	}
	if t.rec.Revision != o.ExpectedRevision {
		return false, errorf(api.CodeConflict, "Timer-Expected-Revision %d: timer %q is at revision %d", o.ExpectedRevision, t.rec.ID, t.rec.Revision)
	}
	return false, nil
}

// Cancel deletes a timer. Once it answers, no occurrence due after the
// answer fires.
func (n *Node) Cancel(ctx context.Context, id string, o CallOptions) (api.CancelReply, error) {
	for {
		if again, err := n.lockLoaded(ctx, id); err != nil {
			return api.CancelReply{}, err
		} else if again {
			continue
		}
		t, err := n.live(id)
		if err == nil {
			var wait bool
			if wait, err = n.checkRevision(ctx, t, o); wait {
				if err != nil {
					return api.CancelReply{}, err
				}
				continue
			}
		}
		if err != nil {
			n.mu.Unlock()
			return api.CancelReply{}, err
		}
		// The timer leaves the index now (a new schedule of the id is a new
		// timer) but the wheel only once the delete is stored.
		delete(n.timers, id)
		wait := n.write(ctx, t, record.OpDelete, &record.Timer{ID: id}, func(uint64) {
			n.disarm(t)
			t.removed = true
		})
		n.counts.cancelled.Add(1)
		n.mu.Unlock()
		if err := awaitWrite(ctx, id, wait); err != nil {
			return api.CancelReply{}, err
		}
		return api.CancelReply{ID: id, Cancelled: true}, nil
	}
}

func awaitWrite(ctx context.Context, id string, wait <-chan outcome) error {
	select {
	case o := <-wait:
		return o.err
	case <-ctx.Done():
		return errorf(api.CodeNotReady, "timer %q: change not confirmed stored in time: %v", id, ctx.Err())
	}
}

// Pause stops a timer's firing without losing it; Resume restarts it. A
// paused one-shot whose time passed fires at once on resume; a recurring
// timer resumes with its next occurrence after the resume (occurrences
// during the pause are not fired).
func (n *Node) Pause(ctx context.Context, id string, o CallOptions) (api.Timer, error) {
	return n.setPaused(ctx, id, o, true)
}

// Resume restarts a paused timer; see Pause.
func (n *Node) Resume(ctx context.Context, id string, o CallOptions) (api.Timer, error) {
	return n.setPaused(ctx, id, o, false)
}

func (n *Node) setPaused(ctx context.Context, id string, o CallOptions, paused bool) (api.Timer, error) {
	for {
		if again, err := n.lockLoaded(ctx, id); err != nil {
			return api.Timer{}, err
		} else if again {
			continue
		}
		t, err := n.live(id)
		if err == nil {
			var wait bool
			if wait, err = n.checkRevision(ctx, t, o); wait {
				if err != nil {
					return api.Timer{}, err
				}
				continue
			}
		}
		if err != nil {
			n.mu.Unlock()
			return api.Timer{}, err
		}
		if t.rec.Paused == paused {
			if t.writing > 0 {
				if err := n.waitSettled(ctx, t); err != nil {
					return api.Timer{}, err
				}
				continue
			}
			v := n.view(t)
			n.mu.Unlock()
			return v, nil
		}
		now := time.Now()
		cp := *t.rec
		cp.Paused, cp.Revision = paused, 0
		cp.Fires, cp.LastNominal = t.ackedFires, t.ackedNominal
		if !paused && !t.oneShot() {
			// Skip what the pause missed, after a restart too; never go back
			// before an occurrence already fired (by a trigger, say).
			cp.LastNominal = max(now.UnixNano(), t.ackedNominal, t.lastHanded)
		}
		nt := n.successor(t, &cp)
		stored := cp
		var view api.Timer
		wait := n.write(ctx, nt, record.OpPut, &stored, func(seq uint64) {
			nt.rec.Revision = seq
			n.retire(t)
			if nt.removed {
				return
			}
			if !paused && !nt.oneShot() {
				nt.lastHanded, nt.ackedNominal = cp.LastNominal, cp.LastNominal
				n.plan(nt, now, false)
			} else {
				n.plan(nt, now, true)
			}
			view = n.view(nt)
		})
		n.mu.Unlock()
		if err := awaitWrite(ctx, id, wait); err != nil {
			return api.Timer{}, err
		}
		return view, nil
	}
}

// successor makes the object that stands for t's id, with the same
// definition and progress, once rec (t's definition changed in state only)
// is stored. Fires of t still in flight are credited to it. Call with n.mu held.
func (n *Node) successor(t *timer, rec *record.Timer) *timer {
	nt := &timer{rec: rec, shard: t.shard, sched: t.sched,
		fires: t.fires, ackedFires: t.ackedFires, ackedNominal: t.ackedNominal, lastHanded: t.lastHanded}
	t.successor = nt
	n.timers[rec.ID] = nt
	return nt
}

// Trigger fires a timer's next occurrence now, with that occurrence's
// nominal time and dedup id. A one-shot is then done; a recurring timer goes
// on with the occurrence after it. It answers once the fire is acknowledged
// and the change is stored.
func (n *Node) Trigger(ctx context.Context, id string) (api.TriggerReply, error) {
	var t *timer
	for {
		if again, err := n.lockLoaded(ctx, id); err != nil {
			return api.TriggerReply{}, err
		} else if again {
			continue
		}
		var err error
		if t, err = n.live(id); err != nil {
			n.mu.Unlock()
			return api.TriggerReply{}, err
		}
		if t.writing == 0 {
			break
		}
		if err := n.waitSettled(ctx, t); err != nil {
			return api.TriggerReply{}, err
		}
	}
	if t.next == 0 && !t.oneShot() && t.rec.Paused {
		n.planPausedNext(t)
	}
	if t.next == 0 && !(t.oneShot() && t.rec.Paused) {
		n.mu.Unlock()
		if t.oneShot() {
			return api.TriggerReply{}, errorf(api.CodeNotFound, "timer %q is firing already", id)
		}
		return api.TriggerReply{}, errorf(api.CodeConflict, "timer %q has no occurrence left to trigger", id)
	}
	if t.oneShot() {
		t.next = t.rec.Due
	}
	n.disarm(t)
	f := n.handOut(t, time.Now().UnixNano())
	f.result = make(chan error, 1)
	reply := api.TriggerReply{ID: id, Due: api.FormatTime(time.Unix(0, f.nominal)), Fire: f.number}
	n.mu.Unlock()

	n.publish(f, time.Now().UnixNano())
	select {
	case <-f.result:
	case <-ctx.Done():
		return api.TriggerReply{}, errorf(api.CodeNotReady, "timer %q: the triggered fire is not yet acknowledged (it is retried): %v", id, ctx.Err())
	}

	n.mu.Lock()
	for t.successor != nil {
		t = t.successor
	}
	if t.removed {
		n.mu.Unlock()
		return reply, nil
	}
	var wait <-chan outcome
	if t.oneShot() {
		n.disarm(t)
		t.done = true
		wait = n.write(ctx, t, record.OpDelete, &record.Timer{ID: id}, func(uint64) { n.remember(t) })
	} else {
		if f.nominal > t.ackedNominal {
			t.ackedNominal, t.ackedFires = f.nominal, f.number
		}
		wait = n.write(ctx, t, record.OpProgress, &record.Timer{ID: id, Fires: t.ackedFires, LastNominal: t.ackedNominal}, nil)
		reply.Next = n.nextText(t)
	}
	n.mu.Unlock()
	if err := awaitWrite(ctx, id, wait); err != nil {
		return api.TriggerReply{}, err
	}
	return reply, nil
}

// planPausedNext sets t.next for a paused recurring timer without arming it.
func (n *Node) planPausedNext(t *timer) {
	if next, ok := pausedNext(t); ok {
		t.next = next.UnixNano()
	}
}

// pausedNext is the occurrence a paused recurring timer would fire next:
// after now, and after any occurrence already handed out (a trigger may
// have fired ahead of time).
func pausedNext(t *timer) (time.Time, bool) {
	if t.sched == nil || (t.rec.MaxFires > 0 && t.fires >= t.rec.MaxFires) {
		return time.Time{}, false
	}
	return t.sched.Next(time.Unix(0, max(time.Now().UnixNano(), t.lastHanded)))
}

// Get answers a timer. A far timer is read from its record and stays far.
func (n *Node) Get(ctx context.Context, id string) (api.Timer, error) {
	if _, err := n.lockShard(id); err != nil {
		return api.Timer{}, err
	}
	defer n.mu.Unlock()
	if i, ok := n.far.find(id); ok {
		views, err := n.farViews(ctx, []uint32{i})
		if err != nil {
			return api.Timer{}, err
		}
		if len(views) == 1 {
			return views[0], nil
		}
		// Changed while it was read: answer it as it is now.
	}
	t, err := n.live(id)
	if err != nil {
		return api.Timer{}, err
	}
	return n.view(t), nil
}

// nextText is t's next nominal time as replies carry it, "" when none.
func (n *Node) nextText(t *timer) string {
	switch {
	case t.done:
		if t.oneShot() {
			return api.FormatTime(time.Unix(0, t.rec.Due))
		}
		return ""
	case t.next != 0:
		return api.FormatTime(time.Unix(0, t.next))
	case t.rec.Paused && t.oneShot():
		return api.FormatTime(time.Unix(0, t.rec.Due))
	case t.rec.Paused && t.sched != nil:
		if next, ok := pausedNext(t); ok {
			return api.FormatTime(next)
		}
	}
	return ""
}

// view is the protocol's timer object. Call with n.mu held.
func (n *Node) view(t *timer) api.Timer {
	r := t.rec
	v := api.Timer{
		ID: r.ID, Subject: r.Subject, Kind: r.Kind.String(), Spec: r.Spec, TimeZone: r.TimeZone,
		Next: n.nextText(t), Fires: t.fires, State: api.StateScheduled, Revision: r.Revision,
		Created: api.FormatTime(time.Unix(0, r.Created)), PayloadSize: len(r.Payload), MaxFires: r.MaxFires,
	}
	if r.Paused {
		v.State = api.StatePaused
	}
	if len(r.Headers) > 0 {
		v.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			if _, dup := v.Headers[h.Key]; !dup {
				v.Headers[h.Key] = h.Value
			}
		}
	}
	if r.Start != 0 {
		v.Start = api.FormatTime(time.Unix(0, r.Start))
	}
	if r.End != 0 {
		v.End = api.FormatTime(time.Unix(0, r.End))
	}
	if r.Kind.Recurring() {
		v.Misfire = misfireName(r.Misfire)
	}
	if r.Jitter != 0 {
		v.Jitter = time.Duration(r.Jitter).String()
	}
	return v
}

// Store is the node's store, for stats.
func (n *Node) Store() *jetstream.Store { return n.store }
