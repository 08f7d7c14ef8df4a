package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

func TestCleanRestartKeepsTimers(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "rs.>")
	far := schedule(t, nc, map[string]string{"Timer-At": "2031-05-06T07:08:09Z", "Timer-Subject": "rs.far", "Timer-Id": "far", "X-H": "kept"}, "far payload")
	near := schedule(t, nc, map[string]string{"Timer-In": "1500ms", "Timer-Subject": "rs.near", "Timer-Id": "near"}, "near")
	schedule(t, nc, map[string]string{"Timer-In": "1h", "Timer-Subject": "rs.x", "Timer-Id": "paused"}, "")
	var paused api.Timer
	ok(t, call(t, nc, "pause", map[string]string{"Timer-Id": "paused"}, ""), &paused)
	schedule(t, nc, map[string]string{"Timer-In": "1h", "Timer-Subject": "rs.x", "Timer-Id": "cancelled"}, "")
	ok(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "cancelled"}, ""), &api.CancelReply{})

	n.Restart()

	var got api.Timer
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "far"}, ""), &got)
	if got.Revision != far.Revision || got.Next != far.Next || got.PayloadSize != len("far payload") || got.Headers["X-H"] != "kept" {
		t.Fatalf("far timer after restart: %+v (scheduled %+v)", got, far)
	}
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "paused"}, ""), &got)
	if got.State != "paused" || got.Revision != paused.Revision {
		t.Fatalf("paused timer after restart: %+v", got)
	}
	fails(t, call(t, nc, "get", map[string]string{"Timer-Id": "cancelled"}, ""), 404, "cancelled")
	m := receive(t, fires, 10*time.Second)
	if m.Header.Get("Timer-Id") != "near" || m.Header.Get("Timer-Due") != near.Next {
		t.Fatalf("after restart fired %v, want near at %s", m.Header, near.Next)
	}
}

// A stream with a duplicate window captures the fires: each occurrence is
// stored once, carries its dedup id, and a restart repeats none.
func TestFiresIntoDedupStreamOnce(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FIRES", Subjects: []string{"jsfire.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	core := subscribe(t, nc, "jsfire.>") // sees every publish, duplicates included
	const count = 300
	var items []api.BatchItem
	for i := range count {
		items = append(items, api.BatchItem{ID: fmt.Sprintf("d-%03d", i), Subject: fmt.Sprintf("jsfire.%d", i%7), In: fmt.Sprintf("%dms", 100+i)})
	}
	body, _ := jsonMarshal(items)
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, body), &res)
	for i, r := range res {
		if r.Error != "" {
			t.Fatalf("element %d: %s", i, r.Error)
		}
	}
	waitMsgs := func(want uint64) {
		nodetest.Eventually(t, 15*time.Second, func() error {
			info, err := stream.Info(ctx)
			if err != nil {
				return err
			}
			if info.State.Msgs != want {
				return fmt.Errorf("stream holds %d fires, want %d", info.State.Msgs, want)
			}
			return nil
		})
	}
	waitMsgs(count)
	n.Restart()
	// A sentinel scheduled after the restart fires after anything the
	// restart could repeat would have.
	schedule(t, nc, map[string]string{"Timer-In": "1500ms", "Timer-Subject": "jsfire.sentinel", "Timer-Id": "sentinel"}, "")
	waitMsgs(count + 1)
	// Every publish, before and after the restart, reached the core
	// subscriber: a clean restart must not have repeated any fire.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := len(core); got != count+1 {
		t.Fatalf("%d fires were published, want %d: a clean restart repeated fires", got, count+1)
	}
	seen := map[string]bool{}
	for seq := uint64(1); seq <= count+1; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get("Nats-Msg-Id")
		if id == "" || seen[id] {
			t.Fatalf("message %d: dedup id %q missing or repeated", seq, id)
		}
		seen[id] = true
	}
}
