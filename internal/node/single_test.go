package node_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// A node alone on a store registers, claims every shard, serves the API,
// fires on time (never early, with the occurrence's dedup id), records
// marks, and on Close releases its leases and deregisters.
func TestNodeAlone(t *testing.T) {
	const shards = 8
	mem := store.NewMem(shards)
	defer mem.Close()
	pub := newFakePub(t, 5*time.Millisecond)
	n := startNode(t, testConfig("solo"), mem, pub)

	if !n.Ready() || !n.Healthy() {
		t.Fatalf("started: Ready %v Healthy %v", n.Ready(), n.Healthy())
	}
	if got := served(n); len(got) != shards {
		t.Fatalf("serves shards %v, want all %d", got, shards)
	}
	ms, err := mem.Members(reqCtx(t))
	if err != nil || len(ms) != 1 || ms[0].Node != "solo" || ms[0].Leaving {
		t.Fatalf("registry: %+v, %v", ms, err)
	}
	ls, revs, _ := mem.Leases(reqCtx(t))
	for s := range shards {
		if ls[s].Node != "solo" || revs[s] == 0 {
			t.Fatalf("lease of shard %d: %+v at %d", s, ls[s], revs[s])
		}
	}

	// Schedule, then the identical retry, then a conflicting create.
	due := time.Now().Add(300 * time.Millisecond)
	req := oneShot("a", "plain.a", due)
	r, err := n.Schedule(reqCtx(t), req)
	if err != nil || !r.Created || r.Revision == 0 {
		t.Fatalf("schedule: %+v, %v", r, err)
	}
	if again, err := n.Schedule(reqCtx(t), req); err != nil || again.Revision != r.Revision {
		t.Fatalf("identical retry: %+v, %v; want revision %d", again, err, r.Revision)
	}
	if _, err := n.Schedule(reqCtx(t), oneShot("a", "plain.other", due)); codeOf(err) != api.CodeConflict {
		t.Fatalf("conflicting create: %v, want 409", err)
	}
	if got, err := n.Get(reqCtx(t), "a", 1); err != nil || got.Revision != r.Revision || got.Subject != "plain.a" {
		t.Fatalf("get: %+v, %v", got, err)
	}
	// One cancelled, one triggered, one through JetStream.
	if _, err := n.Schedule(reqCtx(t), oneShot("c", "plain.c", due)); err != nil {
		t.Fatal(err)
	}
	if cr, err := n.Cancel(reqCtx(t), "c", shard.CallOptions{}); err != nil || !cr.Cancelled {
		t.Fatalf("cancel: %+v, %v", cr, err)
	}
	if _, err := n.Get(reqCtx(t), "c", 0); codeOf(err) != api.CodeNotFound {
		t.Fatalf("get after cancel: %v, want 404", err)
	}
	if _, err := n.Schedule(reqCtx(t), oneShot("t", "plain.t", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if tr, err := n.Trigger(reqCtx(t), "t"); err != nil || tr.Fire != 1 {
		t.Fatalf("trigger: %+v, %v", tr, err)
	}
	if _, err := n.Schedule(reqCtx(t), oneShot("j", "js.j", due)); err != nil {
		t.Fatal(err)
	}

	nodetest.Eventually(t, 10*time.Second, func() error {
		for _, id := range []string{"a", "t", "j"} {
			if len(pub.firesOf(id)) == 0 {
				return fmt.Errorf("%s has not fired", id)
			}
		}
		return nil
	})
	for _, id := range []string{"a", "j"} {
		f := pub.firesOf(id)[0]
		if f.at.Before(due) || !f.due.Equal(due) || f.msgID != api.MsgID(id, due.UnixNano()) {
			t.Errorf("fire of %s: sent at %v (due %v), Timer-Due %v, Nats-Msg-Id %q", id, f.at, due, f.due, f.msgID)
		}
		if lag := f.at.Sub(due); lag > 2*time.Second {
			t.Errorf("fire of %s %v late", id, lag)
		}
	}
	if f := pub.firesOf("c"); len(f) != 0 {
		t.Errorf("the cancelled timer fired: %+v", f)
	}
	// The fired one-shot is covered by its shard's mark.
	sh := n.ShardOf("a")
	nodetest.Eventually(t, 10*time.Second, func() error {
		m, err := mem.ReadMark(reqCtx(t), sh)
		if err != nil || m.Through < due.UnixNano() || m.Seq < r.Revision {
			return fmt.Errorf("mark of shard %d: %+v, %v; want through %d, seq >= %d", sh, m, err, due.UnixNano(), r.Revision)
		}
		return nil
	})
	if _, err := n.Get(reqCtx(t), "a", 0); codeOf(err) != api.CodeNotFound {
		t.Fatalf("get of a fired one-shot: %v, want 404", err)
	}

	closeNode(t, n)
	if n.Ready() {
		t.Error("Ready after Close")
	}
	ls, _, _ = mem.Leases(reqCtx(t))
	for s := range shards {
		if ls[s].Node != "" || ls[s].From != "solo" {
			t.Errorf("lease of shard %d after Close: %+v, want released by solo", s, ls[s])
		}
	}
	if ms, _ := mem.Members(reqCtx(t)); len(ms) != 0 {
		t.Errorf("registry after Close: %+v", ms)
	}
	if _, err := n.Get(reqCtx(t), "t", 0); err == nil {
		t.Error("a closed node answered get")
	}
}

// A fire that fails is retried until it goes out; one that fails for good
// MaxFireTries times is set aside (state failed) and no longer retried.
func TestNodeFireFailures(t *testing.T) {
	mem := store.NewMem(4)
	defer mem.Close()
	pub := newFakePub(t, time.Millisecond)
	flaky := errors.New("fake: try again")
	pub.setFail(func(msgID string, try int) error {
		switch {
		case strings.HasPrefix(msgID, "timerd.flaky") && try <= 2:
			return flaky
		case strings.HasPrefix(msgID, "timerd.doomed"):
			return errPermanent
		}
		return nil
	})
	cfg := testConfig("n")
	cfg.MaxFireTries = 3
	n := startNode(t, cfg, mem, pub)
	due := time.Now().Add(50 * time.Millisecond)
	for _, id := range []string{"flaky-plain", "flaky-js", "doomed-plain", "doomed-js"} {
		subject := "plain." + id
		if strings.HasSuffix(id, "js") {
			subject = "js." + id
		}
		if _, err := n.Schedule(reqCtx(t), oneShot(id, subject, due)); err != nil {
			t.Fatal(err)
		}
	}
	nodetest.Eventually(t, 20*time.Second, func() error {
		for _, id := range []string{"flaky-plain", "flaky-js"} {
			if f := pub.firesOf(id); len(f) != 1 {
				return fmt.Errorf("%s published %d times, want once after two failures", id, len(f))
			}
		}
		for _, id := range []string{"doomed-plain", "doomed-js"} {
			tm, err := n.Get(reqCtx(t), id, 0)
			if err != nil || tm.State != "failed" {
				return fmt.Errorf("%s: %+v, %v; want set aside", id, tm, err)
			}
		}
		return nil
	})
	tries := func() int {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.tries[api.MsgID("doomed-plain", due.UnixNano())]
	}
	before := tries()
	if before != cfg.MaxFireTries {
		t.Errorf("a permanently failing fire was tried %d times, want MaxFireTries %d", before, cfg.MaxFireTries)
	}
	if st := n.Stats(reqCtx(t)); st.Failed != 2 {
		t.Errorf("stats: %d failed, want 2", st.Failed)
	}
	if r, err := n.Resume(reqCtx(t), "doomed-plain", shard.CallOptions{}); err != nil || r.State == "failed" {
		t.Errorf("resume of a set-aside timer: %+v, %v", r, err)
	}
}
