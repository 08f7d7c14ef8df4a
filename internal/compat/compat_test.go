package compat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// TestLoadsBucketV1 loads a bucket written by timerd at commit 1654dd6 (the
// single-node store before the shard core): 50 far one-shots with kept
// headers, 20 cancelled ones, a replaced one, a cron timer in Europe/Berlin,
// an ISO 8601 repeat, an @every timer that reached its max fires, a paused
// one-shot and a paused cron timer, and 10 one-shots that fired and are
// covered by their shard's mark. testdata/bucket-v1.json is what `list`
// answered right before that node stopped.
func TestLoadsBucketV1(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", "testdata/bucket-v1.tar.gz", "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v %s", err, out)
	}
	var want []api.Timer
	data, err := os.ReadFile("testdata/bucket-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	n := nodetest.StartIn(t, dir, nodetest.Options{})
	nc := n.Connect()
	fires, err := nc.SubscribeSync("fx.>")
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(nc)
	ctx := context.Background()
	var got []api.Timer
	if err := c.ListAll(ctx, "", func(tm api.Timer) error { got = append(got, tm); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d timers, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.ID == "paused-cron" {
			// Its next occurrence is the next midnight after now.
			w.Next, g.Next = "", ""
		}
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		if string(wj) != string(gj) {
			t.Errorf("timer %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
	for _, id := range []string{"gone-a", "fired-a"} {
		if _, err := c.Get(ctx, id); !client.IsNotFound(err) {
			t.Errorf("get %s: %v, want not found", id, err)
		}
	}
	// Nothing is due: the fired one-shots are covered by their marks and
	// every-done reached its max fires. Watch a few mark intervals.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := fires.NextMsg(1500 * time.Millisecond); err == nil {
		t.Fatalf("unexpected fire on %s: %s %v", m.Subject, m.Data, m.Header)
	} else if err != nats.ErrTimeout {
		t.Fatal(err)
	}
	// The loaded timers can be changed: the bucket is live, not read-only.
	if _, err := c.Cancel(ctx, "far-aa"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resume(ctx, "paused-once"); err != nil {
		t.Fatal(err)
	}
}
