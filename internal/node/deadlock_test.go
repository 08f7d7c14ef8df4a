package node_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/nodetest"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// The self-deadlock: a write whose callback ran on its caller's
// goroutine, under the node's lock, froze every timer. These tests make
// the calls that provoked it (an expired request context, a stopped
// store, requests racing Close) many times under -race; each call is
// bounded by a watchdog that fails with every goroutine's stack.

const callBound = 5 * time.Second

// request makes one API call of kind k on n for id with ctx and answers
// its protocol code (-1: not served here).
func request(ctx context.Context, n *node.Node, k int, id string) int {
	var err error
	switch k % 8 {
	case 0:
		_, err = n.Schedule(ctx, oneShot(id, "plain."+id, time.Now().Add(time.Duration(k%5)*10*time.Millisecond)))
	case 1:
		_, err = n.Get(ctx, id, 3)
	case 2:
		_, err = n.Cancel(ctx, id, shard.CallOptions{})
	case 3:
		_, err = n.Trigger(ctx, id)
	case 4:
		_, err = n.Pause(ctx, id, shard.CallOptions{})
	case 5:
		_, err = n.Resume(ctx, id, shard.CallOptions{})
	case 6:
		_, err = n.List(ctx, "", "", 50)
	case 7:
		_, errs := n.ScheduleBatch(ctx, []shard.Request{
			oneShot(id+"-b1", "plain.b", time.Now().Add(time.Hour)), oneShot(id+"-b2", "plain.b", time.Now())})
		err = errs[0]
	}
	return codeOf(err)
}

// allowed: what a call may answer here; 0 is an error that is not the
// protocol's, which none may be.
func allowed(code int) bool {
	switch code {
	case 200, api.CodeNotReady, api.CodeNotFound, api.CodeConflict, -1:
		return true
	}
	return false
}

// Requests whose context has already ended answer at once (their reply,
// or 503 "not confirmed stored in time"), and the node goes on serving.
func TestExpiredContextAnswers(t *testing.T) {
	mem := store.NewMem(4)
	defer mem.Close()
	n := startNode(t, testConfig("n"), mem, newFakePub(t, time.Millisecond))
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 400 {
		id := fmt.Sprintf("x%d", i%20)
		within(t, callBound, fmt.Sprintf("request %d with an ended context", i), func() {
			if code := request(dead, n, i, id); !allowed(code) {
				t.Errorf("request %d (kind %d) with an ended context answered %d", i, i%8, code)
			}
		})
	}
	for i := range 20 {
		id := fmt.Sprintf("after%d", i)
		if _, err := n.Schedule(reqCtx(t), oneShot(id, "plain."+id, time.Now().Add(time.Hour))); err != nil {
			t.Fatalf("the node does not serve after requests with ended contexts: %v", err)
		}
	}
}

// Requests racing Close all answer, and Close returns: many times over.
func TestRequestsRacingClose(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		mem := store.NewMem(4)
		pub := newFakePub(t, time.Millisecond)
		n := node.New(testConfig("n"), mem, pub)
		within(t, 20*time.Second, "Start", func() {
			if err := n.Start(reqCtx(t)); err != nil {
				t.Fatal(err)
			}
		})
		var wg sync.WaitGroup
		var stop atomic.Bool
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*20*time.Millisecond)
					ok := bounded(t, callBound, fmt.Sprintf("round %d: request %d racing Close", round, i), func() {
						if code := request(ctx, n, g+i, fmt.Sprintf("g%d-%d", g, i%10)); !allowed(code) {
							t.Errorf("round %d: request (kind %d) racing Close answered %d", round, (g+i)%8, code)
						}
					})
					cancel()
					if !ok {
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * 10 * time.Millisecond) // let some requests be in flight: the race is the point
		closeNode(t, n)
		// Requests after Close answer too.
		for i := range 8 {
			within(t, callBound, "request after Close", func() {
				if code := request(reqCtx(t), n, i, "late"); !allowed(code) || code == 200 && i%8 == 0 {
					t.Errorf("request (kind %d) after Close answered %d", i, code)
				}
			})
		}
		stop.Store(true)
		within(t, 2*callBound, "the racing requesters", wg.Wait)
		mem.Close()
	}
}

// A stopped store: writes fail, their requests answer 503, reads of what
// is in memory still answer, nothing waits for ever, and Close returns.
func TestStoppedStoreAnswers(t *testing.T) {
	mem := store.NewMem(4)
	pub := newFakePub(t, time.Millisecond)
	n := startNode(t, testConfig("n"), mem, pub)
	for i := range 20 {
		id := fmt.Sprintf("s%d", i)
		if _, err := n.Schedule(reqCtx(t), oneShot(id, "js."+id, time.Now().Add(time.Duration(i)*10*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	within(t, callBound, "store Close", mem.Close)
	for i := range 400 {
		id := fmt.Sprintf("s%d", i%30)
		within(t, callBound, fmt.Sprintf("request %d on a stopped store", i), func() {
			code := request(reqCtx(t), n, i, id)
			if !allowed(code) || code == 200 && (i%8 == 0 || i%8 == 7) {
				t.Errorf("request %d (kind %d) on a stopped store answered %d", i, i%8, code)
			}
		})
	}
	within(t, callBound, "Stats on a stopped store", func() { _ = n.Stats(reqCtx(t)) })
}

// The same on the JetStream store: its writes fail with ErrClosed once it
// is closed, the fires of the timers due meanwhile wait or fail, and no
// request or Close hangs.
func TestStoppedJetStreamStoreAnswers(t *testing.T) {
	nt := nodetest.Start(t, nodetest.Options{Shards: 4, MarkInterval: 50 * time.Millisecond})
	n := nt.Node
	for i := range 20 {
		id := fmt.Sprintf("s%d", i)
		if _, err := n.Schedule(reqCtx(t), oneShot(id, "plain."+id, time.Now().Add(time.Duration(i)*10*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	within(t, callBound, "store Close", nt.Store.Close)
	for i := range 200 {
		id := fmt.Sprintf("s%d", i%30)
		within(t, callBound, fmt.Sprintf("request %d on a stopped store", i), func() {
			code := request(reqCtx(t), n, i, id)
			if !allowed(code) || code == 200 && (i%8 == 0 || i%8 == 7) {
				t.Errorf("request %d (kind %d) on a stopped JetStream store answered %d", i, i%8, code)
			}
		})
	}
	within(t, 15*time.Second, "node Close on a stopped store", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
}
