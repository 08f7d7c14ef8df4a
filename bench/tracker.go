package main

import (
	"sync"
	"time"

	"github.com/timerd/timerd/bench/hist"
)

// Timer states in the tracker.
const (
	stUnsent    uint8 = iota
	stScheduled       // the contender confirmed it (200 / stream ack)
	stFailed          // the contender refused it or never answered
	stCancelled       // a cancel was confirmed
)

// Tracker checks every fire of one run against the workload: matched by the
// index in the payload, each fire is on time or late (never early), once
// (never twice), and not after its cancel. It keeps two bytes per timer,
// allocated and touched before the memory baseline is taken.
type Tracker struct {
	w     *Workload
	epoch int64 // Unix ns: the start of ingest; due(i) = epoch + DueOffset(i)
	step  time.Duration

	mu          sync.Mutex
	state       []uint8
	fires       []uint8
	cancelAt    map[int32]int64 // cancel confirmation time of cancelled timers
	lag         hist.Histogram  // µs, first fire of each timer
	timeline    *hist.Timeline  // µs by receipt time, from the first due, per step
	fired       int             // timers fired at least once
	duplicates  int             // fires beyond the first
	early       int
	afterCancel int
	unknown     int // fires that match no timer of the run
	dueMismatch int // Timer-Due header differs from the nominal time sent
	firstFire   int64
	lastFire    int64
	outstanding int // scheduled, not cancelled, not fired: kept as it changes, read often

	// With -core-lag, each timer's first fire as a plain subscription
	// receives it: as the server reads it from the publisher, before the
	// stream stores it (stored time minus this is the server's part).
	coreSeen     []uint8 // nil unless TrackCore
	coreLag      hist.Histogram
	coreTimeline *hist.Timeline
	coreFired    int
}

// NewTracker allocates the per-timer state and writes every page of it, so
// the memory it takes is resident before the baseline; step is the
// interval of the lag timeline (<= 0: one second).
func NewTracker(w *Workload, step time.Duration) *Tracker {
	if step <= 0 {
		step = time.Second
	}
	t := &Tracker{w: w, step: step, state: make([]uint8, w.Timers), fires: make([]uint8, w.Timers), cancelAt: map[int32]int64{}}
	for i := 0; i < len(t.state); i += 512 {
		t.state[i], t.fires[i] = 0, 0
	}
	return t
}

// TrackCore makes the tracker keep core receipts (CoreFire) too; call it
// before the memory baseline, as NewTracker.
func (t *Tracker) TrackCore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.coreSeen = make([]uint8, len(t.state))
	for i := 0; i < len(t.coreSeen); i += 512 {
		t.coreSeen[i] = 0
	}
}

// Start fixes the epoch: dues are offsets from it.
func (t *Tracker) Start(epoch time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch = epoch.UnixNano()
	t.timeline = hist.NewTimeline(t.epoch+int64(t.w.Due), int64(t.step))
	t.coreTimeline = hist.NewTimeline(t.epoch+int64(t.w.Due), int64(t.step))
}

// CoreFire records timer i's fire as seen on a core subscription at recv
// (Unix ns); only the first receipt of each timer counts.
func (t *Tracker) CoreFire(i int, recv int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= len(t.coreSeen) || t.coreSeen[i] != 0 {
		return
	}
	t.coreSeen[i] = 1
	t.coreFired++
	lag := (recv - (t.epoch + int64(t.w.DueOffset(i)))) / 1e3
	t.coreLag.Record(lag)
	t.coreTimeline.Record(recv, lag)
}

// Due is timer i's nominal fire time (Unix ns).
func (t *Tracker) Due(i int) int64 { return t.epoch + int64(t.w.DueOffset(i)) }

// Scheduled records the contender's answer to timer i's schedule.
func (t *Tracker) Scheduled(i int, ok bool) {
	t.mu.Lock()
	if t.state[i] == stUnsent {
		if ok {
			t.state[i] = stScheduled
			if t.fires[i] == 0 && !t.w.IsFar(i) {
				t.outstanding++
			}
		} else {
			t.state[i] = stFailed
		}
	}
	t.mu.Unlock()
}

// Cancelled records a confirmed cancel of timer i at time at (Unix ns).
func (t *Tracker) Cancelled(i int, at int64) {
	t.mu.Lock()
	if t.state[i] == stScheduled {
		t.state[i] = stCancelled
		t.cancelAt[int32(i)] = at
		if t.fires[i] == 0 && !t.w.IsFar(i) {
			t.outstanding--
		}
	}
	t.mu.Unlock()
}

// Fire records one fire of timer index i received at recv (Unix ns);
// headerDue is the Timer-Due the fire carried (0: the contender sends none).
func (t *Tracker) Fire(i int, recv, headerDue int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= len(t.fires) {
		t.unknown++
		return
	}
	due := t.epoch + int64(t.w.DueOffset(i))
	if headerDue != 0 && headerDue != due {
		t.dueMismatch++
	}
	if recv < due {
		t.early++
	}
	if t.state[i] == stCancelled && due > t.cancelAt[int32(i)] {
		t.afterCancel++
	}
	if t.fires[i] < 255 {
		t.fires[i]++
	}
	if t.fires[i] > 1 {
		t.duplicates++
		return
	}
	if t.state[i] == stScheduled && !t.w.IsFar(i) {
		t.outstanding--
	}
	t.fired++
	lag := (recv - due) / 1e3
	t.lag.Record(lag)
	t.timeline.Record(recv, lag)
	if t.firstFire == 0 || recv < t.firstFire {
		t.firstFire = recv
	}
	t.lastFire = max(t.lastFire, recv)
}

// Outstanding counts the timers still to fire: scheduled, not cancelled,
// not fired.
func (t *Tracker) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.outstanding
}

// Fired is the number of timers that fired at least once.
func (t *Tracker) Fired() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fired
}

// FireStats is the fire side of a contender's result.
type FireStats struct {
	Scheduled   int          `json:"scheduled"`
	Failed      int          `json:"failed"`
	Cancelled   int          `json:"cancelled"`
	Fired       int          `json:"fired"`
	Lost        int          `json:"lost"`
	FarPending  int          `json:"far_pending,omitempty"` // far timers (-far) not fired, as they should not be
	Duplicates  int          `json:"duplicates"`
	Early       int          `json:"early"`
	AfterCancel int          `json:"fired_after_cancel"`
	Unknown     int          `json:"unknown"`
	DueMismatch int          `json:"due_mismatch"`
	FireRate    float64      `json:"fire_rate"` // fires/s between the first and last fire
	LagP50Ms    float64      `json:"lag_p50_ms"`
	LagP99Ms    float64      `json:"lag_p99_ms"`
	LagP999Ms   float64      `json:"lag_p999_ms"`
	LagMaxMs    float64      `json:"lag_max_ms"`
	Timeline    []hist.Point `json:"timeline,omitempty"` // µs per -timeline step (default a second), from the first due
	// CoreFired and the CoreLag figures are the first receipts on a core
	// subscription (-core-lag): the lag before the stream stored the fire.
	CoreFired    int          `json:"core_fired,omitempty"`
	CoreLagP50Ms float64      `json:"core_lag_p50_ms,omitempty"`
	CoreLagP99Ms float64      `json:"core_lag_p99_ms,omitempty"`
	CoreLagMaxMs float64      `json:"core_lag_max_ms,omitempty"`
	CoreTimeline []hist.Point `json:"core_timeline,omitempty"`
}

// Stats summarizes the run so far.
func (t *Tracker) Stats() FireStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := FireStats{Fired: t.fired, Duplicates: t.duplicates, Early: t.early, AfterCancel: t.afterCancel,
		Unknown: t.unknown, DueMismatch: t.dueMismatch}
	for i, st := range t.state {
		switch st {
		case stScheduled:
			s.Scheduled++
			switch {
			case t.fires[i] != 0:
			case t.w.IsFar(i):
				s.FarPending++
			default:
				s.Lost++
			}
		case stCancelled:
			s.Scheduled++
			s.Cancelled++
		case stFailed:
			s.Failed++
		}
	}
	if t.fired > 1 && t.lastFire > t.firstFire {
		s.FireRate = float64(t.fired-1) / (float64(t.lastFire-t.firstFire) / 1e9)
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	s.LagP50Ms, s.LagP99Ms, s.LagP999Ms = ms(t.lag.Quantile(0.5)), ms(t.lag.Quantile(0.99)), ms(t.lag.Quantile(0.999))
	s.LagMaxMs = ms(t.lag.Max())
	if t.lag.Below() > 0 { // an early fire's lag is negative: the max says how early at most
		s.LagMaxMs = max(s.LagMaxMs, 0)
	}
	if t.timeline != nil {
		s.Timeline = t.timeline.Points()
	}
	if t.coreFired > 0 {
		s.CoreFired = t.coreFired
		s.CoreLagP50Ms, s.CoreLagP99Ms, s.CoreLagMaxMs = ms(t.coreLag.Quantile(0.5)), ms(t.coreLag.Quantile(0.99)), ms(t.coreLag.Max())
		s.CoreTimeline = t.coreTimeline.Points()
	}
	return s
}
