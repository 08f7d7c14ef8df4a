package shard

import (
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
)

// Every reply and view of a timer is built here.

// MaxUpcoming bounds Timer-Upcoming; DefaultUpcoming is its default.
const (
	MaxUpcoming     = 100
	DefaultUpcoming = 5
)

// view is entry i's timer object with up to upcoming next occurrences; its
// definition is in memory (near, loaded or firing).
func (s *Shard) view(i uint32, now int64, upcoming int) api.Timer {
	e := &s.tab.ents[i]
	switch e.loc {
	case locNear:
		return s.viewOf(i, decodeDef(s.tab.nearDef(i)), nil, now, upcoming)
	case locLoaded, locFiring:
		o := s.tab.obj(i)
		return s.viewOf(i, o.rec, o, now, upcoming)
	}
	return api.Timer{ID: string(s.tab.id(i))}
}

// viewOf builds the view of entry i from its definition rec (and its
// object, when loaded).
func (s *Shard) viewOf(i uint32, r *record.Timer, o *object, now int64, upcoming int) api.Timer {
	e := &s.tab.ents[i]
	var fires int64
	if o != nil {
		fires = o.fires
	}
	return timerView(e.rev, r, fires, s.upcoming(e, r, o, now, max(upcoming, 1)), upcoming)
}

// Preview is the timer a request would make, stored now: what a dry run
// answers, with up to upcoming next occurrences. It compiles recurring
// specs itself (the service validated them).
func Preview(r *record.Timer, now int64, upcoming int) api.Timer {
	var times []int64
	if !r.Kind.Recurring() {
		times = []int64{r.Due}
	} else if sched, err := cronfeed.Compile(SpecOf(r)); err == nil {
		left := max(upcoming, 1)
		if r.MaxFires > 0 {
			left = min(left, int(r.MaxFires))
		}
		after := time.Unix(0, now)
		if first, ok := sched.First(); ok && first.Before(after) {
			after = first.Add(-time.Nanosecond)
		}
		for _, t := range sched.Upcoming(after, left) {
			times = append(times, t.UnixNano())
		}
	}
	return timerView(0, r, 0, times, upcoming)
}

// timerView is the protocol's timer object.
func timerView(rev uint64, r *record.Timer, fires int64, times []int64, upcoming int) api.Timer {
	v := api.Timer{
		ID: r.ID, Subject: r.Subject, Kind: r.Kind.String(), Spec: r.Spec, TimeZone: r.TimeZone,
		State: api.StateScheduled, Revision: rev, Fires: fires,
		Created: api.FormatTime(time.Unix(0, r.Created)), PayloadSize: len(r.Payload), MaxFires: r.MaxFires,
		Failed: r.Failed, CronDialect: r.Dialect,
	}
	switch {
	case r.Failed != "":
		v.State = api.StateFailed
	case r.Paused:
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
		v.Misfire = cronfeed.Misfire(r.Misfire).String()
	}
	if r.Jitter != 0 {
		v.Jitter = time.Duration(r.Jitter).String()
	}
	if len(times) > 0 {
		v.Next = api.FormatTime(time.Unix(0, times[0]))
	}
	if upcoming > 0 {
		v.Upcoming = make([]string, 0, len(times))
		for _, t := range times {
			v.Upcoming = append(v.Upcoming, api.FormatTime(time.Unix(0, t)))
		}
	}
	return v
}

// upcoming lists up to n next nominal occurrences: a one-shot's due time
// (until it is handed out), a recurring timer's next occurrences honouring
// its zone, bounds, max fires and pending catch-up fires. A paused timer
// shows what it would fire if resumed now.
func (s *Shard) upcoming(e *entry, r *record.Timer, o *object, now int64, n int) []int64 {
	if !r.Kind.Recurring() {
		if e.loc == locFiring || e.loc == locFired {
			return nil
		}
		return []int64{r.Due}
	}
	if o == nil || o.sched == nil {
		return nil
	}
	left := n
	if r.MaxFires > 0 {
		left = min(left, int(r.MaxFires-o.fires))
	}
	var out []int64
	if o.next != 0 {
		out = append(out, o.next)
		out = append(out, o.catchUp...)
		if o.afterCatchUp != 0 {
			out = append(out, o.afterCatchUp)
		}
	} else if r.Paused || r.Failed != "" {
		if next, ok := s.pausedNext(o, now); ok {
			out = append(out, next)
		}
	}
	if len(out) > left {
		return out[:max(left, 0)]
	}
	if len(out) == 0 {
		return nil
	}
	after := out[len(out)-1]
	for len(out) < left {
		t, ok := o.sched.Next(time.Unix(0, after))
		if !ok {
			break
		}
		after = t.UnixNano()
		out = append(out, after)
	}
	return out
}

// pausedNext is the occurrence a paused recurring timer would fire next:
// after now, and after any occurrence already handed out (a trigger may
// have fired ahead of time).
func (s *Shard) pausedNext(o *object, now int64) (int64, bool) {
	if o.sched == nil || (o.rec.MaxFires > 0 && o.fires >= o.rec.MaxFires) {
		return 0, false
	}
	t, ok := o.sched.Next(time.Unix(0, max(now, o.lastHanded)))
	return t.UnixNano(), ok
}

// nextText is entry i's next nominal time as schedule replies carry it,
// "" when none: a one-shot's due time even once fired (an identical retry
// of a fired one-shot is answered with it).
func (s *Shard) nextText(i uint32, now int64) string {
	e := &s.tab.ents[i]
	switch e.loc {
	case locFar, locNear, locFired:
		return api.FormatTime(time.Unix(0, e.due))
	case locLoaded, locFiring:
		o := s.tab.obj(i)
		if o.rec == nil {
			return ""
		}
		if o.oneShot() {
			return api.FormatTime(time.Unix(0, o.rec.Due))
		}
		if times := s.upcoming(e, o.rec, o, now, 1); len(times) > 0 {
			return api.FormatTime(time.Unix(0, times[0]))
		}
	}
	return ""
}
