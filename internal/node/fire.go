package node

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
)

// catchUpLimit bounds the missed occurrences one recurring timer fires at
// once under Timer-Misfire: all; older ones are skipped (docs/semantics.md).
const catchUpLimit = 1000

// fire is one occurrence handed out by the wheel (or by trigger) and not yet
// acknowledged.
type fire struct {
	seq     uint64
	t       *timer
	rec     *record.Timer // the definition fired
	shard   int
	nominal int64
	fireAt  int64
	number  int64
	msg     *nats.Msg
	tries   int
	retryAt int64
	result  chan error // trigger: told of the outcome
}

// MsgID is the Nats-Msg-Id of an occurrence: a function of the id and the
// nominal time alone, the same on every node and after every restart.
func MsgID(id string, nominal time.Time) string {
	return "timerd." + id + "." + strconv.FormatInt(nominal.UnixNano(), 10)
}

// plan computes t's next occurrence and puts it on the wheel. catchUp says
// the timer has been away (new, loaded, resumed): recurring occurrences
// missed until now follow the misfire policy. Call with n.mu held.
func (n *Node) plan(t *timer, now time.Time, catchUp bool) {
	n.disarm(t)
	t.next, t.fireAt = 0, 0
	r := t.rec
	if t.removed || t.done || r.Paused {
		return
	}
	if t.oneShot() {
		t.next = r.Due
	} else {
		if t.sched == nil || (r.MaxFires > 0 && t.fires >= r.MaxFires) {
			return
		}
		var next time.Time
		ok := false
		if catchUp {
			last := time.Time{}
			if t.ackedNominal != 0 {
				last = time.Unix(0, t.ackedNominal)
			}
			left := min(catchUpLimit, cronfeed.FiresLeft(int(r.MaxFires), int(t.fires)))
			// Occurrences up to replayThrough may have fired before a crash
			// or a reload: fire them again as they were (the dedup id drops
			// the ones that did); only later ones are misfires.
			missed := t.replay(&last, left)
			t.replayThrough = 0
			var more []time.Time
			more, next, ok = t.sched.Due(last, now, cronfeed.Misfire(r.Misfire), left-len(missed))
			missed = append(missed, more...)
			if len(missed) > 0 {
				t.catchUp = t.catchUp[:0]
				for _, m := range missed {
					t.catchUp = append(t.catchUp, m.UnixNano())
				}
				t.afterCatchUp = 0
				if ok {
					t.afterCatchUp = next.UnixNano()
				}
				t.next = t.catchUp[0]
				t.catchUp = t.catchUp[1:]
			}
		} else {
			next, ok = t.sched.Next(time.Unix(0, t.lastHanded))
		}
		if t.next == 0 {
			if !ok {
				return
			}
			t.next = next.UnixNano()
		}
	}
	t.fireAt = t.next
	if r.Jitter > 0 {
		t.fireAt += int64(cronfeed.Jitter(r.ID, time.Unix(0, t.next), time.Duration(r.Jitter)))
		n.maxJitter = max(n.maxJitter, r.Jitter)
	}
	n.arm(t)
}

// replay returns the occurrences after *last and at or before
// t.replayThrough, at most limit, and moves *last to the newest of them.
func (t *timer) replay(last *time.Time, limit int) []time.Time {
	var out []time.Time
	for t.replayThrough != 0 && len(out) < limit {
		var o time.Time
		var ok bool
		if last.IsZero() {
			o, ok = t.sched.First()
		} else {
			o, ok = t.sched.Next(*last)
		}
		if !ok || o.UnixNano() > t.replayThrough {
			break
		}
		out = append(out, o)
		*last = o
	}
	return out
}

// advanceRecurring moves t past the occurrence just handed out: the next
// catch-up occurrence if any, else the schedule's next. Call with n.mu held.
func (n *Node) advanceRecurring(t *timer) {
	if len(t.catchUp) > 0 {
		t.next = t.catchUp[0]
		t.catchUp = t.catchUp[1:]
	} else if t.afterCatchUp != 0 {
		t.next, t.afterCatchUp = t.afterCatchUp, 0
	} else {
		n.plan(t, time.Time{}, false)
		return
	}
	if t.rec.MaxFires > 0 && t.fires >= t.rec.MaxFires {
		t.next, t.catchUp, t.afterCatchUp = 0, nil, 0
		return
	}
	t.fireAt = t.next
	if t.rec.Jitter > 0 {
		t.fireAt += int64(cronfeed.Jitter(t.rec.ID, time.Unix(0, t.next), time.Duration(t.rec.Jitter)))
	}
	n.arm(t)
}

func (n *Node) arm(t *timer) {
	var slot uint32
	if k := len(n.freeSlots); k > 0 {
		slot = n.freeSlots[k-1]
		n.freeSlots = n.freeSlots[:k-1]
		n.slots[slot] = t
	} else {
		slot = uint32(len(n.slots))
		n.slots = append(n.slots, t)
	}
	t.slot = slot
	t.handle = n.wheel.Add(t.fireAt, uint64(slot))
	n.poke(t.fireAt)
}

func (n *Node) disarm(t *timer) {
	if t.handle == 0 {
		return
	}
	n.wheel.Cancel(t.handle)
	n.freeSlot(t)
}

func (n *Node) freeSlot(t *timer) {
	n.slots[t.slot] = nil
	n.freeSlots = append(n.freeSlots, t.slot)
	t.handle = 0
}

// fireLoop sleeps on one runtime timer until the wheel's next entry (or an
// earlier arrival, or a retry) and publishes what is due.
func (n *Node) fireLoop() {
	defer n.stopped.Done()
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	var due []*fire
	for {
		now := time.Now().UnixNano()
		n.mu.Lock()
		due = n.collectDue(now, due[:0])
		wake := now + int64(time.Hour)
		if next, ok := n.wheel.Next(); ok {
			wake = min(wake, next)
		}
		for _, f := range n.retries {
			wake = min(wake, f.retryAt)
		}
		n.sleepTill = wake
		n.mu.Unlock()

		for _, f := range due {
			n.publish(f, now)
		}
		clear(due)
		if len(due) > 0 {
			continue
		}
		d := time.Duration(wake - time.Now().UnixNano())
		if d <= 0 {
			continue
		}
		sleep.Reset(d)
		select {
		case <-sleep.C:
		case <-n.wake:
			if !sleep.Stop() {
				<-sleep.C
			}
		case <-n.stop:
			return
		}
	}
}

// collectDue hands out every wheel entry due by now, and every retry whose
// time has come. Call with n.mu held.
func (n *Node) collectDue(now int64, due []*fire) []*fire {
	if n.fenced {
		return due
	}
	// The wheel may not be called from its callback: collect, then hand out
	// (which re-arms recurring timers).
	n.dueSlots = n.dueSlots[:0]
	n.wheel.Advance(now, func(v uint64, _ int64) { n.dueSlots = append(n.dueSlots, v) })
	for _, v := range n.dueSlots {
		var t *timer
		if v&nearFlag != 0 {
			t = n.dueNear(uint32(v))
		} else {
			t = n.slots[v]
			n.freeSlot(t)
		}
		n.lag.add(time.Duration(now - t.fireAt))
		due = append(due, n.handOut(t, now))
	}
	if len(n.retries) > 0 {
		kept := n.retries[:0]
		for _, f := range n.retries {
			if f.retryAt <= now {
				due = append(due, f)
			} else {
				kept = append(kept, f)
			}
		}
		clear(n.retries[len(kept):])
		n.retries = kept
	}
	return due
}

// handOut turns t's current occurrence into a fire and moves t on. Call with
// n.mu held.
func (n *Node) handOut(t *timer, now int64) *fire {
	t.fires++
	t.lastHanded = t.next
	n.fireSeq++
	// The message is built by publish, outside the lock, from f.rec: a
	// definition is never changed in place while a fire of it is in flight.
	f := &fire{seq: n.fireSeq, t: t, rec: t.rec, shard: t.shard, nominal: t.next, fireAt: t.fireAt, number: t.fires}
	n.inflight[f.seq] = f
	if t.oneShot() {
		t.next, t.fireAt = 0, 0
	} else {
		n.advanceRecurring(t)
	}
	return f
}

// fireMsg builds the fire: the payload and kept headers, plus Timer-Id,
// Timer-Due, Timer-Fire and Nats-Msg-Id.
func fireMsg(r *record.Timer, nominal, number int64) *nats.Msg {
	m := &nats.Msg{Subject: r.Subject, Data: r.Payload, Header: make(nats.Header, len(r.Headers)+4)}
	for _, h := range r.Headers {
		m.Header[h.Key] = append(m.Header[h.Key], h.Value)
	}
	due := time.Unix(0, nominal)
	v := make([]string, 4) // one allocation for the four values
	v[0], v[1], v[2], v[3] = r.ID, api.FormatTime(due), strconv.FormatInt(number, 10), MsgID(r.ID, due)
	m.Header[api.HeaderID] = v[0:1:1]
	m.Header[api.HeaderDue] = v[1:2:2]
	m.Header[api.HeaderFire] = v[2:3:3]
	m.Header[api.HeaderMsgID] = v[3:4:4]
	return m
}

func (n *Node) publish(f *fire, now int64) {
	if f.tries == 0 && f.result == nil && n.cfg.Metrics != nil {
		n.cfg.Metrics.fireLag.Observe(float64(time.Now().UnixNano()-f.fireAt) / 1e9)
	}
	if f.msg == nil {
		f.msg = fireMsg(f.rec, f.nominal, f.number)
	}
	f.tries++
	n.fires.Publish(context.Background(), f.msg, func(err error) { n.fired(f, err) })
}

// fired takes a fire's outcome: a failure is retried with backoff (the dedup
// id makes the retry harmless); a success completes a one-shot or advances
// a recurring timer's recorded progress.
func (n *Node) fired(f *fire, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.counts.retried.Add(1)
		if n.closing {
			return // left unacknowledged: the mark keeps it, a restart fires it again
		}
		backoff := min(time.Duration(1<<min(f.tries, 10))*10*time.Millisecond, 2*time.Second)
		f.retryAt = time.Now().Add(backoff).UnixNano()
		n.retries = append(n.retries, f)
		n.poke(f.retryAt)
		if f.tries == 1 || f.tries%50 == 0 {
			n.log.Warn("fire not stored, retrying", "id", f.rec.ID, "subject", f.rec.Subject, "tries", f.tries, "err", err)
		}
		return
	}
	delete(n.inflight, f.seq)
	n.counts.fired.Add(1)
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.fired.Inc()
	}
	if f.result != nil {
		f.result <- nil // a trigger: its caller records the outcome
		return
	}
	t := f.t
	for t.successor != nil { // paused or resumed while the fire was in flight
		t = t.successor
	}
	if !t.removed && !t.done {
		if t.oneShot() {
			n.disarm(t)
			n.complete(t)
		} else if f.nominal > t.ackedNominal {
			t.ackedNominal, t.ackedFires = f.nominal, f.number
			if !t.dirty {
				t.dirty = true
				n.dirty = append(n.dirty, t)
			}
		}
	}
}

// complete ends a fired one-shot: its record no longer holds a live
// operation, and it is remembered only to recognize a retry of the request
// that created it. Call with n.mu held.
func (n *Node) complete(t *timer) {
	t.done = true
	s := n.shards[t.shard]
	s.release(t)
	s.firedSince = true
	n.remember(t)
}

// remember moves a fired one-shot from the index to the fired set. Call
// with n.mu held.
func (n *Node) remember(t *timer) {
	if n.timers[t.rec.ID] == t {
		delete(n.timers, t.rec.ID)
		n.recent.add(t)
	}
}

// lookup is the timer object of id: loaded, or fired recently (done).
// Far timers are not objects (n.far). Call with n.mu held.
func (n *Node) lookup(id string) *timer {
	if t := n.timers[id]; t != nil {
		return t
	}
	return n.recent.get(id)
}
