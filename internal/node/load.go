package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// claimed is a shard this node took under lease revision rev; replayThrough
// bounds the occurrences of recurring timers that its previous owner may
// have fired unrecorded (Unix ns).
type claimed struct {
	id            int
	rev           uint64
	replayThrough int64
}

// load reads the given shards from the store (marks, then every record in
// stream order, in one replay) and starts serving them. Transient errors
// are retried until ctx ends; damage the store reports ends the node.
func (n *Node) load(ctx context.Context, cs []claimed) error {
	if len(cs) == 0 {
		return nil
	}
	ids := make([]int, len(cs))
	cores := make(map[int]*shard.Shard, len(cs))
	for k, c := range cs {
		ids[k] = c.id
		d := n.shards[c.id]
		core := shard.New(n.shardCfg(c.id), wheelOf{n})
		d.mu.Lock()
		d.core, d.state, d.fence = core, loading, store.Fence{Shard: c.id, Rev: c.rev}
		d.mu.Unlock()
		cores[c.id] = core
	}
	begin := time.Now()
	var st store.ReplayStats
	for attempt := 0; ; attempt++ {
		var err error
		st, err = n.replay(ctx, ids, cores)
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrGone) || isDamage(err) || ctx.Err() != nil {
			for _, id := range ids {
				n.shards[id].unload("could not be loaded")
			}
			return err
		}
		n.noise.warn(n.log, "load", "loading shards failed; retrying", "shards", len(ids), "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
	now := n.now()
	timers := int64(0)
	for _, c := range cs {
		d := n.shards[c.id]
		d.mu.Lock()
		core := cores[c.id]
		if d.core != core {
			d.mu.Unlock()
			continue
		}
		core.Loaded(now, c.replayThrough)
		timers += core.Counts().Timers
		d.state = serving
		d.after(core)
		n.notifyShard(c.id, true)
	}
	if st.Skipped > 0 {
		n.log.Error("records that could not be read were skipped (--skip-corrupt)", "skipped", st.Skipped)
		if m := n.cfg.Metrics; m != nil {
			m.skipped.Add(float64(st.Skipped))
		}
	}
	n.log.Info("shards loaded", "shards", len(ids), "timers", timers, "records", st.Records, "took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// replay reads marks and records into the cores (each put back to loading).
func (n *Node) replay(ctx context.Context, ids []int, cores map[int]*shard.Shard) (store.ReplayStats, error) {
	info, err := n.store.Info(ctx)
	if err != nil {
		return store.ReplayStats{}, err
	}
	for _, id := range ids {
		m, err := n.store.ReadMark(ctx, id)
		if err != nil {
			return store.ReplayStats{}, err
		}
		if m.Seq > info.LastSeq {
			return store.ReplayStats{}, fmt.Errorf("%w: shard %d's mark says records through sequence %d were stored, but the stream ends at %d: records were lost (a truncated or replaced data directory?)",
				errDamaged, id, m.Seq, info.LastSeq)
		}
		fresh := shard.New(n.shardCfg(id), wheelOf{n})
		d := n.shards[id]
		d.mu.Lock()
		if d.core == cores[id] {
			cores[id].Unload("is reloading")
			d.core = fresh
			fresh.Loading(m)
		}
		d.mu.Unlock()
		cores[id] = fresh
	}
	ap := newApplier(ids, min(runtime.GOMAXPROCS(0), maxAppliers), func(sh int, seq uint64, ops []record.Op) {
		d := n.shards[sh]
		d.mu.Lock()
		if c := cores[sh]; d.core == c {
			c.Apply(seq, ops)
		}
		d.mu.Unlock()
	})
	st, err := n.store.Replay(ctx, ids, ap.add)
	ap.close()
	return st, err
}

// applier applies a replay's records on several goroutines while the
// store reads on. Each shard has one worker, which applies its records in
// the order handed, so a shard still sees its records in stream order.
// The replay's own goroutine reads and decodes; applying was as much
// again (docs/benchmarks.md, "Restart: where the time goes").
type applier struct {
	apply   func(shard int, seq uint64, ops []record.Op)
	of      []int        // worker of each shard (by shard id)
	pending [][]replayed // per worker, not yet sent
	work    []chan []replayed
	wg      sync.WaitGroup
}

type replayed struct {
	shard int
	seq   uint64
	ops   []record.Op
}

// maxAppliers bounds the goroutines that apply a replay.
const maxAppliers = 8

// applyBatch records go to a worker at once: big enough that the channel
// costs nothing per record, small enough to keep the workers busy.
const applyBatch = 128

// newApplier spreads shards over at most workers goroutines, in turn.
func newApplier(shards []int, workers int, apply func(shard int, seq uint64, ops []record.Op)) *applier {
	workers = max(min(workers, len(shards)), 1)
	a := &applier{apply: apply, of: make([]int, slices.Max(append([]int{0}, shards...))+1),
		pending: make([][]replayed, workers), work: make([]chan []replayed, workers)}
	for j, sh := range shards {
		a.of[sh] = j % workers
	}
	for k := range a.work {
		a.work[k] = make(chan []replayed, 16)
		a.wg.Add(1)
		go func(in <-chan []replayed) {
			defer a.wg.Done()
			for batch := range in {
				for _, r := range batch {
					a.apply(r.shard, r.seq, r.ops)
				}
			}
		}(a.work[k])
	}
	return a
}

// add is the replay's callback: it queues the record for its shard's worker.
func (a *applier) add(shard int, seq uint64, ops []record.Op) error {
	k := a.of[shard]
	a.pending[k] = append(a.pending[k], replayed{shard, seq, ops})
	if len(a.pending[k]) >= applyBatch {
		a.work[k] <- a.pending[k]
		a.pending[k] = make([]replayed, 0, applyBatch)
	}
	return nil
}

// close sends what is pending and returns when every record is applied.
func (a *applier) close() {
	for k, p := range a.pending {
		if len(p) > 0 {
			a.work[k] <- p
		}
		close(a.work[k])
	}
	a.wg.Wait()
}

var errDamaged = store.ErrDamaged

func isDamage(err error) bool { return errors.Is(err, store.ErrDamaged) }

// writeFailed handles a record the store did not take: fenced, the shard
// belongs to another node now and is dropped at once; gone, the bucket was
// deleted and the node cannot go on; otherwise it is reloaded from the
// store, since a write that timed out may have landed.
func (n *Node) writeFailed(d *driver, c *shard.Shard, err error) {
	switch {
	case errors.Is(err, store.ErrFenced):
		n.log.Warn("a write was refused: another node owns the shard now; dropping it", "shard", d.id, "err", err)
		d.mu.Lock()
		same := d.core == c
		d.mu.Unlock()
		if same {
			d.unload("moved to another node")
		}
		n.pokeMembership()
	case errors.Is(err, store.ErrGone):
		n.die(fmt.Errorf("the timers' bucket is gone (deleted while timerd ran): %w", err))
	case errors.Is(err, store.ErrClosed):
	default:
		n.noise.warn(n.log, "reload", "a write failed; reloading the shard from the store", "shard", d.id, "err", err)
		n.do(func() { n.reload(d, c) })
	}
}

// reload reads shard d again, if c is still its core.
func (n *Node) reload(d *driver, c *shard.Shard) {
	d.mu.Lock()
	if d.core != c {
		d.mu.Unlock()
		return
	}
	rev, id := d.fence.Rev, d.id
	d.mu.Unlock()
	d.unload("is reloading after a failed write")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { // the load ends with ctx when the node stops
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := n.load(ctx, []claimed{{id: id, rev: rev, replayThrough: n.now()}}); err != nil && ctx.Err() == nil {
		n.die(fmt.Errorf("reloading shard %d: %w", id, err))
	}
}
