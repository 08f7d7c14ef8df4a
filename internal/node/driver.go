package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/wheel"
)

// A driver runs one shard's core on this node: it calls the core under
// its lock and performs what the core asks (Ready) outside it. Results of
// I/O come back through stepCore, which checks they belong to the core
// that asked: a shard reloaded or handed off meanwhile has a new core (or
// none), and late results of the old one are dropped.

type dstate uint8

const (
	idle    dstate = iota // not served here
	loading               // claimed, records being read
	serving
	leaving // being handed off: nothing new is decided
)

type driver struct {
	n  *Node
	id int

	mu       sync.Mutex // guards everything below
	core     *shard.Shard
	state    dstate
	fence    store.Fence
	waiters  map[shard.Token]waiter
	outbox   []outWrite
	flushing bool // a goroutine is writing the outbox, in order
}

type outWrite struct {
	core  *shard.Shard
	fence store.Fence
	rec   shard.Record
}

// waiter is where a request's reply goes: a channel of its own, or a slot
// of a batch's collector.
type waiter struct {
	ch  chan shard.Reply
	col *collector
	i   int
}

func (w waiter) deliver(r shard.Reply) {
	if w.col != nil {
		w.col.put(w.i, r)
		return
	}
	w.ch <- r // buffered: never blocks
}

type delivery struct {
	w waiter
	r shard.Reply
}

// collector gathers the replies of a batch's requests, across shards, into
// one slice: one allocation for the batch instead of a channel a request.
type collector struct {
	mu      sync.Mutex
	replies []shard.Reply
	got     []bool
	left    int
	closed  bool // the waiter gave up: later replies are dropped
	done    chan struct{}
}

func newCollector(k int) *collector {
	c := &collector{replies: make([]shard.Reply, k), got: make([]bool, k), left: k, done: make(chan struct{})}
	if k == 0 {
		close(c.done)
	}
	return c
}

func (c *collector) put(i int, r shard.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.got[i] {
		return
	}
	c.replies[i], c.got[i] = r, true
	if c.left--; c.left == 0 {
		close(c.done)
	}
}

// wait waits for every reply (until ctx ends) and returns them; got says
// which came. Replies after it gave up are dropped.
func (c *collector) wait(ctx context.Context) ([]shard.Reply, []bool) {
	select {
	case <-c.done: // every slot filled: nothing writes to them any more
		return c.replies, c.got
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return slices.Clone(c.replies), slices.Clone(c.got)
}

// wheelOf is the core's view of the node's shared wheel: each call takes
// the wheel's lock, and an entry earlier than the fire loop's sleep wakes
// it.
type wheelOf struct{ n *Node }

func (w wheelOf) Add(due int64, v uint64) wheel.Handle {
	w.n.wheelMu.Lock()
	h := w.n.wheel.Add(due, v)
	w.n.wheelMu.Unlock()
	if due < w.n.sleepTill.Load() {
		w.n.poke()
	}
	return h
}

func (w wheelOf) Cancel(h wheel.Handle) bool {
	w.n.wheelMu.Lock()
	defer w.n.wheelMu.Unlock()
	return w.n.wheel.Cancel(h)
}

func (w wheelOf) Next() (int64, bool) {
	w.n.wheelMu.Lock()
	defer w.n.wheelMu.Unlock()
	return w.n.wheel.Next()
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (d *driver) loading() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == loading
}

func (d *driver) serving() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == serving
}

// request runs op on the serving core for a request and waits for its
// reply (until ctx ends).
func (d *driver) request(ctx context.Context, op func(c *shard.Shard, now int64, tok shard.Token)) (any, error) {
	ch, err := d.submit(op)
	if err != nil {
		return nil, err
	}
	return d.wait(ctx, ch)
}

// submit starts op for a request; the reply comes on the channel.
func (d *driver) submit(op func(c *shard.Shard, now int64, tok shard.Token)) (chan shard.Reply, error) {
	n := d.n
	if !n.Healthy() {
		return nil, errUnhealthy(n)
	}
	tok := n.token()
	ch := make(chan shard.Reply, 1)
	if err := d.start(func(c *shard.Shard, now int64) {
		d.waiters[tok] = waiter{ch: ch}
		op(c, now, tok)
	}); err != nil {
		return nil, err
	}
	return ch, nil
}

// start runs op on the serving core (op registers its waiters), then
// performs what the core asked.
func (d *driver) start(op func(c *shard.Shard, now int64)) error {
	d.mu.Lock()
	if d.state != serving {
		// Not here, still loading, or moving: the service hands the request
		// over and tries again until the shard is served somewhere.
		d.mu.Unlock()
		return errNotOwned
	}
	c := d.core
	op(c, d.n.now())
	d.after(c)
	return nil
}

func (d *driver) wait(ctx context.Context, ch chan shard.Reply) (any, error) {
	select {
	case r := <-ch:
		return r.Value, r.Err
	case <-ctx.Done():
		return nil, errNotConfirmed(ctx)
	}
}

func errUnhealthy(n *Node) error {
	return api.Errorf(api.CodeNotReady, "node %s cannot reach NATS (its heartbeat is not stored); retry", n.cfg.Name)
}

func errNotConfirmed(ctx context.Context) error {
	return api.Errorf(api.CodeNotReady, "not confirmed stored in time (%v); retry (the request is idempotent)", ctx.Err())
}

// errNotOwned: this node does not serve the shard (the service hands the
// request to the owner).
var errNotOwned = errors.New("node: shard not served here")

// stepCore runs fn on core c if it is still the shard's core, then
// performs what it asked.
func (d *driver) stepCore(c *shard.Shard, fn func(c *shard.Shard, now int64)) {
	d.mu.Lock()
	if d.core != c || c == nil {
		d.mu.Unlock()
		return
	}
	fn(c, d.n.now())
	d.after(c)
}

// after takes core c's Ready, hands replies to their waiters and records
// to the outbox, releases d.mu (held by the caller) and performs the rest.
func (d *driver) after(c *shard.Shard) {
	rd := c.Ready()
	var out []delivery
	for _, r := range rd.Replies {
		if w, ok := d.waiters[r.Token]; ok {
			delete(d.waiters, r.Token)
			out = append(out, delivery{w, r})
		}
	}
	for _, r := range rd.Records {
		d.outbox = append(d.outbox, outWrite{core: c, fence: d.fence, rec: r})
	}
	flush := !d.flushing && len(d.outbox) > 0
	if flush {
		d.flushing = true
	}
	fence := d.fence
	d.mu.Unlock()

	for _, o := range out {
		o.w.deliver(o.r)
	}
	if flush {
		d.flushOutbox()
	}
	d.perform(c, fence, rd)
}

// flushOutbox writes the outbox's records in order; one goroutine at a
// time does it (d.flushing), so a shard's records are stored in the order
// its core decided them.
func (d *driver) flushOutbox() {
	for {
		d.mu.Lock()
		if len(d.outbox) == 0 {
			d.flushing = false
			d.mu.Unlock()
			return
		}
		w := d.outbox[0]
		d.outbox[0] = outWrite{}
		d.outbox = d.outbox[1:]
		d.mu.Unlock()
		c, id := w.core, w.rec.ID
		err := d.n.store.Write(w.fence, w.rec.Ops, func(seq uint64, err error) {
			d.stepCore(c, func(c *shard.Shard, now int64) { c.Acked(now, id, seq, err) })
		})
		if err != nil {
			d.stepCore(c, func(c *shard.Shard, now int64) { c.Acked(now, id, 0, err) })
		}
	}
}

// perform does what core c asked, besides replies and records.
func (d *driver) perform(c *shard.Shard, fence store.Fence, rd shard.Ready) {
	n := d.n
	if len(rd.Fires) > 0 {
		n.publish(d, c, rd.Fires)
	}
	for _, seq := range rd.Reads {
		seq := seq
		n.do(func() {
			ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
			ops, err := n.store.ReadRecord(ctx, seq)
			cancel()
			d.stepCore(c, func(c *shard.Shard, now int64) { c.RecordRead(now, seq, ops, err) })
		})
	}
	if m := rd.Mark; m != nil {
		mark := *m
		if err := n.store.WriteMark(fence, mark, func(err error) {
			d.stepCore(c, func(c *shard.Shard, _ int64) { c.MarkWritten(mark, err) })
		}); err != nil {
			d.stepCore(c, func(c *shard.Shard, _ int64) { c.MarkWritten(mark, err) })
		}
	}
	if below, dels := rd.PurgeBelow, rd.Deletes; below != 0 || len(dels) > 0 {
		n.do(func() {
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			var err error
			if below != 0 {
				err = n.store.PurgeBelow(ctx, d.id, below)
			}
			if err == nil && len(dels) > 0 {
				err = n.store.DeleteRecords(ctx, d.id, dels)
			}
			cancel()
			if err != nil {
				n.noise.warn(n.log, "purge", "removing dead records failed; retried at the next mark", "shard", d.id, "err", err)
			}
			d.stepCore(c, func(c *shard.Shard, _ int64) { c.Purged(err) })
		})
	}
	for _, why := range rd.SetAside {
		n.log.Error("timer set aside: its fire cannot be published", "shard", d.id, "timer", why)
		if m := n.cfg.Metrics; m != nil {
			m.setAside.Inc()
		}
	}
	if err := rd.WriteFailed; err != nil {
		n.writeFailed(d, c, err)
	}
}

// unload ends the shard's core here; requests waiting on it are answered.
func (d *driver) unload(why string) bool {
	d.mu.Lock()
	c := d.core
	if c == nil {
		d.mu.Unlock()
		return false
	}
	c.Unload(why)
	d.core, d.state = nil, idle
	d.after(c) // answers what waited; releases d.mu
	d.mu.Lock()
	for tok, w := range d.waiters { // requests the core no longer knows
		delete(d.waiters, tok)
		w.deliver(shard.Reply{Token: tok, Err: api.Errorf(api.CodeNotReady, "the timer's shard %d %s; retry", d.id, why)})
	}
	d.outbox = nil
	d.mu.Unlock()
	d.n.notifyShard(d.id, false)
	return true
}
