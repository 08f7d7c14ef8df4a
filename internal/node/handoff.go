package node

import (
	"context"
	"errors"
	"time"

	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// handoff hands shards to the nodes hashing now gives them (a node joined).
func (n *Node) handoff(ctx context.Context, ids []int, v *view) {
	targets := make(map[int]string, len(ids))
	for _, s := range ids {
		targets[s] = v.wanted(s)
	}
	hctx, cancel := context.WithTimeout(ctx, 4*n.cfg.Heartbeat+2*time.Second)
	defer cancel()
	n.surrender(hctx, ids, func(s int) store.Lease {
		return store.Lease{Node: targets[s], From: n.cfg.Name}
	})
}

// leave hands every shard this node serves to the node hashing gives it
// without this one (or releases it when none is left), and deregisters.
func (n *Node) leave(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, n.cfg.NodeTTL/2)
	_ = n.beat(lctx, true) // the others stop counting this node
	cancel()
	v := n.snapshot()
	var owned []int
	for _, d := range n.shards {
		if st, _ := d.status(); st == serving {
			owned = append(owned, d.id)
		}
	}
	n.surrender(ctx, owned, func(s int) store.Lease {
		return store.Lease{Node: v.wanted(s), From: n.cfg.Name} // "" releases it
	})
	lctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return n.store.Leave(lctx, n.cfg.Name)
}

// surrender passes the shards on: nothing new is decided on them; their
// writes get their outcome and the final mark and progress are written
// (bounded by ctx); then each lease goes to next(shard), which
// fences this node out. A shard whose lease cannot be passed on is
// reloaded by the next round of decisions, since its wheel entries were
// dropped.
func (n *Node) surrender(ctx context.Context, ids []int, next func(int) store.Lease) {
	if len(ids) == 0 {
		return
	}
	type held struct {
		d    *driver
		core *shard.Shard
		rev  uint64
	}
	var hs []held
	for _, s := range ids {
		d := n.shards[s]
		d.mu.Lock()
		if d.state == serving && d.core != nil {
			d.state = leaving
			hs = append(hs, held{d, d.core, d.fence.Rev})
		}
		d.mu.Unlock()
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	// Fires in flight need not finish: the final mark stays below them, so
	// the next owner fires them again, with the same dedup id.
	quiet := func() bool {
		for _, h := range hs {
			h.d.mu.Lock()
			busy := h.d.core == h.core && (h.core.WritesInFlight() > 0 || h.core.MarkPending())
			h.d.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	}
	for _, h := range hs {
		h.d.stepCore(h.core, func(c *shard.Shard, now int64) { c.Checkpoint(now, true) })
	}
	for !quiet() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var lost, unpassed []int
	var firstErr error
	for _, h := range hs {
		l := next(h.d.id)
		err := ctx.Err()
		if firstErr != nil {
			err = firstErr // the store is not answering: do not wait on it once per shard
		}
		if err == nil {
			// Passed on, the next owner starts at once; left as it is, it
			// waits for this node to be seen lost.
			uctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = n.store.UpdateLease(uctx, h.d.id, l, h.rev)
			cancel()
		}
		switch {
		case errors.Is(err, store.ErrLeaseChanged):
			lost = append(lost, h.d.id) // taken meanwhile: nothing to pass on
		case err != nil:
			unpassed = append(unpassed, h.d.id)
			if firstErr == nil {
				firstErr = err
			}
		case n.cfg.Metrics != nil:
			n.cfg.Metrics.handoffs.Inc()
		}
		to := "is released"
		if l.Node != "" {
			to = "moved to node " + l.Node
		}
		h.d.unload(to)
	}
	if len(lost) > 0 {
		n.log.Info("shards were taken by other nodes before this node passed them on", "shards", lost)
	}
	if len(unpassed) > 0 {
		n.log.Warn("shards not passed on; other nodes take them once this node is seen gone", "shards", len(unpassed), "err", firstErr)
	}
}
