package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// natsCluster is three nats-server processes with JetStream, routed to
// each other, each restartable on its own ports and store.
type natsCluster struct {
	t       *testing.T
	servers []*natsProc
}

// newNATSCluster is three nats-server processes routed to each other,
// none started; their names are prefix1..3.
func newNATSCluster(t *testing.T, prefix string) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t}
	routePorts := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range 3 {
		c.servers = append(c.servers, newNATSProc(t, fmt.Sprintf("%s%d", prefix, i+1), "--cluster_name", "timerd-"+prefix,
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]), "--routes", strings.Join(routes, ",")))
	}
	return c
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	c := newNATSCluster(t, "n")
	for _, s := range c.servers {
		s.start()
	}
	// JetStream is ready once a meta leader is elected.
	nc, err := nats.Connect(c.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nodetest.Eventually(t, 30*time.Second, func() error {
		js, err := nc.JetStream()
		if err != nil {
			return err
		}
		_, err = js.AccountInfo()
		return err
	})
	return c
}

func (c *natsCluster) start(i int) { c.servers[i].start() }

func (c *natsCluster) stop(i int) { c.servers[i].stop() }

func (c *natsCluster) urls() string {
	var us []string
	for _, s := range c.servers {
		us = append(us, s.url())
	}
	return strings.Join(us, ",")
}

// index of the server named name.
func (c *natsCluster) index(name string) int {
	for i, s := range c.servers {
		if s.name == name {
			return i
		}
	}
	c.t.Fatalf("no server %q", name)
	return -1
}

// Three timerd nodes on a three-server NATS cluster with R3 streams: a
// NATS server is killed and restarted, then the server leading the KV
// stream; every timer is stored exactly once and none early.
func TestNATSClusterServerFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes and a NATS cluster")
	}
	cl := startNATSCluster(t)
	nc, err := nats.Connect(cl.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range []string{"a", "b", "c"} {
		joinNode(t, cl.urls(), name, "--replicas", "3")
	}
	waitNodes(t, nc, "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Writes on a replicated bucket: four batches of 1,000 at once, as
	// `timerd batch` sends them. A shard's fenced writes must not trip over
	// each other (nats-server refuses a second one in process, 10164).
	c := client.New(nc, client.WithTimeout(30*time.Second))
	var wg sync.WaitGroup
	refused := make(chan string, 4000)
	for b := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []client.Timer
			for i := range 1000 {
				batch = append(batch, client.Timer{ID: fmt.Sprintf("later-%d-%d", b, i), Subject: "r3.later", In: time.Hour})
			}
			res, err := c.Batch(ctx, batch)
			if err != nil {
				refused <- err.Error()
				return
			}
			for _, r := range res {
				if r.Error != "" {
					refused <- r.Error
				}
			}
		}()
	}
	wg.Wait()
	close(refused)
	var errs []string
	for e := range refused {
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of 4000 timers refused on an R3 bucket, e.g. %s", len(errs), errs[0])
	}
	stream := dedupStream(t, ctx, nc, "R3FIRES", "r3.>", 3)
	fc := scheduleSpread(t, ctx, nc, stream, "r3", 4000, time.Now().Add(2*time.Second), 14*time.Second)

	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 400 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	cl.stop(1) // a NATS server goes down and comes back
	time.Sleep(2 * time.Second)
	cl.start(1)

	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 2000 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	var kvs string
	nodetest.Eventually(t, 30*time.Second, func() error {
		var err error
		kvs, err = jsStream(ctx, nc, "KV_timerd")
		return err
	})
	leader := cl.index(kvs)
	cl.stop(leader) // the server leading the timers' stream
	time.Sleep(2 * time.Second)
	cl.start(leader)

	worst := fc.verify(ctx, 90*time.Second)
	t.Logf("largest lag %v", worst)
}

// jsStream names the server leading stream name.
func jsStream(ctx context.Context, nc *nats.Conn, name string) (string, error) {
	js, err := nc.JetStream()
	if err != nil {
		return "", err
	}
	info, err := js.StreamInfo(name, nats.Context(ctx))
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader", name)
	}
	return info.Cluster.Leader, nil
}

// A node started while its NATS cluster has no JetStream quorum (one of
// three servers up) waits for it, saying so, instead of exiting; once the
// other servers are back it serves and fires.
func TestNodeWaitsForJetStreamQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes and a NATS cluster")
	}
	cl := newNATSCluster(t, "q")
	cl.start(0)
	m := joinNode(t, cl.servers[0].url(), "a", "--replicas", "3", "--log-level", "info")
	nodetest.Eventually(t, 30*time.Second, func() error {
		if m.exited() {
			t.Fatalf("timerd exited while JetStream had no quorum: %v", m.err)
		}
		if !m.log.logged("still trying") {
			return fmt.Errorf("no log of the wait yet")
		}
		return nil
	})
	cl.start(1)
	cl.start(2)
	nc, err := nats.Connect(cl.urls(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitNodes(t, nc, "a")
	if m.exited() {
		t.Fatalf("timerd exited: %v", m.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream := dedupStream(t, ctx, nc, "QFIRES", "q.>", 3)
	fc := scheduleSpread(t, ctx, nc, stream, "q", 20, time.Now().Add(time.Second), time.Second)
	fc.verify(ctx, 30*time.Second)
}

// SIGTERM ends a node's wait for JetStream at once, as a clean stop.
func TestNodeWaitingForJetStreamStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes and a NATS cluster")
	}
	lone := newNATSCluster(t, "w").servers[0]
	lone.start() // one server of three: no JetStream quorum
	m := joinNode(t, lone.url(), "a", "--replicas", "3", "--log-level", "info", "--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	nodetest.Eventually(t, 10*time.Second, func() error { // it serves HTTP before it opens the bucket
		if m.exited() {
			t.Fatalf("timerd exited while JetStream had no quorum: %v", m.err)
		}
		if !m.log.logged("http listening") {
			return fmt.Errorf("not started yet")
		}
		return nil
	})
	m.signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatal("timerd did not stop within 10 s of SIGTERM while waiting for JetStream")
	}
	if m.err != nil {
		t.Fatalf("timerd stopped with %v, want exit 0", m.err)
	}
	if !m.log.logged("stopped while waiting for NATS") {
		t.Fatal("no log of why it stopped")
	}
}
