// Package node is one timerd node: the I/O around the shard cores. It owns
// the shards consistent hashing gives it (claimed under fenced leases),
// drives each one's pure core (internal/shard) with the clock, the store
// and the fire publisher, and shares one timing wheel among them. It
// registers in the bucket and beats; it stops firing the moment its own
// heartbeat is in doubt, before any other node may take its shards.
//
// The lock rule (docs/design.md): each shard's driver has a mutex guarding
// its core; the wheel has its own, taken inside a shard's. No store call,
// publish or other I/O happens while either is held; a callback never runs
// on its caller's goroutine; and nothing walks every timer while fires wait
// (list and stats go shard by shard, in bounded steps).
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/wheel"
)

// Config configures a node. Zero durations take their defaults.
type Config struct {
	// Name is the node's name in the registry; one live node per name.
	Name string
	// Version and HTTP are advertised in the registry (stats, status page).
	Version, HTTP string
	// Tick is the timing wheel's resolution (default 1ms).
	Tick time.Duration
	// MarkInterval is how often marks, recurring progress, purges,
	// and promotions run (default 1s).
	MarkInterval time.Duration
	// KeepFired is how long a fired one-shot is remembered for idempotent
	// retries (default 30s).
	KeepFired time.Duration
	// Horizon: one-shots due further ahead are far entries (default 1h;
	// negative: every timer is a loaded object).
	Horizon time.Duration
	// Heartbeat is how often the node writes its registration (default 1s).
	Heartbeat time.Duration
	// NodeTTL: a node silent this long is lost and its shards are taken
	// over (default 4s). A node whose own heartbeat has not succeeded for
	// half of it stops firing and answering.
	NodeTTL time.Duration
	// ForgetAfter: the registration of a node silent this long that holds
	// no shard is removed, so that restarts under new names do not pile up
	// lost nodes (default 10 minutes).
	ForgetAfter time.Duration
	// MaxFireTries: a fire failing this often with an error that retrying
	// cannot fix is set aside (default 3).
	MaxFireTries int
	// Logger receives the node's logs (default: none).
	Logger *slog.Logger
	// Metrics, when not nil, are updated by the node.
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Tick <= 0 {
		c.Tick = time.Millisecond
	}
	if c.MarkInterval <= 0 {
		c.MarkInterval = time.Second
	}
	if c.KeepFired <= 0 {
		c.KeepFired = 30 * time.Second
	}
	if c.Horizon == 0 {
		c.Horizon = time.Hour
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = 4 * time.Second
	}
	if c.NodeTTL < 2*c.Heartbeat {
		c.NodeTTL = 2 * c.Heartbeat
	}
	if c.ForgetAfter <= 0 {
		c.ForgetAfter = 10 * time.Minute
	}
	c.ForgetAfter = max(c.ForgetAfter, 2*c.NodeTTL)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Publisher publishes fires (internal/jetstream.FirePublisher).
type Publisher interface {
	// Publish sends one fire: settled says the outcome is err; otherwise
	// done gets it later, from another goroutine.
	Publish(msg *nats.Msg, done func(error)) (settled bool, err error)
	// Permanent says retrying cannot fix err.
	Permanent(err error) bool
	// Flush makes sure plain publishes so far reached the server.
	Flush(ctx context.Context) error
}

// Node is a running timerd node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	pub      Publisher
	instance string
	shards   []*driver
	tokens   atomic.Uint64

	wheelMu   sync.Mutex // guards wheel
	wheel     *wheel.Wheel
	sleepTill atomic.Int64 // the fire loop sleeps until then
	wake      chan struct{}

	lastBeat atomic.Int64 // when the last successful heartbeat was sent (Unix ns)
	// healthSince is when the heartbeat was stored again after a gap (set
	// before lastBeat); reconciled is when the last reconcile that read the
	// leases afresh started. A node fires only while reconciled >=
	// healthSince: after a gap, its view of the leases may be stale.
	healthSince atomic.Int64
	reconciled  atomic.Int64
	previous    store.Member // this node's registration before it started (a crashed instance)
	members     members
	fatal       chan error // a condition the node cannot go on with (bucket gone, name in use)
	fatalOnce   sync.Once

	ctx     context.Context // canceled when the loops stop: I/O of jobs ends with it
	cancel  context.CancelFunc
	jobs    chan func()
	loads   chan struct{} // pokes the membership loop
	started atomic.Bool
	closing atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
	noise   noise
	lag     lagWindow

	hookMu  sync.Mutex // serializes calls of onShard
	onShard func(shard int, serving bool)
}

// OnShard sets fn to be told when this node starts and stops serving a
// shard (the service subscribes the shard's subject for requests other
// nodes hand over), and tells it at once of the shards served now. fn must
// not block: it runs on the node's goroutines.
func (n *Node) OnShard(fn func(shard int, serving bool)) {
	n.hookMu.Lock()
	defer n.hookMu.Unlock()
	n.onShard = fn
	for _, d := range n.shards {
		if d.serving() {
			fn(d.id, true)
		}
	}
}

func (n *Node) notifyShard(id int, serving bool) {
	n.hookMu.Lock()
	defer n.hookMu.Unlock()
	if n.onShard != nil {
		n.onShard(id, serving)
	}
}

// ErrNameInUse: another live node has this node's name.
var ErrNameInUse = errors.New("node: the node name is in use by a live node")

// New makes a node over an open store and fire publisher; Start runs it.
func New(cfg Config, st store.Store, pub Publisher) *Node {
	cfg.setDefaults()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	n := &Node{
		cfg: cfg, log: cfg.Logger, store: st, pub: pub, instance: hex.EncodeToString(b),
		wheel: wheel.New(cfg.Tick, cfg.Now().UnixNano()),
		wake:  make(chan struct{}, 1), fatal: make(chan error, 1),
		jobs: make(chan func(), 4096), loads: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.members.init()
	n.shards = make([]*driver, st.Shards())
	for i := range n.shards {
		n.shards[i] = &driver{n: n, id: i, waiters: make(map[shard.Token]waiter)}
	}
	n.sleepTill.Store(1<<63 - 1)
	return n
}

func (n *Node) now() int64 { return n.cfg.Now().UnixNano() }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Shards is the bucket's shard count.
func (n *Node) Shards() int { return len(n.shards) }

// Fatal reports a condition the node cannot go on with: its owner shuts it
// down and exits non-zero.
func (n *Node) Fatal() <-chan error { return n.fatal }

func (n *Node) die(err error) {
	n.fatalOnce.Do(func() {
		n.log.Error("timerd cannot go on", "err", err)
		n.fatal <- err
	})
}

const ioWorkers = 4

// Start registers the node, starts its loops, claims the shards hashing
// gives it and loads them. It returns once those are loaded: a timer
// scheduled now fires on time (or with an error: the name is in use, the
// store cannot be read).
func (n *Node) Start(ctx context.Context) error {
	// The store may need a moment (a clustered stream electing its
	// leader): registering is retried for a while, except a name in use.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := n.register(rctx)
		if err == nil {
			break
		}
		if errors.Is(err, ErrNameInUse) || rctx.Err() != nil {
			return err
		}
		select {
		case <-rctx.Done():
			return err
		case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, time.Second)):
		}
	}
	for range ioWorkers {
		n.wg.Add(1)
		go n.worker()
	}
	n.wg.Add(4)
	go n.heartbeats()
	go n.fireLoop()
	go n.housekeeping()
	settled := make(chan error, 1)
	go n.membership(settled)
	select {
	case err := <-settled:
		if err != nil {
			n.shutdownLoops()
			return err
		}
	case <-ctx.Done():
		n.shutdownLoops()
		return ctx.Err()
	}
	n.started.Store(true)
	return nil
}

// worker performs I/O jobs (record reads, purges) handed over by drivers
// from goroutines that must not block.
func (n *Node) worker() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case job := <-n.jobs:
			job()
		}
	}
}

// do runs job on a worker.
func (n *Node) do(job func()) {
	select {
	case n.jobs <- job:
	case <-n.stop:
	}
}

// Healthy reports whether the node's own heartbeat is fresh: it may fire
// and answer. Once it is not, another node may soon take its shards.
func (n *Node) Healthy() bool { return n.fresh(n.now()) }

func (n *Node) fresh(now int64) bool {
	return now-n.lastBeat.Load() <= int64(n.cfg.NodeTTL)/2
}

// mayFire: healthy, and the leases were read afresh since health returned
// (another node may have taken shards meanwhile). lastBeat is read before
// healthSince, which is stored before it.
func (n *Node) mayFire(now int64) bool {
	return n.fresh(now) && n.reconciled.Load() >= n.healthSince.Load()
}

// Ready reports whether the node is registered, healthy and has loaded
// every shard it owns: a timer scheduled now fires on time.
func (n *Node) Ready() bool {
	if !n.started.Load() || n.closing.Load() || !n.Healthy() {
		return false
	}
	for _, d := range n.shards {
		if d.loading() {
			return false
		}
	}
	return true
}

// Close leaves the cluster cleanly: it stops firing, hands each shard it
// owns to the node hashing gives it (or releases it) after writing its
// final mark and progress, deregisters, and stops its loops, all within
// ctx. The store and the publisher stay open for their owner to close.
func (n *Node) Close(ctx context.Context) error {
	if n.closing.Swap(true) {
		return nil
	}
	var err error
	if n.started.Load() {
		err = n.leave(ctx)
	}
	n.shutdownLoops()
	for _, d := range n.shards {
		d.unload("is stopping on this node")
	}
	return err
}

func (n *Node) shutdownLoops() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
		n.cancel()
	}
	n.wg.Wait()
}

// token makes a new request token.
func (n *Node) token() shard.Token { return shard.Token(n.tokens.Add(1)) }

func (n *Node) shardCfg(id int) shard.Config {
	return shard.Config{ID: id, Horizon: n.cfg.Horizon, KeepFired: n.cfg.KeepFired, MaxFireTries: n.cfg.MaxFireTries,
		MaxRecord: maxRecord(n.store)}
}

func maxRecord(st store.Store) int {
	if m, ok := st.(interface{ MaxRecord() int }); ok {
		return m.MaxRecord()
	}
	return 0
}

// errorf is a fmt.Errorf for messages that name the node.
func (n *Node) errorf(format string, args ...any) error {
	return fmt.Errorf("node %s: "+format, append([]any{n.cfg.Name}, args...)...)
}
