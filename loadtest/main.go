// Command loadtest puts timerd under steady load, with faults if asked, and
// verifies every fire and every cancel through its protocol:
//
//	go run ./loadtest -smoke                                   # in-process timerd, seconds
//	go run ./loadtest -spawn /tmp/timerd -rate 2000 -duration 60s -fault kill -fault-every 15s
//	go run ./loadtest -spawn /tmp/timerd -nodes 3 -rate 1000 -duration 60s -fault mix -fault-every 8s -faults 6 -stop-for 6s
//	go run ./loadtest -nats nats://127.0.0.1:4222 -fault stop -fault-pid 1234 -stop-for 3s
//
// It creates timers at -rate (kinds from -kinds: in, at, and opt-in cron
// and repeat), cancels and replaces a share of them before their time, and
// reads every fire from a dedup stream (or a core subscription with
// -stream ""). Each occurrence must be stored exactly once, never before
// its nominal time, and nothing may fire after a cancel or replace
// answered 200 unless it was due by then. It prints a progress line every
// second and a final report, writes JSON, markdown and SVG to -out, and
// exits 1 if anything was lost, duplicated in the stream, early, or fired
// after its cancel.
//
// With -nodes N it runs a cluster: a nats-server in this process and N
// `timerd serve --nats URL --node nI` processes of the -spawn binary,
// loaded through any node (the API's queue group picks one per request),
// once they hold every shard between them. Faults then go round the nodes,
// one node each, and each lasts until the cluster is whole again; the
// report gives the lag of the fires due during each. Every loop is bounded by -max-time; it talks to
// 127.0.0.1 only unless -nats says otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/embed"
	"github.com/timerd/timerd/bench/machine"
)

// Options is the command line.
type Options struct {
	NATS, Spawn, WorkDir, OutDir, Name, Stream, RestartCmd string
	TimerdArgs                                             string // more serve flags for -nodes
	FaultPid, Nodes                                        int
	Grace, Late, Progress, MaxTime                         time.Duration
	Fault                                                  FaultConfig
	Gen                                                    GenConfig
	kinds                                                  string
	smoke                                                  bool
}

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.NATS, "nats", "", "NATS URL of a running timerd (default: start one in this process)")
	fs.StringVar(&o.Spawn, "spawn", "", "start this timerd binary (embedded NATS on 127.0.0.1) instead of an in-process node")
	fs.IntVar(&o.Nodes, "nodes", 0, "with -spawn: run this many nodes of the binary on a nats-server of this process (a cluster; faults go round the nodes)")
	fs.StringVar(&o.TimerdArgs, "timerd-args", "", "with -nodes: more `timerd serve` flags for every node, space-separated (e.g. \"--lease-ttl 2s\")")
	fs.StringVar(&o.Gen.Prefix, "prefix", api.DefaultPrefix, "timerd's API prefix")
	fs.Float64Var(&o.Gen.Rate, "rate", 1000, "timers created per second")
	fs.DurationVar(&o.Gen.Duration, "duration", 30*time.Second, "how long to create timers")
	fs.IntVar(&o.Gen.MaxTimers, "max-timers", 0, "stop creating after this many (0: rate x duration)")
	fs.StringVar(&o.kinds, "kinds", "in,at", "kinds to mix: in, at, cron, repeat (recurring kinds are dropped if timerd refuses them)")
	fs.DurationVar(&o.Gen.DelayMin, "delay-min", 500*time.Millisecond, "shortest one-shot delay (and recurring start)")
	fs.DurationVar(&o.Gen.DelayMax, "delay-max", 5*time.Second, "longest one-shot delay")
	fs.Float64Var(&o.Gen.CancelShare, "cancel", 0.05, "share of timers cancelled before (or racing) their time")
	fs.Float64Var(&o.Gen.ReplaceShare, "replace", 0.05, "share of timers replaced with a new time")
	fs.IntVar(&o.Gen.Payload, "payload", 64, "payload bytes")
	fs.IntVar(&o.Gen.InFlight, "inflight", 512, "requests in flight")
	fs.IntVar(&o.Gen.RecurFires, "recur-fires", 3, "occurrences of each cron / repeat timer")
	fs.DurationVar(&o.Gen.RecurEvery, "recur-every", time.Second, "period of cron (@every) and repeat timers")
	fs.DurationVar(&o.Gen.GiveUp, "give-up", 60*time.Second, "stop retrying a request after this long")
	fs.Uint64Var(&o.Gen.Seed, "seed", 1, "random seed")
	fs.StringVar(&o.Stream, "stream", "LOADTEST", `dedup stream for the fires (created over loadtest.> if missing); "" reads them with a core subscription`)
	fs.DurationVar(&o.Grace, "grace", 15*time.Second, "wait this long past the last due for fires")
	fs.DurationVar(&o.Late, "late", time.Second, "a fire later than this counts as late (reported, not a failure)")
	fs.DurationVar(&o.Progress, "progress", time.Second, "progress line interval")
	fs.StringVar(&o.Fault.Kind, "fault", "", "fault to inject: kill (kill -9, then restart), stop (SIGSTOP, SIGCONT), restart (clean), mix (the three in turn)")
	fs.IntVar(&o.FaultPid, "fault-pid", 0, "with -nats: the timerd pid to fault")
	fs.StringVar(&o.RestartCmd, "restart-cmd", "", "with -nats and -fault kill: shell command that starts timerd again (use exec, so its pid is timerd's)")
	fs.DurationVar(&o.Fault.First, "fault-first", 5*time.Second, "first fault, after the start")
	fs.DurationVar(&o.Fault.Every, "fault-every", 10*time.Second, "then a fault every")
	fs.IntVar(&o.Fault.Count, "faults", 3, "at most this many faults")
	fs.DurationVar(&o.Fault.StopFor, "stop-for", 2*time.Second, "how long a SIGSTOP lasts")
	fs.DurationVar(&o.Fault.RestartAfter, "restart-after", 500*time.Millisecond, "pause between kill -9 and the restart")
	fs.StringVar(&o.OutDir, "out", "loadtest/out", "report directory")
	fs.StringVar(&o.Name, "name", "loadtest", "report name (file prefix)")
	fs.StringVar(&o.WorkDir, "work", os.TempDir(), "data directory parent for a timerd this process starts")
	fs.DurationVar(&o.MaxTime, "max-time", 10*time.Minute, "stop everything after this long")
	fs.BoolVar(&o.smoke, "smoke", false, "a seconds-long run for CI with a clean restart mid-way (explicit flags still win)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range smokePreset {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return o, o.check()
}

// smokePreset is -smoke: an in-process timerd, a few seconds of load with
// cancels and replaces, and one clean restart in the middle.
var smokePreset = map[string]string{
	"rate": "300", "duration": "4s", "delay-min": "200ms", "delay-max": "2s",
	"cancel": "0.1", "replace": "0.05", "grace": "5s",
	"fault": "restart", "fault-first": "2s", "faults": "1",
	"name": "smoke", "max-time": "60s",
}

func (o *Options) check() error {
	for _, k := range strings.Split(o.kinds, ",") {
		switch k = strings.TrimSpace(k); k {
		case kindIn, kindAt, kindCron, kindRepeat:
			o.Gen.Kinds = append(o.Gen.Kinds, k)
		case "":
		default:
			return fmt.Errorf("-kinds: unknown kind %q; want in, at, cron, repeat", k)
		}
	}
	if len(o.Gen.Kinds) == 0 {
		return errors.New("-kinds: give at least one kind")
	}
	switch o.Fault.Kind {
	case "", "kill", "stop", "restart", "mix":
	default:
		return fmt.Errorf("-fault %q: want kill, stop, restart or mix", o.Fault.Kind)
	}
	if o.Nodes < 0 {
		return fmt.Errorf("-nodes %d: 0 (one timerd with NATS embedded) or more", o.Nodes)
	}
	if (o.Nodes > 0 || o.TimerdArgs != "") && o.Spawn == "" {
		return errNoCluster
	}
	if o.NATS != "" && o.Spawn != "" {
		return errors.New("give -nats or -spawn, not both")
	}
	if o.NATS != "" {
		u, err := url.Parse(o.NATS)
		if err != nil || !loopback(u.Hostname()) {
			return fmt.Errorf("-nats %q: the load test only talks to 127.0.0.1 / localhost", o.NATS)
		}
	}
	if o.Gen.Rate <= 0 || o.Gen.Duration <= 0 || o.Gen.InFlight < 1 || o.Gen.Payload < 0 {
		return errors.New("-rate, -duration and -inflight must be positive")
	}
	if o.Gen.DelayMin < 0 || o.Gen.DelayMax < o.Gen.DelayMin {
		return errors.New("-delay-min must be >= 0 and <= -delay-max")
	}
	if o.Gen.RecurEvery < time.Second || o.Gen.RecurEvery%time.Second != 0 || o.Gen.RecurFires < 1 {
		return errors.New("-recur-every must be whole seconds, at least 1s; -recur-fires at least 1")
	}
	if o.Gen.CancelShare < 0 || o.Gen.ReplaceShare < 0 || o.Gen.CancelShare+o.Gen.ReplaceShare > 1 {
		return errors.New("-cancel and -replace are shares from 0 to 1 and add up to at most 1")
	}
	return nil
}

func loopback(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.MaxTime)
	defer cancel()
	rep := loadtest(ctx, o, stderr)
	fmt.Fprint(stdout, rep.Summary())
	paths, err := rep.Write(o.OutDir)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest: write report:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, ", "))
	if !rep.Passed {
		return 1
	}
	return 0
}

// loadtest runs the whole test and always returns a report.
func loadtest(ctx context.Context, o *Options, logw io.Writer) *Report {
	began := time.Now()
	o.Gen.Run = strings.ToLower(nuid.Next()[:10])
	rep := &Report{Name: o.Name, Started: began, Command: "go run ./loadtest " + strings.Join(os.Args[1:], " "),
		Machine: machine.Describe(), Stream: o.Stream, Gen: o.Gen, Late: o.Late}
	defer func() { rep.Seconds = time.Since(began).Seconds() }()
	var logMu sync.Mutex // the generator, the fault runner and the progress loop all log
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	failed := func(err error) *Report {
		rep.Failure = err.Error()
		logf("FAILED: %v", err)
		return rep
	}
	t, err := StartTarget(ctx, o)
	if err != nil {
		return failed(fmt.Errorf("start timerd: %w", err))
	}
	defer t.Close()
	rep.Target = describeTarget(o, t)
	nc, err := embed.Connect(t.URL, "loadtest requests")
	if err != nil {
		return failed(err)
	}
	defer nc.Close()
	obsNC, err := embed.Connect(t.URL, "loadtest fires")
	if err != nil {
		return failed(err)
	}
	defer obsNC.Close()
	if o.Stream != "" {
		js, err := jetstream.New(nc)
		if err != nil {
			return failed(err)
		}
		if err := ensureStream(ctx, js, o.Stream, o.Gen.Run); err != nil {
			return failed(err)
		}
	}
	// The load's clock starts here, once the target is up (a cluster takes
	// seconds): fault times, progress and the report's times count from it.
	loadStart := time.Now()
	rep.TargetUp = loadStart.Sub(began).Seconds()
	model := NewModel(loadStart, o.Late)
	if t.cluster != nil {
		if st, err := t.cluster.Stats(ctx); err == nil {
			model.SetShards(st.Shards)
		}
	}
	stopObs, err := observe(ctx, obsNC, o.Stream, o.Gen.Run, model)
	if err != nil {
		return failed(err)
	}
	gen, err := NewGenerator(nc, o.Gen, model, logf)
	if err != nil {
		stopObs()
		return failed(err)
	}
	defer gen.Close()
	logf("run %s against %s: %.0f timers/s for %v, kinds %v, %.0f%% cancelled, %.0f%% replaced",
		o.Gen.Run, rep.Target, o.Gen.Rate, o.Gen.Duration, o.Gen.Kinds, o.Gen.CancelShare*100, o.Gen.ReplaceShare*100)

	var mu sync.Mutex
	var wg sync.WaitGroup
	stopNew := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		runFaults(ctx, stopNew, t, o.Fault, max(o.Nodes, 1), loadStart, func(ev FaultEvent) {
			mu.Lock()
			rep.Faults = append(rep.Faults, ev)
			mu.Unlock()
			logf("fault: %s %s %s", ev.Kind, ev.Detail, ev.Error)
		})
	}()
	progCtx, stopProgress := context.WithCancel(ctx)
	generating := true
	wg.Add(1)
	go func() {
		defer wg.Done()
		progress(progCtx, o.Progress, loadStart, model, gen, func(p ProgressPoint, line string) {
			mu.Lock()
			p.Generating = generating
			rep.Progress = append(rep.Progress, p)
			mu.Unlock()
			logf("%s", line)
		})
	}()

	genErr := gen.Run(ctx)
	mu.Lock()
	generating = false
	mu.Unlock()
	close(stopNew) // no new fault after the load: what is left is waiting for fires
	if genErr != nil {
		logf("generator: %v", genErr)
	}
	waitFires(ctx, model, o.Grace)
	stopProgress()
	wg.Wait()
	stopObs()
	rep.LiveFired = model.Snapshot(time.Now().UnixNano()).Fired
	if o.Stream != "" {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		n, err := recount(rctx, obsNC, o.Stream, o.Gen.Run, model)
		cancel()
		rep.Recounted = n
		if err != nil {
			rep.Failure = fmt.Sprintf("recount from stream %s: %v", o.Stream, err)
		}
	}
	rep.Stats = gen.Stats()
	rep.Verdict = model.Verdict()
	rep.FaultLag = faultLag(model, loadStart, rep.Faults)
	t.noteExits()
	rep.Exits = t.Exits
	rep.Passed = !rep.Verdict.Failed(o.Stream != "") && rep.Stats.Rejected == 0 && rep.Failure == "" && genErr == nil &&
		len(rep.Exits) == 0 && (t.cluster == nil || faultErrors(rep.Faults) == 0)
	if genErr != nil && rep.Failure == "" {
		rep.Failure = "generator: " + genErr.Error()
	}
	return rep
}

// faultLag gives each fault the lag of the fires due within its window,
// and returns that of the fires due within any (nil without faults).
func faultLag(model *Model, loadStart time.Time, faults []FaultEvent) *LagFigures {
	var all []Window
	for k := range faults {
		f := &faults[k]
		w := Window{From: loadStart.Add(seconds(f.At)).UnixNano(), To: loadStart.Add(seconds(max(f.Until, f.At))).UnixNano()}
		lag := model.LagDue(w)
		f.Lag = &lag
		all = append(all, w)
	}
	if len(all) == 0 {
		return nil
	}
	lag := model.LagDue(all...)
	return &lag
}

// faultErrors counts faults that failed; for a cluster that includes one
// after which the cluster was not whole again.
func faultErrors(faults []FaultEvent) int {
	n := 0
	for _, f := range faults {
		if f.Error != "" {
			n++
		}
	}
	return n
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func describeTarget(o *Options, t *Target) string {
	switch {
	case t.cluster != nil:
		return fmt.Sprintf("%d nodes of %s (timerd serve --nats %s --node n1..n%d), on a nats-server in the load test's process", o.Nodes, o.Spawn, t.URL, o.Nodes)
	case o.NATS != "":
		return "timerd at " + o.NATS
	case o.Spawn != "":
		return "spawned " + o.Spawn + " at " + t.URL
	}
	return "in-process timerd at " + t.URL
}

// waitFires waits until every occurrence that must fire has, or until the
// last due plus grace.
func waitFires(ctx context.Context, model *Model, grace time.Duration) {
	for ctx.Err() == nil {
		last := time.Unix(0, model.LastDue())
		if model.Pending() <= 0 && time.Now().After(last) {
			return
		}
		if time.Now().After(last.Add(grace)) {
			return
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// progress reports once per interval until ctx ends.
func progress(ctx context.Context, every time.Duration, loadStart time.Time, model *Model, gen *Generator, emit func(ProgressPoint, string)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev := model.Snapshot(time.Now().UnixNano())
	prevAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s := model.Snapshot(now.UnixNano())
			st := gen.Stats()
			dt := now.Sub(prevAt).Seconds()
			p := ProgressPoint{T: now.Sub(loadStart).Seconds(), CreatedPS: float64(s.Confirmed-prev.Confirmed) / dt,
				FiredPS: float64(s.Fired-prev.Fired) / dt, Pending: s.Pending,
				LagP99Ms: float64(s.Second.P99) / 1e3, LagMaxMs: float64(s.Second.Max) / 1e3,
				Retries: st.Retries, InFlight: gen.p.InFlight()}
			line := fmt.Sprintf("[%5.1fs] created %6.0f/s  fired %6.0f/s  pending %7d  lag p99 %7.2f ms max %7.2f ms  in flight %5d  retries %d  rejected %d  gave up %d",
				p.T, p.CreatedPS, p.FiredPS, p.Pending, p.LagP99Ms, p.LagMaxMs, p.InFlight, st.Retries, st.Rejected, st.GaveUp)
			emit(p, line)
			prev, prevAt = s, now
		}
	}
}
