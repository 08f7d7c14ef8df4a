// Package node is one timerd node: it owns shards, keeps their timers in an
// index and a timing wheel, serves the API operations on them, fires due
// occurrences, and records progress so that a restart neither loses nor
// repeats a fire. It reaches NATS only through internal/jetstream, and time
// semantics only through internal/cronfeed.
//
// Concurrency: one mutex (Node.mu) guards the index, the wheel and the shard
// bookkeeping. API calls, the fire loop and store acknowledgements take it
// for short, non-blocking sections; all waiting (for acks, for the store)
// happens outside it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/wheel"
)

// Config configures a node. The zero value of every duration means its default.
type Config struct {
	Name string
	// Tick is the timing wheel's resolution (default 1ms). Fires are never
	// early whatever the tick; it bounds how many entries one slot gathers.
	Tick time.Duration
	// MarkInterval is how often shard marks, recurring progress and garbage
	// collection run (default 1s). A crash repeats at most about this much
	// of fire history, which the fire's Nats-Msg-Id makes harmless.
	MarkInterval time.Duration
	// KeepFired is how long a fired one-shot is remembered so that a retry
	// of the request that created it does not schedule it again (default 30s).
	KeepFired time.Duration
	// LeaseTTL is how long a standby waits, after the holder's last lease
	// renewal, before it takes the lease over (default 5s).
	LeaseTTL time.Duration
	// Horizon: a one-shot due further ahead than this keeps only a compact
	// entry in memory (no definition, payload or wheel entry); it is read
	// back from its record before it comes within the horizon (default 1h).
	// Negative: every timer stays loaded.
	Horizon time.Duration
	// MaxFiresInFlight bounds JetStream fires awaiting their ack (default 8192).
	MaxFiresInFlight int
	Logger           *slog.Logger
	Metrics          *Metrics // nil: no Prometheus metrics
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
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 5 * time.Second
	}
	if c.Horizon == 0 {
		c.Horizon = time.Hour
	}
	if c.MaxFiresInFlight <= 0 {
		c.MaxFiresInFlight = 8192
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Node is a running timerd node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *jetstream.Store
	fires *jetstream.FirePublisher

	mu          sync.Mutex        // guards everything below up to the next blank line
	timers      map[string]*timer // loaded timers (far.go: the far tier)
	far         *farTier
	wheel       *wheel.Wheel
	slots       []*timer // wheel value -> timer
	freeSlots   []uint32
	dueSlots    []uint64 // scratch of collectDue
	defScratch  []byte   // scratch of armNear
	shards      []*shard
	inflight    map[uint64]*fire // fires handed out and not yet acknowledged
	retries     []*fire
	dirty       []*timer // recurring timers whose progress is not yet recorded
	recent      firedSet // fired one-shots kept for retries
	fireSeq     uint64
	checkpoints int
	maxJitter   int64
	sleepTill   int64
	ready       bool
	closing     bool

	// The lease (lease.go).
	leaseRev     uint64
	leaseRenewed time.Time
	prevAlive    int64 // the previous holder's last sign of life plus a renewal period
	fenced       bool  // not sure we hold the lease: fire nothing
	lost         chan struct{}
	lostOnce     sync.Once

	lag     lagWindow
	counts  counters
	wake    chan struct{}
	reload  chan int
	stop    chan struct{}
	stopped sync.WaitGroup
}

type counters struct {
	fired, created, cancelled, retried, compacted atomic.Uint64
}

// Errors of node operations that are not an *Error.
var errClosing = errors.New("node: shutting down")

// New opens a node over an open store; Start loads the timers and starts it.
func New(cfg Config, store *jetstream.Store, fires *jetstream.FirePublisher) *Node {
	cfg.setDefaults()
	n := &Node{
		cfg: cfg, log: cfg.Logger, store: store, fires: fires,
		timers:   make(map[string]*timer),
		far:      newFarTier(min(max(cfg.Horizon/16, 10*time.Millisecond), 5*time.Minute)),
		wheel:    wheel.New(cfg.Tick, time.Now().UnixNano()),
		inflight: make(map[uint64]*fire),
		wake:     make(chan struct{}, 1),
		reload:   make(chan int, store.Shards()),
		stop:     make(chan struct{}),
		lost:     make(chan struct{}),
	}
	n.shards = make([]*shard, store.Shards())
	for i := range n.shards {
		n.shards[i] = newShard(i)
	}
	return n
}

// Start waits for the node lease (another node may hold it: this node then
// stands by until it lapses), loads every shard's timers from the store and
// starts the fire, housekeeping and lease loops. When it returns nil the
// node is ready: a timer scheduled now fires on time.
func (n *Node) Start(ctx context.Context) error {
	if err := n.acquireLease(ctx); err != nil {
		return err
	}
	all := make([]int, len(n.shards))
	for i := range all {
		all[i] = i
	}
	begin := time.Now()
	if err := n.load(ctx, all); err != nil {
		return err
	}
	n.mu.Lock()
	n.ready = true
	count, far := len(n.timers), n.far.count
	n.mu.Unlock()
	n.log.Info("timers loaded", "timers", count+far, "beyond the horizon", far, "shards", len(all), "took", time.Since(begin).Round(time.Millisecond))
	n.stopped.Add(4)
	go n.fireLoop()
	go n.promoteLoop()
	go n.housekeeping()
	go n.leaseLoop()
	return nil
}

// Ready reports whether the node has loaded its shards and fires on time.
func (n *Node) Ready() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready && !n.closing
}

// Close stops taking operations, waits (until ctx ends) for fires in flight,
// writes the final marks and progress, and stops the loops. The store and
// the fire publisher stay open: their owner closes them after.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil
	}
	n.closing = true
	n.mu.Unlock()
	close(n.stop)
	n.stopped.Wait()
	var errs []error
	if err := n.fires.Drain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("fires in flight: %w", err))
	}
	if err := n.fires.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush fires: %w", err))
	}
	n.checkpoint(ctx, true)
	if err := n.store.Drain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("store writes in flight: %w", err))
	} else {
		n.releaseLease(ctx)
	}
	return errors.Join(errs...)
}

// poke wakes the fire loop when an entry earlier than its sleep arrived.
// Call with n.mu held.
func (n *Node) poke(fireAt int64) {
	if fireAt < n.sleepTill {
		n.sleepTill = fireAt
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}
