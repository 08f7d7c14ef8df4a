package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/nodetest"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Two nodes on one store share the shards (each about half, every shard
// served by exactly one, both healthy and ready); timers on either fire
// once; when one leaves, the other takes every shard over and its timers
// fire there, none twice.
func TestTwoNodesShareAndTakeOver(t *testing.T) {
	const shards = 16
	mem := store.NewMem(shards)
	defer mem.Close()
	pub := newFakePub(t, 2*time.Millisecond)
	a := startNode(t, testConfig("a"), mem, pub)
	b := startNode(t, testConfig("b"), mem, pub)
	nodes := []*node.Node{a, b}

	nodetest.Eventually(t, 15*time.Second, func() error {
		na, nb := len(served(a)), len(served(b))
		if na+nb != shards || na < shards/4 || nb < shards/4 {
			return fmt.Errorf("a serves %d shards, b %d: want all %d split about evenly", na, nb, shards)
		}
		for s := range shards {
			if a.Serving(s) == b.Serving(s) {
				return fmt.Errorf("shard %d served by both or neither", s)
			}
		}
		for _, n := range nodes {
			if !n.Healthy() || !n.Ready() {
				return fmt.Errorf("%s: Healthy %v Ready %v", n.Name(), n.Healthy(), n.Ready())
			}
		}
		return nil
	})
	owners := a.Owners()
	for s := range shards {
		if want := map[bool]string{true: "a", false: "b"}[a.Serving(s)]; owners[s] != want {
			t.Fatalf("lease of shard %d names %q, served by %q", s, owners[s], want)
		}
	}

	// Timers on every shard, scheduled on whichever node serves them; due
	// after b has left, so half of them fire on a only after the takeover.
	due := time.Now().Add(1500 * time.Millisecond)
	ids := make([]string, 0, 64)
	for i := 0; len(ids) < cap(ids); i++ {
		id := fmt.Sprintf("t%d", i)
		owner := a
		if !a.Serving(a.ShardOf(id)) {
			owner = b
		}
		other := nodes[0]
		if owner == a {
			other = b
		}
		if _, err := other.Schedule(reqCtx(t), oneShot(id, "plain."+id, due)); codeOf(err) != -1 {
			t.Fatalf("schedule %s on the node not serving its shard: %v, want node.ErrNotServed", id, err)
		}
		if _, err := owner.Schedule(reqCtx(t), oneShot(id, "plain."+id, due)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}

	closeNode(t, b)
	nodetest.Eventually(t, 15*time.Second, func() error {
		if got := len(served(a)); got != shards || !a.Ready() {
			return fmt.Errorf("a serves %d shards (Ready %v) after b left, want all %d", got, a.Ready(), shards)
		}
		return nil
	})
	nodetest.Eventually(t, 15*time.Second, func() error {
		for _, id := range ids {
			if got := len(pub.firesOf(id)); got != 1 {
				return fmt.Errorf("%s fired %d times, want once", id, got)
			}
		}
		return nil
	})
	for _, f := range pub.fires() {
		if f.at.Before(f.due) {
			t.Errorf("%s fired early: at %v, due %v", f.id, f.at, f.due)
		}
	}
}

// cutStore is a store seen through a partition: while cut, every call
// fails (a watch already running goes on, as a NATS subscription would
// until the connection is seen dead).
type cutStore struct {
	store.Store
	cut atomic.Bool
}

var errCut = errors.New("test: partitioned from the store")

func (c *cutStore) Write(f store.Fence, ops []record.Op, done store.WriteFunc) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.Write(f, ops, done)
}

func (c *cutStore) WriteMark(f store.Fence, m store.Mark, done func(error)) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.WriteMark(f, m, done)
}

func (c *cutStore) Beat(ctx context.Context, m store.Member) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.Beat(ctx, m)
}

func (c *cutStore) UpdateLease(ctx context.Context, shard int, l store.Lease, rev uint64) (uint64, error) {
	if c.cut.Load() {
		return 0, errCut
	}
	return c.Store.UpdateLease(ctx, shard, l, rev)
}

func (c *cutStore) Replay(ctx context.Context, shards []int, fn func(int, uint64, []record.Op) error) (store.ReplayStats, error) {
	if c.cut.Load() {
		return store.ReplayStats{}, errCut
	}
	return c.Store.Replay(ctx, shards, fn)
}

// A node cut off from the store stops firing once its heartbeat is in
// doubt; the other takes its shards over after the TTL (fencing its
// writes out) and fires its timers, each exactly once; when the cut heals
// the first node drops what it held and gets its share back.
func TestPartitionedNodeIsTakenOver(t *testing.T) {
	const shards = 8
	mem := store.NewMem(shards)
	defer mem.Close()
	pubA, pubB := newFakePub(t, 2*time.Millisecond), newFakePub(t, 2*time.Millisecond)
	firesOf := func(id string) []sentFire { return append(pubA.firesOf(id), pubB.firesOf(id)...) }
	cut := &cutStore{Store: mem}
	a := startNode(t, testConfig("a"), mem, pubA)
	b := startNode(t, testConfig("b"), cut, pubB)
	nodetest.Eventually(t, 15*time.Second, func() error {
		if nb := len(served(b)); nb == 0 || nb+len(served(a)) != shards {
			return fmt.Errorf("a serves %v, b %v", served(a), served(b))
		}
		return nil
	})
	due := time.Now().Add(2 * time.Second)
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("p%d", i)
		n := a
		if b.Serving(b.ShardOf(id)) {
			n = b
		}
		if _, err := n.Schedule(reqCtx(t), oneShot(id, "js."+id, due)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cut.cut.Store(true)
	nodetest.Eventually(t, 5*time.Second, func() error {
		if b.Healthy() {
			return errors.New("b still healthy while cut off")
		}
		return nil
	})
	if _, err := b.Get(reqCtx(t), ids[0], 0); codeOf(err) != 503 && codeOf(err) != -1 {
		t.Errorf("get on the cut-off node: %v, want 503", err)
	}
	nodetest.Eventually(t, 15*time.Second, func() error {
		if got := len(served(a)); got != shards {
			return fmt.Errorf("a serves %d of %d shards", got, shards)
		}
		return nil
	})
	nodetest.Eventually(t, 15*time.Second, func() error {
		for _, id := range ids {
			if got := len(firesOf(id)); got != 1 {
				return fmt.Errorf("%s fired %d times, want once", id, got)
			}
		}
		return nil
	})
	cut.cut.Store(false)
	nodetest.Eventually(t, 15*time.Second, func() error {
		na, nb := len(served(a)), len(served(b))
		if nb == 0 || na+nb != shards || !b.Ready() {
			return fmt.Errorf("after the cut healed: a serves %d, b %d (Ready %v)", na, nb, b.Ready())
		}
		return nil
	})
	var twice []string
	for _, id := range ids {
		if got := len(firesOf(id)); got != 1 {
			twice = append(twice, fmt.Sprintf("%s (on a %d, on b %d)", id, len(pubA.firesOf(id)), len(pubB.firesOf(id))))
		}
	}
	if len(twice) > 0 {
		t.Errorf("fired twice after the cut healed: %v", twice)
	}
}

// leaseFailStore fails every lease update while fail is set, as a NATS
// busy electing a leader times requests out; beats go through.
type leaseFailStore struct {
	store.Store
	fail atomic.Bool
}

func (l *leaseFailStore) UpdateLease(ctx context.Context, shard int, ls store.Lease, rev uint64) (uint64, error) {
	if l.fail.Load() {
		return 0, fmt.Errorf("write lease of shard %d: %w", shard, context.DeadlineExceeded)
	}
	return l.Store.UpdateLease(ctx, shard, ls, rev)
}

// A claim that fails for a while (a timeout, not a lost bucket) is tried
// again: the node stays up and takes the shards once claims go through.
func TestFailedClaimsAreRetried(t *testing.T) {
	const shards = 8
	mem := store.NewMem(shards)
	defer mem.Close()
	pub := newFakePub(t, time.Millisecond)
	a := startNode(t, testConfig("a"), mem, pub)
	flaky := &leaseFailStore{Store: mem}
	b := node.New(testConfig("b"), flaky, pub)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeNode(t, b) })
	flaky.fail.Store(true)
	closeNode(t, a) // a leaves: b must claim everything, and cannot yet
	time.Sleep(time.Second)
	select {
	case err := <-b.Fatal():
		t.Fatalf("b gave up on a failed claim: %v", err)
	default:
	}
	flaky.fail.Store(false)
	nodetest.Eventually(t, 15*time.Second, func() error {
		if n := len(served(b)); n != shards || !b.Ready() {
			return fmt.Errorf("b serves %d of %d shards (Ready %v)", n, shards, b.Ready())
		}
		return nil
	})
}

// A registration silent past ForgetAfter and holding no shard is removed;
// a live node's is kept.
func TestLongLostNodesAreForgotten(t *testing.T) {
	mem := store.NewMem(4)
	defer mem.Close()
	ctx := reqCtx(t)
	if err := mem.Beat(ctx, store.Member{Node: "ghost", Instance: "x", Beat: time.Now().Add(-time.Hour).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("a")
	cfg.ForgetAfter = 2 * time.Second
	startNode(t, cfg, mem, newFakePub(t, time.Millisecond))
	startNode(t, testConfig("b"), mem, newFakePub(t, time.Millisecond))
	nodetest.Eventually(t, 15*time.Second, func() error {
		ms, err := mem.Members(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Node)
		}
		if fmt.Sprint(names) != "[a b]" {
			return fmt.Errorf("registered: %v, want [a b]", names)
		}
		return nil
	})
}
