package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// A timer stored under a server that took its size, and due when the
// server allows less (restarted with a smaller max_payload), cannot be
// published: it is set aside (state failed, why in get), counted in stats,
// never retried forever, and neither the connection nor the other timers
// of its shard suffer: they fire, and the shard's mark moves on.
func TestUnpublishableTimerIsSetAside(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{MaxPayload: 1 << 20, MarkInterval: 100 * time.Millisecond, Shards: 1})
	nc := n.Connect()
	fires := subscribe(t, nc, "poison.>")
	c := client.New(nc, client.WithTimeout(10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Schedule(ctx, client.Timer{ID: "big", Subject: "poison.big", In: 3 * time.Second, Data: make([]byte, 200<<10)}); err != nil {
		t.Fatal(err)
	}
	n.RestartWith(nodetest.Options{MaxPayload: 1 << 20, MarkInterval: 100 * time.Millisecond, Shards: 1, ServerMaxPayload: 64 << 10})
	for i := range 5 {
		if _, err := c.Schedule(ctx, client.Timer{ID: fmt.Sprint("small-", i), Subject: "poison.small", In: 4 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if m := receive(t, fires, 20*time.Second); m.Subject != "poison.small" {
			t.Fatalf("fired %s", m.Subject)
		}
	}
	nodetest.Eventually(t, 20*time.Second, func() error {
		got, err := c.Get(ctx, "big")
		if err != nil {
			return err
		}
		if got.State != api.StateFailed || !strings.Contains(got.Failed, "max payload") {
			return fmt.Errorf("big: state %q failed %q", got.State, got.Failed)
		}
		return nil
	})
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 1 || !n.Conn.IsConnected() {
		t.Fatalf("stats failed=%d, connected %v", st.Failed, n.Conn.IsConnected())
	}
	// Set aside for good: a restart keeps it failed and fires nothing.
	n.Restart()
	if got, err := c.Get(ctx, "big"); err != nil || got.State != api.StateFailed {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	select {
	case m := <-fires:
		t.Fatalf("fired after restart: %s", m.Subject)
	case <-time.After(time.Second):
	}
	// The shard's mark moved past the small timers' due times: the failed
	// timer does not hold it back (a mark stuck behind it would make every
	// restart fire the small ones again).
	nodetest.Eventually(t, 20*time.Second, func() error {
		m, err := n.Store.ReadMark(ctx, 0)
		if err != nil {
			return err
		}
		if since := time.Since(time.Unix(0, m.Through)); since > 5*time.Second {
			return fmt.Errorf("mark through %s, %v ago", time.Unix(0, m.Through).UTC(), since)
		}
		return nil
	})
}

// Order-timeout cancellation: after many timers are scheduled and cancelled
// (with long-lived ones stored among them, which pin purges by prefix), the
// bucket comes back to O(live timers) records, and a restart with it.
func TestCancelledTimersLeaveTheStore(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{MarkInterval: 50 * time.Millisecond, Shards: 8})
	c := client.New(n.Connect(), client.WithTimeout(20*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const live, churn = 64, 6000
	var yearly []client.Timer
	for i := range live {
		yearly = append(yearly, client.Timer{ID: fmt.Sprint("yearly-", i), Subject: "gc.yearly", Cron: "@yearly"})
	}
	if _, err := c.Batch(ctx, yearly); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < churn; b += 500 {
		var batch []client.Timer
		for i := b; i < b+500; i++ {
			batch = append(batch, client.Timer{ID: fmt.Sprint("order-", i), Subject: "gc.order", In: time.Hour})
		}
		if _, err := c.Batch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i := b; i < b+500; i++ { // one request each: the worst case for records
			if _, err := c.Cancel(ctx, fmt.Sprint("order-", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	in, _ := n.Store.Info(ctx)
	t.Logf("after %d scheduled and cancelled: %d messages", churn, in.Records)
	// Live records, plus per shard a mark, a lease and at most a few
	// records not yet purged; plus cfg and the node's registration.
	bound := uint64(live + 8*4 + 2)
	nodetest.Eventually(t, 60*time.Second, func() error {
		in, err := n.Store.Info(ctx)
		if err != nil {
			return err
		}
		if in.Records > bound {
			return fmt.Errorf("%d messages in the bucket, want at most %d", in.Records, bound)
		}
		return nil
	})
	n.Restart()
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Timers != live {
		t.Fatalf("after restart %d timers, want %d", st.Timers, live)
	}
}
