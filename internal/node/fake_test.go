package node_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// fakePub is a node.Publisher in memory. Fires to subjects starting with
// "js." are "JetStream" fires: not settled at once, acknowledged later by
// the fake's own goroutine after ackDelay, as a stream's ack would come;
// the rest are settled at once. fail decides a fire's error.
type fakePub struct {
	ackDelay time.Duration

	count atomic.Int64 // len(sent), read without the lock by pollers

	mu    sync.Mutex // guards everything below
	sent  []sentFire // every fire that was published (not failed), in order
	tries map[string]int
	fail  func(msgID string, try int) error
	acks  chan func()

	stop chan struct{}
	done chan struct{}
}

type sentFire struct {
	id, msgID string
	due       time.Time // Timer-Due
	at        time.Time // when Publish was called
}

var errPermanent = errors.New("fake: refused for good")

func newFakePub(t testing.TB, ackDelay time.Duration) *fakePub {
	p := &fakePub{ackDelay: ackDelay, tries: make(map[string]int), acks: make(chan func(), 1<<16),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.acker()
	t.Cleanup(p.close)
	return p
}

// acker acknowledges JetStream fires in order, each ackDelay after it was
// sent, from a goroutine of its own (never the publisher's caller).
func (p *fakePub) acker() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case ack := <-p.acks:
			ack()
		}
	}
}

func (p *fakePub) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		<-p.done
	}
}

func (p *fakePub) Publish(msg *nats.Msg, done func(error)) (bool, error) {
	now := time.Now()
	msgID := msg.Header.Get(api.HeaderMsgID)
	due, _ := time.Parse(time.RFC3339Nano, msg.Header.Get(api.HeaderDue))
	p.mu.Lock()
	p.tries[msgID]++
	var err error
	if p.fail != nil {
		err = p.fail(msgID, p.tries[msgID])
	}
	if err == nil {
		p.sent = append(p.sent, sentFire{id: msg.Header.Get(api.HeaderID), msgID: msgID, due: due, at: now})
		p.count.Store(int64(len(p.sent)))
	}
	p.mu.Unlock()
	if !strings.HasPrefix(msg.Subject, "js.") {
		return true, err
	}
	sentAt := now
	ack := func() {
		time.Sleep(time.Until(sentAt.Add(p.ackDelay)))
		done(err)
	}
	select {
	case p.acks <- ack:
	case <-p.stop:
		go done(errors.New("fake: publisher closed"))
	}
	return false, nil
}

func (p *fakePub) Permanent(err error) bool          { return errors.Is(err, errPermanent) }
func (p *fakePub) Flush(ctx context.Context) error   { return ctx.Err() }
func (p *fakePub) setFail(f func(string, int) error) { p.mu.Lock(); p.fail = f; p.mu.Unlock() }

// fires is a copy of what was published.
func (p *fakePub) fires() []sentFire {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sentFire(nil), p.sent...)
}

// firesFrom is a copy of what was published from the i-th fire on.
func (p *fakePub) firesFrom(i int) []sentFire {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sentFire(nil), p.sent[i:]...)
}

// firesOf is what was published of timer id.
func (p *fakePub) firesOf(id string) []sentFire {
	var out []sentFire
	for _, f := range p.fires() {
		if f.id == id {
			out = append(out, f)
		}
	}
	return out
}

// testConfig is a node's configuration for tests: short intervals so
// marks, beats and takeovers happen within a test, generous enough for -race.
func testConfig(name string) node.Config {
	return node.Config{Name: name, MarkInterval: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
		NodeTTL: time.Second, KeepFired: time.Minute}
}

// startNode starts a node on st and closes it at cleanup.
func startNode(t testing.TB, cfg node.Config, st store.Store, pub node.Publisher) *node.Node {
	t.Helper()
	n := node.New(cfg, st, pub)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("start node %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { closeNode(t, n) })
	return n
}

func closeNode(t testing.TB, n *node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	within(t, 15*time.Second, "Close of node "+n.Name(), func() { _ = n.Close(ctx) })
}

// oneShot is a validated request for a one-shot timer due at due.
func oneShot(id, subject string, due time.Time) shard.Request {
	h := fnv.New64a()
	fmt.Fprint(h, id, subject, due.UnixNano())
	return shard.Request{Timer: &record.Timer{ID: id, Subject: subject, Kind: record.KindAt,
		Spec: due.UTC().Format(time.RFC3339Nano), Due: due.UnixNano(), Created: time.Now().UnixNano(), ReqHash: h.Sum64()}}
}

func reqCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// codeOf is the protocol code of a node's answer: 200, or the *api.Error's.
func codeOf(err error) int {
	var e *api.Error
	switch {
	case err == nil:
		return 200
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, node.ErrNotServed):
		return -1
	}
	return 0
}

// within runs fn and fails the test with every goroutine's stack if it
// has not returned after d: the way a deadlock shows up here. Call it on
// the test's goroutine; elsewhere use bounded.
func within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	if !bounded(t, d, what, fn) {
		t.FailNow()
	}
}

// bounded is within for any goroutine: it reports a hang (t.Errorf) and
// answers false instead of stopping the test.
func bounded(t testing.TB, d time.Duration, what string, fn func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		t.Errorf("%s did not return in %v (deadlock?); goroutines:\n%s", what, d, b.String())
		return false
	}
}

// served lists the shards n serves.
func served(n *node.Node) []int {
	var out []int
	for s := range n.Shards() {
		if n.Serving(s) {
			out = append(out, s)
		}
	}
	return out
}
