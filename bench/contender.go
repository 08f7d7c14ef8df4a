package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/embed"
	"github.com/timerd/timerd/bench/pipe"
)

// Contender is one system under test. Each run starts it fresh on its own
// data directory, drives it through the same phases, and stops it.
type Contender interface {
	Name() string
	About() string
	// Fires says whether the contender fires timers (the ceilings only store).
	Fires() bool
	Start(ctx context.Context, env *Env) error
	URL() string
	// Memory is the memory of the process that holds the contender: RSS and
	// Go heap in use (heap -1 when it cannot be read).
	Memory() (rss, heap int64, err error)
	// Prepare creates what the run needs on the server (streams, buckets).
	Prepare(ctx context.Context, r *Run) error
	// Observe starts delivering fires to r.T until stop is called.
	Observe(ctx context.Context, r *Run) (stop func(), err error)
	Ingest(ctx context.Context, r *Run) error
	Cancel(ctx context.Context, r *Run, idx []int) error
	// Restart kills or stops the contender and starts it again on the same
	// data; it returns when the new instance began and when it is ready.
	Restart(ctx context.Context, r *Run) (began time.Time, err error)
	// Probe schedules a timer due now and returns when its fire is seen.
	Probe(ctx context.Context, r *Run) error
	Stop()
}

// serverCPU is a contender whose serving processes are binaries of their
// own (timerd-bin, nats-sched-bin, the clusters): the CPU time they have
// used, so that the CPU a timer costs the server side compares between
// them whatever the client and the machine's other load.
type serverCPU interface {
	ServerCPU() (time.Duration, error)
}

// Env is what a contender is started with.
type Env struct {
	Dir           string   // its own data directory
	TimerdBin     string   // the built timerd binary
	TimerdArgs    []string // more `timerd serve` flags for the binary
	NATSServerBin string   // the built nats-server binary
	LogDir        string   // where child processes log
	Workload      *Workload
	Logger        *slog.Logger
}

// Run is the state of one contender's run, shared by the phases.
type Run struct {
	W     *Workload
	NC    *nats.Conn // requests
	ObsNC *nats.Conn // fire observation, apart so deliveries do not queue behind requests
	JS    jetstream.JetStream
	T     *Tracker
	Epoch time.Time

	errMu      sync.Mutex
	errCount   int
	firstError string
}

// fail counts one failed operation and keeps the first message.
func (r *Run) fail(what string, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errCount++
	if r.firstError == "" {
		r.firstError = fmt.Sprintf("%s: %v", what, err)
	}
}

// Errors returns the failure count and the first failure.
func (r *Run) Errors() (int, string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.errCount, r.firstError
}

// contenders lists every contender by name; new(w) makes a fresh one.
var contenders = map[string]func() Contender{
	"js-msgid":         func() Contender { return &ceiling{name: "js-msgid"} },
	"kv":               func() Contender { return &ceiling{name: "kv", kv: true} },
	"js-msgid-bin":     func() Contender { return &ceiling{name: "js-msgid-bin", natsServer: natsServer{bin: true}} },
	"nats-sched":       func() Contender { return &natsSched{name: "nats-sched"} },
	"nats-sched-bin":   func() Contender { return &natsSched{name: "nats-sched-bin", natsServer: natsServer{bin: true}} },
	"js-paced":         func() Contender { return &paced{name: "js-paced"} },
	"js-paced-bin":     func() Contender { return &paced{name: "js-paced-bin", natsServer: natsServer{bin: true}} },
	"timerd":           func() Contender { return &timerdContender{name: "timerd"} },
	"timerd-batch":     func() Contender { return &timerdContender{name: "timerd-batch", batch: true} },
	"timerd-bin":       func() Contender { return &timerdContender{name: "timerd-bin", binary: true} },
	"timerd-bin-batch": func() Contender { return &timerdContender{name: "timerd-bin-batch", batch: true, binary: true} },
	// The hand-off's cost: the same nats-server process, one node or three.
	"timerd-bin-1node":  func() Contender { return newCluster("timerd-bin-1node", 1) },
	"timerd-bin-3nodes": func() Contender { return newCluster("timerd-bin-3nodes", 3) },
}

func contenderNames() string {
	var names []string
	for n := range contenders {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseContenders turns a comma-separated list into contenders, in order.
func parseContenders(list string) ([]Contender, error) {
	var out []Contender
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		mk, ok := contenders[name]
		if !ok {
			return nil, fmt.Errorf("-contenders: unknown %q; known: %s", name, contenderNames())
		}
		out = append(out, mk())
	}
	if len(out) == 0 {
		return nil, errors.New("-contenders: none given")
	}
	return out, nil
}

// captureStream is the dedup stream that captures fire subjects.
const captureStream = "BENCH_FIRES"

// dupWindow is the duplicate window of the streams the bench creates.
const dupWindow = 2 * time.Minute

func createCaptureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: captureStream, Subjects: []string{fireSubjectPrefix + ">"},
		Storage: jetstream.FileStorage, Duplicates: dupWindow,
	})
	if err != nil {
		return fmt.Errorf("create capture stream: %w", err)
	}
	return nil
}

// fireHandler matches a fire message to its timer and hands it to the
// tracker; at is when the fire happened: its stored time when read from a
// stream, its receipt time on a core subscription.
func fireHandler(r *Run, data []byte, hdr nats.Header, at int64) {
	now := at
	i, ok := IndexOf(data)
	if !ok {
		r.T.Fire(-1, now, 0)
		return
	}
	var due int64
	if v := hdr.Get(api.HeaderDue); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			due = t.UnixNano()
		}
	}
	r.T.Fire(i, now, due)
}

// observeCore subscribes the fire subjects with a core subscription.
func observeCore(r *Run) (func(), error) {
	sub, err := r.ObsNC.Subscribe(fireSubjectPrefix+">", func(m *nats.Msg) { fireHandler(r, m.Data, m.Header, time.Now().UnixNano()) })
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	if err := r.ObsNC.Flush(); err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// observeStream reads the fires stored in stream with an ordered consumer;
// a fire's time is when the stream stored it, so a consumer that falls
// behind does not count as lag.
func observeStream(ctx context.Context, r *Run, stream string) (func(), error) {
	js, err := jetstream.New(r.ObsNC)
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{fireSubjectPrefix + ">"}})
	if err != nil {
		return nil, fmt.Errorf("fire consumer on %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now().UnixNano()
		if meta, err := m.Metadata(); err == nil {
			at = meta.Timestamp.UnixNano()
		}
		fireHandler(r, m.Data(), m.Headers(), at)
	},
		jetstream.PullMaxMessages(20000))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", stream, err)
	}
	return func() {
		cc.Stop()
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
		}
	}, nil
}

// observeCoreLag times each fire's first receipt on a plain subscription
// over a connection of its own, beside the contender's observer: where a
// stream captures the fires, the server hands them to this subscription as
// it reads them from the publisher, before the stream stores them, so the
// two lags split the fire's delay into the publisher's part and the
// stream's. Every contender of a run gets it alike. The receipt time is
// taken in this process's handler, after delivery, so it can fall after
// the stored time (the p50s show it); compare p99 and max per step.
func observeCoreLag(url string, r *Run) (func(), error) {
	nc, err := embed.Connect(url, "bench core receipts")
	if err != nil {
		return nil, err
	}
	sub, err := nc.Subscribe(fireSubjectPrefix+">", func(m *nats.Msg) {
		if i, ok := IndexOf(m.Data); ok {
			r.T.CoreFire(i, time.Now().UnixNano())
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return nc.Close, nil
}

// ingestPipelined sends timer i's request build(i) for every timer with
// r.W.InFlight awaiting replies; ok judges a reply.
func ingestPipelined(ctx context.Context, r *Run, build func(i int) (*nats.Msg, error), ok func(*nats.Msg) error) error {
	p, err := pipe.New(r.NC, r.W.InFlight, 30*time.Second)
	if err != nil {
		return err
	}
	defer p.Close()
	for i := 0; i < r.W.Timers; i++ {
		msg, err := build(i)
		if err != nil {
			return err
		}
		err = p.Send(ctx, msg, func(m *nats.Msg, err error) {
			if err == nil {
				err = ok(m)
			}
			if err != nil {
				r.fail("schedule", err)
			}
			r.T.Scheduled(i, err == nil)
		})
		if err != nil {
			return err
		}
	}
	return p.Wait(ctx)
}

// requestAll sends build(i) for each index with r.W.InFlight in flight and
// calls done with each outcome.
func requestAll(ctx context.Context, r *Run, idx []int, build func(i int) *nats.Msg, done func(i int, m *nats.Msg, err error)) error {
	p, err := pipe.New(r.NC, r.W.InFlight, 30*time.Second)
	if err != nil {
		return err
	}
	defer p.Close()
	for _, i := range idx {
		if err := p.Send(ctx, build(i), func(m *nats.Msg, err error) { done(i, m, err) }); err != nil {
			return err
		}
	}
	return p.Wait(ctx)
}

// serviceError reads timerd's micro error headers.
func serviceError(m *nats.Msg) error {
	if code := m.Header.Get(api.HeaderErrorCode); code != "" {
		return fmt.Errorf("%s %s", code, m.Header.Get(api.HeaderError))
	}
	return nil
}
