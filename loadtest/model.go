package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/hist"
	"github.com/timerd/timerd/internal/node"
)

// Timer kinds the generator makes.
const (
	kindIn     = "in"
	kindAt     = "at"
	kindCron   = "cron"
	kindRepeat = "repeat"
)

// timer is what the verifier knows of one timer: its confirmed spec and
// the occurrences it must, may or must not fire.
type timer struct {
	id        string
	kind      string
	confirmed bool  // a create (or replace) answered 200
	gaveUp    bool  // never confirmed: it may or may not exist, so its fires prove nothing
	endedAt   int64 // Unix ns when a cancel was confirmed (client receipt); 0: live
	// occ are the occurrences expected by nominal time (Unix ns). An
	// occurrence of a cancelled or replaced spec keeps cutoff: it must not
	// fire when its nominal time is after cutoff.
	occ []occurrence
	log []string // what the generator learned, for failure examples
}

type occurrence struct {
	nominal   int64
	cutoff    int64 // 0: must fire; else fires only if nominal <= cutoff
	confirmed int64 // when the spec holding it was confirmed (client time)
}

// fireKey names one occurrence: the timer id and its nominal time.
type fireKey struct {
	id      string
	nominal int64
}

type fireRec struct {
	count uint16
	first int64 // fire time of the first copy (stored time, or receipt time without a stream)
}

// Model is the verifier's state: every timer the generator confirmed and
// every fire seen, matched at the end. Fires are kept apart from timers
// because a fire can arrive before the reply that says it was expected.
type Model struct {
	mu       sync.Mutex
	timers   map[string]*timer
	fires    map[fireKey]*fireRec
	badMsgID int            // a fire whose Nats-Msg-Id is not timerd.<id>.<nominal>
	foreign  int            // a fire without Timer-Id / Timer-Due
	timeline *hist.Timeline // µs by fire time
	rate     *hist.Timeline // creates confirmed, by time (value unused)
	late     time.Duration
	shards   int // the target's shard count (0: not known)
	expected int // occurrences that must fire, registered so far
	matched  int // of those, fired at least once (at registration or fire time)
}

// NewModel starts a model whose timelines begin at start.
func NewModel(start time.Time, late time.Duration) *Model {
	return &Model{timers: map[string]*timer{}, fires: map[fireKey]*fireRec{},
		timeline: hist.NewTimeline(start.UnixNano(), int64(time.Second)),
		rate:     hist.NewTimeline(start.UnixNano(), int64(time.Second)), late: late}
}

// MsgID is the Nats-Msg-Id timerd gives an occurrence (api.MsgID).
func MsgID(id string, nominal int64) string { return api.MsgID(id, nominal) }

// Confirmed records a 200 for a create or replace of id at client time
// now: the occurrences that must fire, and those that may. A replace ends
// the previous spec's occurrences at now.
func (m *Model) Confirmed(id, kind string, occ, may []int64, now int64, note string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.timers[id]
	if t == nil {
		t = &timer{id: id}
		m.timers[id] = t
	}
	m.endLocked(t, now)
	t.kind, t.confirmed, t.gaveUp, t.endedAt = kind, true, false, 0
	t.log = append(t.log, note)
	for _, n := range occ {
		t.occ = append(t.occ, occurrence{nominal: n, confirmed: now})
		m.expected++
		if m.fires[fireKey{id, n}] != nil {
			m.matched++
		}
	}
	for _, n := range may {
		t.occ = append(t.occ, occurrence{nominal: n, cutoff: math.MaxInt64, confirmed: now})
	}
	m.rate.Record(now, 0)
}

// endLocked gives the live occurrences of t a cutoff at now.
func (m *Model) endLocked(t *timer, now int64) {
	for k := range t.occ {
		if t.occ[k].cutoff == 0 {
			t.occ[k].cutoff = now
			m.expected--
			if m.fires[fireKey{t.id, t.occ[k].nominal}] != nil {
				m.matched--
			}
		}
	}
}

// Cancelled records a cancel of id answered 200 (or 404) at client time
// now; note says which, for failure examples.
func (m *Model) Cancelled(id string, now int64, note string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.timers[id]; t != nil {
		m.endLocked(t, now)
		t.endedAt = now
		t.log = append(t.log, note)
	}
}

// SetShards tells the model the target's shard count, so failure examples
// name each timer's shard (to find it in the nodes' logs).
func (m *Model) SetShards(n int) {
	m.mu.Lock()
	m.shards = n
	m.mu.Unlock()
}

// Uncertain records a request on id whose outcome is unknown (never
// answered, or answered with something unreadable): every occurrence of
// the timer may or may not fire, and fires of specs not known are no error.
func (m *Model) Uncertain(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.timers[id]
	if t == nil {
		t = &timer{id: id}
		m.timers[id] = t
	}
	m.endLocked(t, math.MaxInt64)
	t.gaveUp = true
	t.log = append(t.log, "outcome unknown")
}

// Fire records one fire: the timer id and nominal time from its headers, its
// Nats-Msg-Id, and when it fired (Unix ns).
func (m *Model) Fire(id string, nominal int64, msgID string, at int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == "" || nominal == 0 {
		m.foreign++
		return
	}
	if msgID != MsgID(id, nominal) {
		m.badMsgID++
	}
	k := fireKey{id, nominal}
	f := m.fires[k]
	if f == nil {
		f = &fireRec{first: at}
		m.fires[k] = f
		m.timeline.Record(at, (at-nominal)/1e3)
		if t := m.timers[id]; t != nil {
			for _, o := range t.occ {
				if o.nominal == nominal && o.cutoff == 0 {
					m.matched++
					break
				}
			}
		}
	}
	if f.count < 65535 {
		f.count++
	}
}

// Pending is the number of occurrences that must fire and have not yet.
func (m *Model) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expected - m.matched
}

// LastDue is the latest nominal time of an occurrence that must fire.
func (m *Model) LastDue() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last int64
	for _, t := range m.timers {
		for _, o := range t.occ {
			if o.cutoff == 0 {
				last = max(last, o.nominal)
			}
		}
	}
	return last
}

// Verdict is the verifier's final count.
type Verdict struct {
	Timers      int `json:"timers"`       // confirmed timers
	Unconfirmed int `json:"unconfirmed"`  // creates never answered
	Expected    int `json:"expected"`     // occurrences that had to fire
	Fired       int `json:"fired"`        // distinct occurrences seen
	Lost        int `json:"lost"`         // had to fire, never seen
	Duplicates  int `json:"duplicates"`   // copies beyond the first
	Early       int `json:"early"`        // fired before the nominal time
	Late        int `json:"late"`         // fired more than -late after it
	AfterCancel int `json:"after_cancel"` // fired though cancelled or replaced before its time
	Unexpected  int `json:"unexpected"`   // an occurrence no confirmed spec has
	BadMsgID    int `json:"bad_msg_id"`
	Foreign     int `json:"foreign"`
	Optional    int `json:"optional"` // in flight at a cancel or replace: may or may not fire
	// PastDue are occurrences whose create was confirmed only after their
	// nominal time (an outage delayed the request): they fire at once by
	// design, so their lag says nothing of timerd's and is left out of the
	// lag figures and of Late.
	PastDue int `json:"past_due"`

	// Examples name a few occurrences of each failure, for whoever debugs it.
	Examples []string `json:"examples,omitempty"`

	LagP50Ms  float64 `json:"lag_p50_ms"`
	LagP99Ms  float64 `json:"lag_p99_ms"`
	LagP999Ms float64 `json:"lag_p999_ms"`
	LagMaxMs  float64 `json:"lag_max_ms"`
}

// Failed says whether the verdict breaks a guarantee. Duplicates count
// only when fires were read from a dedup stream.
func (v Verdict) Failed(dedup bool) bool {
	return v.Lost > 0 || v.Early > 0 || v.AfterCancel > 0 || v.Unexpected > 0 || v.BadMsgID > 0 || (dedup && v.Duplicates > 0)
}

// Verdict matches every fire against every expected occurrence.
func (m *Model) Verdict() Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := Verdict{BadMsgID: m.badMsgID, Foreign: m.foreign}
	perKind := map[string]int{}
	example := func(what string, t *timer, nominal int64, detail string) {
		if perKind[what]++; perKind[what] <= 5 {
			kind := ""
			if t != nil {
				kind = t.kind
			}
			var log []string
			if t != nil {
				log = t.log
			}
			if m.shards > 0 && t != nil {
				kind += fmt.Sprintf(", shard %d", node.ShardOf(t.id, m.shards))
			}
			v.Examples = append(v.Examples, fmt.Sprintf("%s: %s (%s) due %s %s; %s", what, t.idOr(), kind,
				clock(time.Unix(0, nominal)), detail, strings.Join(log, "; ")))
		}
	}
	known := map[fireKey]bool{}
	live := map[fireKey]bool{} // a replace may bring back a nominal time it cut
	for _, t := range m.timers {
		for _, o := range t.occ {
			if o.cutoff == 0 {
				live[fireKey{t.id, o.nominal}] = true
			}
		}
	}
	for _, t := range m.timers {
		if t.confirmed {
			v.Timers++
		} else {
			v.Unconfirmed++
		}
		for _, o := range t.occ {
			k := fireKey{t.id, o.nominal}
			known[k] = true
			f := m.fires[k]
			switch {
			case o.cutoff == 0:
				v.Expected++
				if f == nil {
					v.Lost++
					example("lost", t, o.nominal, "")
				}
			case o.nominal > o.cutoff:
				if f != nil && !live[k] {
					v.AfterCancel++
					example("fired after cancel", t, o.nominal, fmt.Sprintf("cut at %s, fired at %s", clock(time.Unix(0, o.cutoff)), clock(time.Unix(0, f.first))))
				}
			default:
				v.Optional++
			}
		}
	}
	var lag hist.Histogram
	for k, f := range m.fires {
		v.Fired++
		if m.confirmedAfterDue(k) {
			v.PastDue++
		} else {
			lag.Record((f.first - k.nominal) / 1e3)
			if m.late > 0 && f.first-k.nominal > int64(m.late) {
				v.Late++
			}
		}
		v.Duplicates += int(f.count) - 1
		if f.count > 1 {
			example("duplicate", m.timers[k.id], k.nominal, fmt.Sprintf("%d copies", f.count))
		}
		if f.first < k.nominal {
			v.Early++
			example("early", m.timers[k.id], k.nominal, "fired at "+clock(time.Unix(0, f.first)))
		}
		if !known[k] {
			if t := m.timers[k.id]; t == nil || !t.gaveUp {
				v.Unexpected++
				if t == nil {
					t = &timer{id: k.id}
				}
				example("unexpected", t, k.nominal, "fired at "+clock(time.Unix(0, f.first)))
			}
		}
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	v.LagP50Ms, v.LagP99Ms, v.LagP999Ms, v.LagMaxMs = ms(lag.Quantile(0.5)), ms(lag.Quantile(0.99)), ms(lag.Quantile(0.999)), ms(lag.Max())
	return v
}

// ResetFires forgets every fire, before a recount from the stream.
func (m *Model) ResetFires() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fires = map[fireKey]*fireRec{}
	m.timeline = hist.NewTimeline(m.timeline.Start(), int64(time.Second))
	m.badMsgID, m.foreign = 0, 0
	m.matched = 0
}

// Snapshot is the model's state for a progress line.
type Snapshot struct {
	Fired     int        // distinct occurrences seen
	Confirmed int        // creates and replaces confirmed
	Pending   int        // occurrences that must fire and have not
	Second    hist.Point // lag (µs) of the fires of the last complete second
}

// Snapshot reads the model at time now (Unix ns).
func (m *Model) Snapshot(now int64) Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{Fired: len(m.fires), Pending: m.expected - m.matched}
	for _, t := range m.timers {
		if t.confirmed {
			s.Confirmed++
		}
	}
	pts := m.timeline.Points()
	sec := int((now-m.timeline.Start())/int64(time.Second)) - 1
	if sec >= 0 && sec < len(pts) {
		s.Second = pts[sec]
	}
	return s
}

func (t *timer) idOr() string {
	if t == nil {
		return "(unknown id)"
	}
	return t.id
}

// Window is a span of nominal times, Unix ns, both ends included.
type Window struct{ From, To int64 }

// LagFigures summarize the lag of a set of fires.
type LagFigures struct {
	Fires int     `json:"fires"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// LagDue is the lag of the occurrences due within any of the windows (a
// fault's, say), first fire each, leaving out as Verdict does those whose
// create was confirmed only after their nominal time.
func (m *Model) LagDue(windows ...Window) LagFigures {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lag hist.Histogram
	n := 0
	for k, f := range m.fires {
		if !slices.ContainsFunc(windows, func(w Window) bool { return w.From <= k.nominal && k.nominal <= w.To }) {
			continue
		}
		if m.confirmedAfterDue(k) {
			continue
		}
		lag.Record((f.first - k.nominal) / 1e3)
		n++
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	return LagFigures{Fires: n, P50Ms: ms(lag.Quantile(0.5)), P99Ms: ms(lag.Quantile(0.99)), MaxMs: ms(lag.Max())}
}

// confirmedAfterDue says whether every spec holding occurrence k was
// confirmed only after its nominal time. Call with mu held.
func (m *Model) confirmedAfterDue(k fireKey) bool {
	t := m.timers[k.id]
	if t == nil {
		return false
	}
	found := false
	for _, o := range t.occ {
		if o.nominal == k.nominal {
			if o.confirmed <= k.nominal {
				return false
			}
			found = true
		}
	}
	return found
}
