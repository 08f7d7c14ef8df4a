package pipe

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/timerd/timerd/bench/embed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPipeline(t *testing.T) {
	ns, err := embed.StartNATS(t.TempDir(), 0, "pipe-test")
	if err != nil {
		t.Fatal(err)
	}
	defer embed.StopNATS(ns)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := nc.Subscribe("silent", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}

	p, err := New(nc, 3, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]error{}
	record := func(key string) func(*nats.Msg, error) {
		return func(m *nats.Msg, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil && string(m.Data) != key {
				err = errors.New("wrong reply " + string(m.Data))
			}
			got[key] = err
		}
	}
	ctx := context.Background()
	keys := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, k := range keys {
		if err := p.Send(ctx, &nats.Msg{Subject: "echo", Data: []byte(k)}, record(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Send(ctx, &nats.Msg{Subject: "nobody.here"}, record("none")); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, &nats.Msg{Subject: "silent"}, record("silent")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	for _, k := range keys {
		if got[k] != nil {
			t.Errorf("%s: %v", k, got[k])
		}
	}
	if !errors.Is(got["none"], ErrNoResponders) {
		t.Errorf("no responders: %v", got["none"])
	}
	if !errors.Is(got["silent"], ErrTimeout) {
		t.Errorf("silent: %v", got["silent"])
	}
	if err := p.Send(ctx, &nats.Msg{Subject: "echo"}, record("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}
