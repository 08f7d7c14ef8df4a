package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// runNATS starts a NATS server with JetStream in the test process, for
// timerd processes to join with --nats.
func runNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// joinNode starts `timerd serve --nats url --node name` without waiting.
func joinNode(t *testing.T, url, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(timerdBinary(t), "serve", "--nats", url, "--node", name, "--lease-ttl", "1s",
		"--mark-interval", "100ms", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // not waited for yet
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// servingNode is the node answering the API, "" when none does.
func servingNode(nc *nats.Conn) string {
	m, err := nc.Request("timerd.stats", nil, 500*time.Millisecond)
	if err != nil {
		return ""
	}
	var st api.Stats
	if json.Unmarshal(m.Data, &st) != nil || !st.Ready {
		return ""
	}
	return st.Node
}

func TestStandbyTakesOverAndStaleOwnerFences(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	url := runNATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a := joinNode(t, url, "a")
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := servingNode(nc); n != "a" {
			return fmt.Errorf("serving: %q", n)
		}
		return nil
	})
	b := joinNode(t, url, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HA", Subjects: []string{"ha.>"}, Duplicates: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(nc, client.WithTimeout(10*time.Second))
	const count = 400
	start := time.Now().Add(500 * time.Millisecond)
	var batch []client.Timer
	for i := range count {
		batch = append(batch, client.Timer{ID: fmt.Sprintf("h-%03d", i), Subject: "ha.x", At: start.Add(time.Duration(i) * 10 * time.Millisecond)})
	}
	if _, err := c.Batch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// While a holds the lease, b only stands by: every answer comes from a.
	for range 20 {
		if n := servingNode(nc); n != "a" {
			t.Fatalf("stats answered by %q while a holds the lease", n)
		}
	}
	stored := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	nodetest.Eventually(t, 20*time.Second, func() error {
		if n := stored(); n < 100 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	_ = a.Process.Kill() // kill -9 mid-run: b takes over once the lease lapses
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := stored(); n != count {
			return fmt.Errorf("%d of %d fires stored after the takeover", n, count)
		}
		return nil
	})
	if n := servingNode(nc); n != "b" {
		t.Fatalf("after the takeover %q serves", n)
	}

	// A paused owner (SIGSTOP) loses the lease; resumed, it must notice and
	// stop rather than fire beside the new owner.
	c2 := joinNode(t, url, "c")
	_ = b.Process.Signal(syscall.SIGSTOP)
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := servingNode(nc); n != "c" {
			return fmt.Errorf("serving: %q", n)
		}
		return nil
	})
	_ = b.Process.Signal(syscall.SIGCONT)
	exited := make(chan error, 1)
	go func() { exited <- b.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the stale owner exited 0; want a failure exit after losing its lease")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stale owner kept running after losing its lease")
	}
	if n := servingNode(nc); n != "c" {
		t.Fatalf("after the stale owner stopped, %q serves", n)
	}
	_ = c2
}
