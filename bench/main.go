// Command bench measures timerd beside NATS' own message scheduler, the
// JetStream ceilings and the js-paced floor, in one run on one machine, with
// the same workload for every contender, each on a fresh nats-server with
// file storage: embedded in the bench process, or (the -bin contenders) a
// binary in its own process; server.go says which and why.
//
//	go run ./bench -smoke                       # seconds-long CI check
//	go run ./bench -timers 1000000 -due 40s -fire-rate 20000 -contenders nats-sched,timerd-batch
//
// Issue 12's workloads (fires into a dedup stream against the js-paced
// floor; a burst against raw Nats-Msg-Id publishes; single requests
// against NATS' scheduler with both servers in their own processes):
//
//	go run ./bench -name floor-100k-20k -timers 100000 -fire-rate 20000 -due 10s -capture -timeline 100ms -contenders js-paced,timerd-batch,js-paced-bin,timerd-bin-batch
//	go run ./bench -name floor-1m-20k -timers 1000000 -fire-rate 20000 -due 30s -capture -timeline 100ms -contenders js-paced,timerd-batch,js-paced-bin,timerd-bin-batch
//	go run ./bench -name floor-burst -timers 300000 -spread 0 -due 15s -capture -contenders js-msgid,js-paced,timerd-batch,js-msgid-bin,js-paced-bin,timerd-bin-batch
//	go run ./bench -name ingest-fair -timers 200000 -no-fire -due 1h -inflight 256 -contenders nats-sched-bin,timerd-bin
//	go run ./bench -name far-1m-20k -timers 1000000 -far 900000 -fire-rate 20000 -due 25s -timeline 100ms -contenders timerd-bin-batch
//
// Per contender it reports ingest rate, fire rate, fire lag (p50, p99,
// p99.9, max, and per -timeline interval), never-early, lost, duplicate and
// fired-after-cancel counts, memory per pending timer, and optionally the
// time back to firing after a restart; then ratios timerd/contender and the
// goals of the issues it speaks to. Reports go to -out as JSON, markdown and
// SVG. docs/benchmarks.md has the results and the commands that made them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/timerd/timerd/bench/machine"
)

// config is everything the command line sets.
type config struct {
	w          Workload
	o          Options
	contenders string
	smoke      bool
	maxTime    time.Duration
	isolate    bool   // run each contender in a child process of this binary
	render     string // re-render this report JSON
	child      string // hidden: run only this contender, write its result to childOut
	childOut   string
	args       []string
}

func flags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\nContenders: %s.\n\nFlags:\n", contenderNames())
		fs.PrintDefaults()
	}
	fs.StringVar(&c.contenders, "contenders", "js-msgid,kv,nats-sched,timerd,timerd-batch", "comma-separated contenders to run, in order")
	fs.IntVar(&c.w.Timers, "timers", 100000, "timers per contender")
	fs.IntVar(&c.w.Payload, "payload", 64, "payload bytes per timer (at least 16)")
	fs.DurationVar(&c.w.Due, "due", 20*time.Second, "first due, after the start of ingest (choose more than the slowest ingest)")
	fs.DurationVar(&c.w.Spread, "spread", 10*time.Second, "dues spread evenly over this window; 0: all due at once (a burst)")
	fs.Float64Var(&c.w.FireRate, "fire-rate", 0, "fires per second: sets -spread to timers/rate")
	fs.BoolVar(&c.w.Shuffle, "shuffle", true, "send timers in an order unrelated to their dues")
	fs.IntVar(&c.w.Batch, "batch", 1000, "timers per timerd.batch request")
	fs.IntVar(&c.w.InFlight, "inflight", 1000, "single requests (and JetStream publishes) in flight")
	fs.IntVar(&c.w.BatchInFlight, "batch-inflight", 4, "batch requests in flight")
	fs.Float64Var(&c.w.CancelShare, "cancel", 0, "share of timers to cancel after ingest (0..1)")
	fs.BoolVar(&c.w.Capture, "capture", false, "a dedup stream captures the fire subjects (timerd fires through JetStream)")
	fs.IntVar(&c.w.Subjects, "subjects", 16, "distinct fire subjects")
	fs.IntVar(&c.w.Far, "far", 0, "of -timers, this many are due -far-due after the start of ingest (beyond the run: pending throughout, never expected to fire); -due, -spread and -fire-rate apply to the rest")
	fs.DurationVar(&c.w.FarDue, "far-due", 30*24*time.Hour, "with -far: when the far timers are due (a millisecond apart from there)")
	fs.Uint64Var(&c.w.Seed, "seed", 1, "workload seed (shuffle and cancel choice)")
	fs.BoolVar(&c.o.NoFire, "no-fire", false, "stop each contender after ingest, cancels and restart: no fire phase (use a -due past the run)")
	fs.BoolVar(&c.o.Restart, "restart", false, "restart each firing contender between ingest and the first due (timerd binary: kill -9)")
	fs.DurationVar(&c.o.Grace, "grace", 30*time.Second, "how long after the last due to wait for fires")
	fs.BoolVar(&c.o.CoreLag, "core-lag", false, "with -capture: also time each fire's first receipt on a core subscription, before the stream stores it (splits the lag into the publisher's part and the stream's)")
	fs.DurationVar(&c.o.Timeline, "timeline", time.Second, "interval of the fire lag timeline (p99 and max per interval, in the JSON and the lag chart); 100ms shows spikes a second apart")
	fs.StringVar(&c.o.Profile, "cpuprofile", "", "CPU-profile a phase of in-process contenders: ingest, fire, or tail (the last 3 s of dues to the end)")
	fs.BoolVar(&c.o.HeapProf, "heapprofile", false, "write a heap profile after ingest (in-process contenders)")
	fs.StringVar(&c.o.OutDir, "out", "bench/out", "report directory")
	fs.StringVar(&c.o.Name, "name", "bench", "report name (file prefix)")
	fs.StringVar(&c.o.WorkDir, "work", os.TempDir(), "where contenders store their data")
	fs.StringVar(&c.o.TimerdBin, "timerd-bin", "", "timerd binary for timerd-bin* (default: go build ./cmd/timerd into a temporary directory)")
	fs.StringVar(&c.o.NATSServerBin, "nats-server-bin", "", "nats-server binary for the *-bin NATS contenders (default: go build the nats-server go.mod pins into a temporary directory)")
	fs.StringVar(&c.o.TimerdArgs, "timerd-args", "", "more `timerd serve` flags for timerd-bin*, space-separated (e.g. \"--keep-fired 10s\")")
	fs.BoolVar(&c.o.Keep, "keep", false, "keep the contenders' data directories")
	fs.BoolVar(&c.smoke, "smoke", false, "a seconds-long run for CI (explicit flags still win)")
	fs.DurationVar(&c.maxTime, "max-time", time.Hour, "stop everything after this long")
	fs.BoolVar(&c.isolate, "isolate", true, "run each contender in a fresh child process, so memory and GC are its own")
	fs.StringVar(&c.render, "render", "", "re-render the markdown and charts of a report JSON written before (no run)")
	fs.StringVar(&c.child, "child", "", "internal: run one contender and write its result to -child-out")
	fs.StringVar(&c.childOut, "child-out", "", "internal: see -child")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.args = args
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.smoke {
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
	switch c.o.Profile {
	case "", "ingest", "fire", "tail":
	default:
		return nil, fmt.Errorf("-cpuprofile %q: want ingest, fire or tail", c.o.Profile)
	}
	if c.o.CoreLag && !c.w.Capture {
		return nil, errors.New("-core-lag needs -capture: without a stream the fires are timed on a core subscription already")
	}
	if c.o.Timeline < minTimeline {
		return nil, fmt.Errorf("-timeline %v: at least %v", c.o.Timeline, minTimeline)
	}
	if err := c.w.Normalize(); err != nil {
		return nil, err
	}
	return c, nil
}

// minTimeline bounds the lag timeline's resolution: hist.Timeline keeps at
// most a day of one-second slots, so 10 ms still covers 14 minutes of fires.
const minTimeline = 10 * time.Millisecond

// smokePreset is -smoke: every contender and phase, small enough that the
// whole run stays well under 30 seconds on a 2-core machine.
var smokePreset = map[string]string{
	"timers":     "2000",
	"due":        "1500ms",
	"spread":     "1s",
	"batch":      "250",
	"inflight":   "256",
	"cancel":     "0.1",
	"grace":      "5s",
	"name":       "smoke",
	"contenders": "js-msgid,kv,nats-sched,timerd,timerd-batch",
	"max-time":   "60s",
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := flags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.maxTime)
	defer cancel()
	if c.child != "" {
		return runChild(ctx, c, stderr)
	}
	if c.render != "" {
		return render(c.render, stdout, stderr)
	}
	rep, err := bench(ctx, c, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	paths, err := rep.Write(c.o.OutDir)
	if err != nil {
		fmt.Fprintln(stderr, "bench: write report:", err)
		return 1
	}
	fmt.Fprint(stdout, rep.Markdown(rep.Name+"-lag.svg", rep.Name+"-rates.svg"))
	fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(paths, ", "))
	for _, res := range rep.Results {
		if res.Failed != "" || (res.Fire != nil && (res.Fire.Lost > 0 || res.Fire.Early > 0 || res.Fire.AfterCancel > 0)) {
			return 1
		}
	}
	return 0
}

// bench runs every contender in turn and gathers the report.
func bench(ctx context.Context, c *config, logw io.Writer) (*Report, error) {
	list, err := parseContenders(c.contenders)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.o.OutDir, 0o755); err != nil {
		return nil, err
	}
	c.o.Log = logw
	cleanup, err := buildBinaries(ctx, list, &c.o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &Report{Name: c.o.Name, Started: time.Now(), Command: "go run ./bench " + strings.Join(os.Args[1:], " "),
		Machine: machine.Describe(), Workload: c.w, Restart: c.o.Restart, NoFire: c.o.NoFire, LoadBefore: machine.LoadAvg(), TimelineStep: c.o.Timeline}
	defer func() { rep.LoadAfter = machine.LoadAvg() }()
	for _, ct := range list {
		if ctx.Err() != nil {
			break
		}
		logf(&c.o, "[%s] %s", ct.Name(), ct.About())
		if c.isolate {
			rep.Results = append(rep.Results, runIsolated(ctx, c, ct))
		} else {
			rep.Results = append(rep.Results, runOne(ctx, ct, &c.w, &c.o))
		}
	}
	return rep, ctx.Err()
}

// render rewrites the markdown and charts of a saved report beside it.
func render(path string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		fmt.Fprintf(stderr, "bench: %s: %v\n", path, err)
		return 1
	}
	paths, err := rep.Write(filepath.Dir(path))
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, ", "))
	return 0
}
