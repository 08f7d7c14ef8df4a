package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// heldStore holds the acks of one shard's record writes until release.
type heldStore struct {
	store.Store
	shard int
	gate  chan struct{}
	wg    sync.WaitGroup
}

func (h *heldStore) Write(f store.Fence, ops []record.Op, done store.WriteFunc) error {
	if f.Shard != h.shard {
		return h.Store.Write(f, ops, done)
	}
	h.wg.Add(1)
	return h.Store.Write(f, ops, func(seq uint64, err error) {
		go func() {
			defer h.wg.Done()
			<-h.gate
			done(seq, err)
		}()
	})
}

// A batch whose time runs out while one shard's records are unacknowledged
// answers those elements "not confirmed" (503, retry) and the rest with
// their stored replies; the late acks, when they come, are taken by the
// shard and dropped by the batch that gave up (no reply is sent twice, no
// race), and an identical retry then finds the timers stored.
func TestBatchTimeoutAnswersWhatWasConfirmed(t *testing.T) {
	const shards = 4
	mem := store.NewMem(shards)
	defer mem.Close()
	held := &heldStore{Store: mem, shard: 2, gate: make(chan struct{})}
	n := startNode(t, testConfig("batch"), held, newFakePub(t, 5*time.Millisecond))

	due := time.Now().Add(time.Hour)
	var reqs []shard.Request
	for i := range 40 {
		reqs = append(reqs, oneShot(fmt.Sprintf("t-%d", i), "plain.x", due))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	replies, errs := n.ScheduleBatch(ctx, reqs)
	cancel()
	heldCount := 0
	for i, r := range reqs {
		if node.ShardOf(r.Timer.ID, shards) == held.shard {
			heldCount++
			if codeOf(errs[i]) != api.CodeNotReady {
				t.Fatalf("%s (held shard): %+v, %v; want 503", r.Timer.ID, replies[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || !replies[i].Created || replies[i].ID != r.Timer.ID {
			t.Fatalf("%s: %+v, %v; want created", r.Timer.ID, replies[i], errs[i])
		}
	}
	if heldCount == 0 || heldCount == len(reqs) {
		t.Fatalf("%d of %d timers in the held shard: the test needs some of each", heldCount, len(reqs))
	}
	close(held.gate)
	held.wg.Wait()
	replies, errs = n.ScheduleBatch(reqCtx(t), reqs) // the identical retry
	for i := range reqs {
		if errs[i] != nil || replies[i].ID != reqs[i].Timer.ID || replies[i].Revision == 0 {
			t.Fatalf("retry of %s: %+v, %v", reqs[i].Timer.ID, replies[i], errs[i])
		}
	}
	if got := n.Stats(reqCtx(t)).Timers; got != int64(len(reqs)) {
		t.Fatalf("%d timers stored, want %d", got, len(reqs))
	}
}
