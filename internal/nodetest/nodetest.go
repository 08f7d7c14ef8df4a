// Package nodetest runs a real timerd node in-process for tests, benchmarks
// and the bench and loadtest tools: an embedded nats-server with JetStream on
// 127.0.0.1 and a random port, file storage in a directory, the store, the
// node and the API service, wired as `timerd serve` wires them. It can
// restart the node (and the server) on the same data, as a clean restart
// would. Start is for tests (it fails the test and cleans up); Launch and
// Reopen are the same without a testing.TB.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/service"
)

// Options tune the node under test; zero values take the serve defaults.
type Options struct {
	Prefix        string
	MaxPayload    int
	MaxBatch      int
	AllowSubjects []string
	Shards        int
	MarkInterval  time.Duration
	KeepFired     time.Duration
	Horizon       time.Duration
	Logger        *slog.Logger
	// ServerMaxPayload sets the embedded server's max_payload (0: its default).
	ServerMaxPayload int32
}

// Node is a running node under test.
type Node struct {
	tb   testing.TB // nil when launched by a tool
	opts Options
	dir  string
	port int

	Server  *server.Server
	Conn    *nats.Conn // timerd's own connection
	Store   *jetstream.Store
	Fires   *jetstream.FirePublisher
	Node    *node.Node
	Service *service.Service
}

// Start starts a node and registers its clean stop with tb.Cleanup.
func Start(tb testing.TB, opts Options) *Node {
	tb.Helper()
	return StartIn(tb, tb.TempDir(), opts)
}

// StartIn is Start on the data in dir (which may hold an existing store).
func StartIn(tb testing.TB, dir string, opts Options) *Node {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Launch(ctx, dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	n.tb = tb
	tb.Cleanup(n.Stop)
	return n
}

// Launch starts a node storing under dir, on a free port; the caller stops it.
func Launch(ctx context.Context, dir string, opts Options) (*Node, error) {
	n := &Node{opts: opts, dir: dir}
	if err := n.start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// URL is the NATS URL clients connect to.
func (n *Node) URL() string { return n.Server.ClientURL() }

// Connect opens a client connection, closed at cleanup.
func (n *Node) Connect() *nats.Conn {
	n.tb.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		n.tb.Fatal(err)
	}
	n.tb.Cleanup(nc.Close)
	return nc
}

func (n *Node) start(ctx context.Context) error {
	log := n.opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		if os.Getenv("TIMERD_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	listen := "127.0.0.1:0"
	if n.port != 0 {
		listen = fmt.Sprintf("127.0.0.1:%d", n.port) // a restart keeps the clients' URL
	}
	ns, err := jetstream.StartEmbedded(context.Background(), jetstream.EmbeddedConfig{Listen: listen, DataDir: n.dir, Name: "nodetest", MaxPayload: n.opts.ServerMaxPayload})
	if err != nil {
		return err
	}
	n.Server = ns
	n.port = ns.Addr().(*net.TCPAddr).Port
	fail := func(err error) error { n.Stop(); return err }
	n.Conn, err = nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("timerd nodetest"))
	if err != nil {
		return fail(err)
	}
	shards := n.opts.Shards
	if shards == 0 {
		shards = 64
	}
	prefix := n.opts.Prefix
	if prefix == "" {
		prefix = "timerd"
	}
	if n.Store, err = jetstream.OpenStore(ctx, n.Conn, jetstream.StoreConfig{Bucket: prefix, Shards: shards, Logger: log}); err != nil {
		return fail(err)
	}
	if n.Fires, err = jetstream.NewFirePublisher(ctx, n.Conn, 8192, log); err != nil {
		return fail(err)
	}
	metrics := node.NewMetrics(prometheus.NewRegistry())
	n.Node = node.New(node.Config{Name: "nodetest", MarkInterval: n.opts.MarkInterval, KeepFired: n.opts.KeepFired,
		Horizon: n.opts.Horizon, Logger: log, Metrics: metrics}, n.Store, n.Fires)
	if err := n.Node.Start(ctx); err != nil {
		return fail(err)
	}
	n.Service, err = service.Start(n.Conn, n.Node, service.Config{Prefix: prefix, MaxPayload: n.opts.MaxPayload,
		MaxBatch: n.opts.MaxBatch, AllowSubjects: n.opts.AllowSubjects, Logger: log, Metrics: metrics})
	if err != nil {
		return fail(err)
	}
	return nil
}

// Stop shuts the node down cleanly, as SIGTERM does. Stopping twice is fine.
func (n *Node) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.Service != nil {
		_ = n.Service.Stop(ctx)
		n.Service = nil
	}
	if n.Node != nil {
		_ = n.Node.Close(ctx)
		n.Node = nil
	}
	if n.Fires != nil {
		n.Fires.Close()
		n.Fires = nil
	}
	if n.Store != nil {
		n.Store.Close()
		n.Store = nil
	}
	if n.Conn != nil {
		n.Conn.Close()
		n.Conn = nil
	}
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
		n.Server = nil
	}
}

// RestartWith is Restart with other options (a smaller server, say).
func (n *Node) RestartWith(opts Options) {
	n.tb.Helper()
	n.opts = opts
	n.Restart()
}

// Restart stops the node cleanly and starts it again on the same data and
// port; clients reconnect on their own.
func (n *Node) Restart() {
	n.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.Reopen(ctx); err != nil {
		n.tb.Fatal(err)
	}
}

// Reopen is Restart for tools: it returns when the node is ready again.
func (n *Node) Reopen(ctx context.Context) error {
	n.Stop()
	return n.start(ctx)
}

// Eventually polls fn every 10ms until it returns nil or total passes, then
// fails the test with fn's last error.
func Eventually(tb testing.TB, total time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
