package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A long-lived timer in the oldest record must not keep the records of
// thousands of fired timers after it from being removed: whether it is
// loaded or, beyond the horizon, in the far tier. They go one by one, and
// the long-lived one's record stays as it was.
func TestDeadRecordsGoBehindLongLivedTimer(t *testing.T) {
	for _, horizon := range []time.Duration{-1, 10 * time.Minute} {
		t.Run(fmt.Sprintf("horizon=%v", horizon), func(t *testing.T) { deadRecordsGo(t, horizon) })
	}
}

func deadRecordsGo(t *testing.T, horizon time.Duration) {
	n := nodetest.Start(t, nodetest.Options{Shards: 1, MarkInterval: 50 * time.Millisecond, Horizon: horizon})
	c := client.New(n.Connect())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	long, err := c.Schedule(ctx, client.Timer{ID: "long", Subject: "gc.long", In: time.Hour, Data: []byte("keep me")})
	if err != nil {
		t.Fatal(err)
	}
	const short = 3000
	for i := range short { // one request at a time: one record each
		if _, err := c.Schedule(ctx, client.Timer{ID: fmt.Sprintf("s-%d", i), Subject: "gc.short", In: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	nodetest.Eventually(t, 30*time.Second, func() error {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Fired < short {
			return fmt.Errorf("%d of %d fired", st.Fired, short)
		}
		return nil
	})
	nodetest.Eventually(t, 30*time.Second, func() error {
		in, err := n.Store.Info(ctx)
		msgs := in.Records
		if err != nil {
			return err
		}
		// cfg, lease, mark, the node's registration and the live timer's
		// record, and maybe a few records that died in the last round.
		if msgs >= 5+64 {
			return fmt.Errorf("the bucket still holds %d messages after %d timers fired", msgs, short)
		}
		return nil
	})
	n.Restart()
	got, err := c.Get(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != long.Revision || got.Next != long.Next || got.PayloadSize != len("keep me") {
		t.Fatalf("after the purges and a restart: %+v, scheduled %+v", got, long)
	}
	if _, err := c.Get(ctx, "s-1"); !client.IsNotFound(err) {
		t.Fatalf("a fired timer came back after a restart: %v", err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantWheel := int64(1)
	if horizon > 0 {
		wantWheel = 0 // far: no wheel entry
	}
	if st.InWheel != wantWheel || st.Scheduled != 1 {
		t.Fatalf("stats %+v: want 1 scheduled, %d in the wheel", st, wantWheel)
	}
}
