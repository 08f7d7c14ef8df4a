package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/bench/embed"
)

// Options are the run-wide settings that are not the workload.
type Options struct {
	Restart    bool          // restart each firing contender between ingest and the first due
	NoFire     bool          // stop after ingest (and cancels and restart): ingest and memory only
	Grace      time.Duration // wait this long after the last due for fires
	Timeline   time.Duration // interval of the lag-over-time series
	CoreLag    bool          // also time each fire's first receipt on a core subscription
	Profile    string        // "", "ingest", "fire" or "tail": CPU profile that phase (in-process contenders)
	HeapProf   bool          // heap profile after ingest (in-process contenders)
	OutDir     string
	Name       string
	WorkDir    string
	TimerdBin  string
	TimerdArgs string // more serve flags for timerd-bin*, space-separated
	// NATSServerBin is the nats-server binary of the *-bin NATS contenders.
	NATSServerBin string
	Keep          bool // keep data directories
	Log           io.Writer
}

// RestartStats says how long a contender took to come back.
type RestartStats struct {
	ReadyMs  float64 `json:"ready_ms"`  // new instance began -> answering (timers loaded)
	FiringMs float64 `json:"firing_ms"` // new instance began -> a timer scheduled then has fired
	Pending  int     `json:"pending"`   // timers pending across the restart
}

// Result is one contender's outcome.
type Result struct {
	Contender       string        `json:"contender"`
	About           string        `json:"about"`
	Placement       string        `json:"placement,omitempty"` // where the server runs, beside the bench client or not
	Timers          int           `json:"timers"`
	IngestSeconds   float64       `json:"ingest_seconds"`
	IngestRate      float64       `json:"ingest_rate"`
	Errors          int           `json:"errors"`
	FirstError      string        `json:"first_error,omitempty"`
	CancelSent      int           `json:"cancel_sent"`
	CancelRate      float64       `json:"cancel_rate"`
	Fire            *FireStats    `json:"fire,omitempty"`
	RSSBefore       int64         `json:"rss_before"`
	RSSAfter        int64         `json:"rss_after"`
	HeapBefore      int64         `json:"heap_before"`
	HeapAfter       int64         `json:"heap_after"`
	PendingMeasured int           `json:"pending_measured"`
	RSSPerPending   float64       `json:"rss_per_pending"`
	HeapPerPending  float64       `json:"heap_per_pending"` // -1: unknown
	Restart         *RestartStats `json:"restart,omitempty"`
	Failed          string        `json:"failed,omitempty"`    // the run could not complete
	Diagnosis       string        `json:"diagnosis,omitempty"` // the contender's own account when fires are missing
	Notes           []string      `json:"notes,omitempty"`     // what the contender says of its run (a cluster: requests handed over)
	// StoreWritesPerTimer is JetStream messages the contender wrote per
	// timer during ingest (timerd's group commit; 0: not known).
	StoreWritesPerTimer float64 `json:"store_writes_per_timer,omitempty"`
	// IngestCPUPerTimer is the CPU time (µs) the serving processes used
	// per timer while ingesting; binaries only (serverCPU), 0 otherwise.
	IngestCPUPerTimer float64 `json:"ingest_cpu_us_per_timer,omitempty"`
	// FireCPUPerFire is the same for the fire phase (µs per fire, idle
	// time before the first due included); not after a restart.
	FireCPUPerFire float64 `json:"fire_cpu_us_per_fire,omitempty"`
	// StoreWritesPerFire is the same from the end of ingest to the last
	// fire (marks, progress, purges), per fire; fires themselves are
	// not store writes.
	StoreWritesPerFire float64 `json:"store_writes_per_fire,omitempty"`
	Seconds            float64 `json:"seconds"`
}

func logf(o *Options, format string, args ...any) {
	fmt.Fprintf(o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// runOne runs the workload against a fresh c and reports.
func runOne(ctx context.Context, c Contender, w *Workload, o *Options) (res Result) {
	began := time.Now()
	res = Result{Contender: c.Name(), About: c.About(), Placement: placement(c), Timers: w.Timers, HeapPerPending: -1}
	defer func() { res.Seconds = time.Since(began).Seconds() }()
	fail := func(err error) Result {
		res.Failed = err.Error()
		logf(o, "[%s] FAILED: %v", c.Name(), err)
		return res
	}
	dir, err := os.MkdirTemp(o.WorkDir, "timerd-bench-"+c.Name()+"-")
	if err != nil {
		return fail(err)
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	env := &Env{Dir: dir, TimerdBin: o.TimerdBin, TimerdArgs: strings.Fields(o.TimerdArgs), NATSServerBin: o.NATSServerBin,
		LogDir: o.OutDir, Workload: w}
	if err := c.Start(ctx, env); err != nil {
		c.Stop()
		return fail(fmt.Errorf("start: %w", err))
	}
	defer func() {
		if !stopWithin(c, stopLimit) {
			logf(o, "[%s] stop did not return within %v; left behind (its process ends with the run)", c.Name(), stopLimit)
			res.Diagnosis = strings.TrimPrefix(res.Diagnosis+"; ", "; ") + fmt.Sprintf("stop did not return within %v", stopLimit)
		}
	}()
	if n, ok := c.(noter); ok { // before the stop: the notes may ask the contender's processes
		defer func() { res.Notes = n.Notes() }()
	}
	r := &Run{W: w, T: NewTracker(w, o.Timeline)}
	if o.CoreLag && c.Fires() {
		r.T.TrackCore()
	}
	if r.NC, err = embed.Connect(c.URL(), "bench requests"); err != nil {
		return fail(err)
	}
	defer r.NC.Close()
	if r.ObsNC, err = embed.Connect(c.URL(), "bench fires"); err != nil {
		return fail(err)
	}
	defer r.ObsNC.Close()
	if r.JS, err = jetstream.New(r.NC); err != nil {
		return fail(err)
	}
	if err := c.Prepare(ctx, r); err != nil {
		return fail(fmt.Errorf("prepare: %w", err))
	}
	r.Epoch = time.Now()
	r.T.Start(r.Epoch) // the observer may see fires as soon as it runs
	stopObs, err := c.Observe(ctx, r)
	if err != nil {
		return fail(fmt.Errorf("observe: %w", err))
	}
	defer func() { stopObs() }()
	if o.CoreLag && c.Fires() {
		stopCore, err := observeCoreLag(c.URL(), r)
		if err != nil {
			return fail(fmt.Errorf("observe core receipts: %w", err))
		}
		defer stopCore()
	}

	res.RSSBefore, res.HeapBefore, _ = c.Memory()
	cpuBefore, cpuErr := serverCPUOf(c)
	// The epoch is the start of ingest: dues are offsets from it.
	r.Epoch = time.Now()
	r.T.Start(r.Epoch)
	stopProf := o.profile(c, "ingest")
	if err := c.Ingest(ctx, r); err != nil {
		stopProf()
		return fail(fmt.Errorf("ingest: %w", err))
	}
	stopProf()
	ingest := time.Since(r.Epoch)
	st := r.T.Stats()
	if cpuAfter, err := serverCPUOf(c); err == nil && cpuErr == nil && st.Scheduled > 0 {
		res.IngestCPUPerTimer = float64((cpuAfter - cpuBefore).Microseconds()) / float64(st.Scheduled)
	}
	res.IngestSeconds = ingest.Seconds()
	res.IngestRate = float64(st.Scheduled) / ingest.Seconds()
	res.Errors, res.FirstError = r.Errors()
	logf(o, "[%s] ingest: %d of %d in %.2fs = %.0f/s, %d errors %s", c.Name(), st.Scheduled, w.Timers, ingest.Seconds(), res.IngestRate, res.Errors, res.FirstError)

	var writesAfterIngest uint64
	if sc, ok := c.(storeCounter); ok {
		if w, err := sc.StoreWrites(ctx, r); err == nil && st.Scheduled > 0 {
			writesAfterIngest = w
			res.StoreWritesPerTimer = float64(w) / float64(st.Scheduled)
		}
	}
	res.PendingMeasured = st.Scheduled - r.T.Fired()
	res.RSSAfter, res.HeapAfter, _ = c.Memory()
	if res.PendingMeasured > 0 {
		res.RSSPerPending = float64(res.RSSAfter-res.RSSBefore) / float64(res.PendingMeasured)
		if res.HeapBefore >= 0 && res.HeapAfter >= 0 {
			res.HeapPerPending = float64(res.HeapAfter-res.HeapBefore) / float64(res.PendingMeasured)
		}
	}
	logf(o, "[%s] memory: RSS %s -> %s (%.0f B per pending, %d pending), heap %.0f B per pending; %.4f store writes per timer", c.Name(),
		mib(res.RSSBefore), mib(res.RSSAfter), res.RSSPerPending, res.PendingMeasured, res.HeapPerPending, res.StoreWritesPerTimer)
	o.heapProfile(c)
	if !c.Fires() {
		return res
	}

	if w.CancelShare > 0 {
		n, rate, err := runCancels(ctx, c, r)
		res.CancelSent, res.CancelRate = n, rate
		if err != nil {
			return fail(fmt.Errorf("cancel: %w", err))
		}
		logf(o, "[%s] cancel: %d sent, %.0f/s", c.Name(), n, rate)
	}
	if o.Restart {
		rs, err := restart(ctx, c, r)
		switch {
		case errors.Is(err, errNoRestart):
			logf(o, "[%s] restart skipped: %v", c.Name(), err)
		case err != nil:
			return fail(fmt.Errorf("restart: %w", err))
		default:
			res.Restart = rs
			logf(o, "[%s] restart with %d pending: ready in %.0f ms, firing in %.0f ms", c.Name(), rs.Pending, rs.ReadyMs, rs.FiringMs)
		}
	}

	if o.NoFire {
		return res
	}
	stopProf = o.profile(c, "fire")
	fireCPUBefore, fireCPUErr := serverCPUOf(c)
	stopTail := waitFires(ctx, c, r, o)
	stopProf()
	stopTail()
	stopObs()
	stopObs = func() {}
	fs := r.T.Stats()
	res.Fire = &fs
	if after, err := serverCPUOf(c); err == nil && fireCPUErr == nil && !o.Restart && fs.Fired > 0 {
		res.FireCPUPerFire = float64((after - fireCPUBefore).Microseconds()) / float64(fs.Fired)
	}
	if sc, ok := c.(storeCounter); ok && !o.Restart && fs.Fired > 0 {
		if w, err := sc.StoreWrites(ctx, r); err == nil && w >= writesAfterIngest {
			res.StoreWritesPerFire = float64(w-writesAfterIngest) / float64(fs.Fired)
		}
	}
	if d, ok := c.(diagnoser); ok && fs.Lost > 0 {
		res.Diagnosis = d.Diagnose(ctx, r)
		logf(o, "[%s] %d lost; the contender says: %s", c.Name(), fs.Lost, res.Diagnosis)
	}
	res.Errors, res.FirstError = r.Errors()
	logf(o, "[%s] fires: %d fired, %d lost, %d dup, %d early, %d after cancel; %.0f/s; lag p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms; %.4f store writes per fire",
		c.Name(), fs.Fired, fs.Lost, fs.Duplicates, fs.Early, fs.AfterCancel, fs.FireRate, fs.LagP50Ms, fs.LagP99Ms, fs.LagP999Ms, fs.LagMaxMs, res.StoreWritesPerFire)
	return res
}

// stopLimit bounds a contender's stop: one whose stop hangs must not hold
// the run (with -isolate its child process exits after reporting anyway).
const stopLimit = time.Minute

// stopWithin stops c and says whether that returned within limit.
func stopWithin(c Contender, limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Stop()
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// diagnoser is a contender that can say what it holds, for when fires are
// missing at the end of a run.
type diagnoser interface {
	Diagnose(ctx context.Context, r *Run) string
}

// noter is a contender with something to say of its run beside the figures.
type noter interface {
	Notes() []string
}

// storeCounter is a contender that counts its own JetStream writes.
type storeCounter interface {
	StoreWrites(ctx context.Context, r *Run) (uint64, error)
}

// cancelMargin keeps cancels off timers about to fire, so that a cancel
// confirmed is a cancel that had time to matter.
const cancelMargin = time.Second

func runCancels(ctx context.Context, c Contender, r *Run) (int, float64, error) {
	limit := time.Now().Add(cancelMargin).UnixNano()
	var idx []int
	for i := 0; i < r.W.Timers; i++ {
		if r.W.Cancelled(i) && r.T.Due(i) > limit {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return 0, 0, nil
	}
	begin := time.Now()
	err := c.Cancel(ctx, r, idx)
	return len(idx), float64(len(idx)) / time.Since(begin).Seconds(), err
}

func restart(ctx context.Context, c Contender, r *Run) (*RestartStats, error) {
	st := r.T.Stats()
	rs := &RestartStats{Pending: st.Scheduled - st.Cancelled - st.Fired}
	began, err := c.Restart(ctx, r)
	if err != nil {
		return nil, err
	}
	rs.ReadyMs = float64(time.Since(began).Microseconds()) / 1e3
	if err := c.Probe(ctx, r); err != nil {
		return nil, err
	}
	rs.FiringMs = float64(time.Since(began).Microseconds()) / 1e3
	return rs, nil
}

// tailProfile is how long before the last due the "tail" profile starts.
const tailProfile = 3 * time.Second

// waitFires waits until every expected fire is in, or the last due plus
// the grace has passed, logging progress every few seconds. With
// -cpuprofile tail it profiles from tailProfile before the last due; the
// returned func stops that profile.
func waitFires(ctx context.Context, c Contender, r *Run, o *Options) (stopTail func()) {
	deadline := r.Epoch.Add(r.W.LastDueOffset() + o.Grace)
	tailAt := r.Epoch.Add(r.W.LastDueOffset() - tailProfile)
	stopTail = func() {}
	tailing := false
	lastLog := time.Now()
	for {
		if !tailing && time.Now().After(tailAt) {
			tailing = true
			stopTail = o.profile(c, "tail")
		}
		left := r.T.Outstanding()
		if left == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return stopTail
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			logf(o, "[%s] waiting: %d fired, %d outstanding; last due in %.1fs", c.Name(), r.T.Fired(), left,
				time.Until(r.Epoch.Add(r.W.LastDueOffset())).Seconds())
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (o *Options) profile(c Contender, phase string) func() {
	if o.Profile != phase || !inProcess(c) {
		return func() {}
	}
	path := filepath.Join(o.OutDir, fmt.Sprintf("%s-%s-%s.cpu.pprof", o.Name, c.Name(), phase))
	f, err := os.Create(path)
	if err != nil {
		logf(o, "profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		logf(o, "profile: %v", err)
		return func() {}
	}
	// Contention explains latency that CPU time does not: who waits on
	// which lock, for how long.
	runtime.SetMutexProfileFraction(20)
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		for _, name := range []string{"mutex", "block"} {
			p := filepath.Join(o.OutDir, fmt.Sprintf("%s-%s-%s.%s.pprof", o.Name, c.Name(), phase, name))
			if f, err := os.Create(p); err == nil {
				_ = pprof.Lookup(name).WriteTo(f, 0)
				f.Close()
			}
		}
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
		logf(o, "[%s] CPU, mutex and block profiles of %s: %s", c.Name(), phase, path)
	}
}

func (o *Options) heapProfile(c Contender) {
	if !o.HeapProf || !inProcess(c) {
		return
	}
	path := filepath.Join(o.OutDir, fmt.Sprintf("%s-%s.heap.pprof", o.Name, c.Name()))
	f, err := os.Create(path)
	if err != nil {
		logf(o, "heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		logf(o, "heap profile: %v", err)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func serverCPUOf(c Contender) (time.Duration, error) {
	if sc, ok := c.(serverCPU); ok {
		return sc.ServerCPU()
	}
	return 0, errors.New("no server process of its own")
}
