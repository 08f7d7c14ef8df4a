package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/service"
)

// serveConfig is everything `timerd serve` takes.
type serveConfig struct {
	listen, data, natsURL, httpAddr, nodeName, prefix, logLevel       string
	allow, rules, tenantPrefix, operatorAccount                       string
	maxPayload, maxBatch, shards, replicas                            int
	keepFired, tick, markInterval, shutdownTimeout, leaseTTL, horizon time.Duration
	heartbeat                                                         time.Duration
	skipCorrupt, recreateBucket                                       bool

	natsAuth    // how timerd connects: to --nats, or to its embedded server
	serveExtras // serve_flags.go: the embedded server's security, logs, pprof
}

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", jetstream.DefaultListen, "embedded NATS: client address (host:port; port 0 picks one); beyond loopback it needs authentication or --insecure")
	fs.StringVar(&c.data, "data", "./timerd-data", "embedded NATS: JetStream storage directory (unless --nats-config sets store_dir); also keeps the node name")
	fs.StringVar(&c.natsURL, "nats", "", "join an existing NATS system at URL[,URL] instead of embedding one")
	fs.StringVar(&c.httpAddr, "http", "", "serve the status page at /, and /healthz, /readyz and /metrics, on this address (e.g. 127.0.0.1:8080)")
	fs.StringVar(&c.nodeName, "node", "", "node name, unique among live nodes; a node restarted under its name takes its shards back at once (default: host name plus a random suffix, kept in --data when NATS is embedded)")
	fs.StringVar(&c.prefix, "api-prefix", api.DefaultPrefix, "API subject prefix; also names the KV bucket")
	fs.StringVar(&c.allow, "allow-subjects", ">", "comma-separated subject filters the operator's fires may be published to (requests that cross no account import; tenants: --rules)")
	fs.StringVar(&c.rules, "rules", "", "tenants' rules file (JSON): per account and user, the fire subjects allowed and limits; reloaded on SIGHUP (docs/security.md)")
	fs.StringVar(&c.tenantPrefix, "tenant-prefix", "tenants", "a tenant's fires go to <prefix>.<account>.<subject> in timerd's account: export each account's part to it")
	fs.StringVar(&c.operatorAccount, "operator-account", "", "timerd's own account: requests that name it in Nats-Request-Info are the operator's")
	fs.IntVar(&c.maxPayload, "max-payload", api.DefaultPayload, "largest timer payload in bytes")
	fs.IntVar(&c.maxBatch, "max-batch", api.DefaultMaxBatch, "most timers in one batch request")
	fs.IntVar(&c.shards, "shards", 256, "shard count, used only when the bucket is first created (shards are what nodes share)")
	fs.IntVar(&c.replicas, "replicas", 1, "KV bucket replicas when it is first created (3 on a NATS cluster)")
	fs.DurationVar(&c.keepFired, "keep-fired", 30*time.Second, "how long a fired one-shot is remembered for idempotent retries")
	fs.DurationVar(&c.tick, "tick", time.Millisecond, "timing wheel resolution")
	fs.DurationVar(&c.horizon, "horizon", time.Hour, "one-shots due further ahead keep only a compact index entry in memory and are read back from the store before they are due (-1s: keep all loaded)")
	fs.DurationVar(&c.markInterval, "mark-interval", time.Second, "how often progress is recorded and dead records purged")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", 4*time.Second, "a node silent this long is lost and its shards are taken over; a node whose own heartbeat fails for half of it stops firing")
	fs.DurationVar(&c.heartbeat, "heartbeat", time.Second, "how often a node writes its registration")
	fs.BoolVar(&c.skipCorrupt, "skip-corrupt", false, "load despite stored records that cannot be read, skipping them (their count is logged and in timerd_records_skipped_total)")
	fs.BoolVar(&c.recreateBucket, "recreate-bucket", false, "embedded NATS: start even though --data shows the timers' bucket existed and it is gone (begins empty)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 4*time.Second, "longest a clean shutdown waits for requests and fires in flight")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	registerServeExtras(fs, c)
	return fs, c
}

func serve(args []string, stderr io.Writer) int {
	c, log, code := parseServe(args, stderr, os.Getenv, os.ReadFile)
	if c == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	go func() { // a signal always ends the process within --shutdown-timeout
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		select {
		case <-done:
		case <-time.After(c.shutdownTimeout + time.Second):
			log.Error("shutdown did not finish within --shutdown-timeout; exiting anyway (a restart repeats what was in flight, deduplicated by Nats-Msg-Id)", "shutdown_timeout", c.shutdownTimeout)
			os.Exit(1)
		}
	}()
	if err := runNode(ctx, c, log); err != nil {
		log.Error("timerd stopped", "err", err)
		return 1
	}
	return 0
}

// runNode runs a node until ctx ends, then shuts it down in order: the API
// stops taking requests, fires in flight finish, progress is flushed.
func runNode(ctx context.Context, c *serveConfig, log *slog.Logger) error {
	if c.nodeName == "" {
		name, err := defaultNodeName(c)
		if err != nil {
			return err
		}
		c.nodeName = name
	}
	log = log.With("node", c.nodeName)
	cleanStop := false // every request and fire finished and was recorded
	var ns *server.Server
	var nc *nats.Conn
	var err error
	if c.natsURL == "" {
		ns, err = jetstream.StartEmbedded(ctx, c.embeddedConfig(log))
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		nc, err = connectEmbedded(c, ns)
	} else {
		nc, err = connectExternal(c, log)
	}
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	// nats.go closes a connection for good when the server refuses it or
	// reconnecting is given up: timerd must then exit, not linger.
	connClosed := make(chan struct{})
	var closeOnce sync.Once
	nc.SetClosedHandler(func(*nats.Conn) { closeOnce.Do(func() { close(connClosed) }) })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var nd atomic.Pointer[node.Node]
	if c.httpAddr != "" {
		page, pageLog, err := startStatusPage(c, nc, reg, &nd, log) // serve_page.go: the page at /
		if err != nil {
			return err
		}
		defer page.Close()
		log = pageLog
		stopHTTP, err := serveHTTP(c.httpAddr, reg, func() bool { n := nd.Load(); return n != nil && n.Ready() && nc.IsConnected() }, c.pprof, log, page)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}

	bucket := bucketName(c.prefix)
	known := ns != nil && bucketKnown(c.data, bucket)
	// Opening the bucket waits for NATS as long as it takes (a NATS
	// cluster without a meta leader, a stream electing one), saying so
	// every 10 s; SIGTERM ends the wait.
	store, err := jetstream.OpenStore(ctx, nc, jetstream.StoreConfig{
		Bucket: bucket, Shards: c.shards, Replicas: c.replicas, Logger: log,
		MustExist: known && !c.recreateBucket, SkipCorrupt: c.skipCorrupt, LegacyLeaseTTL: 5 * time.Second,
	})
	if err != nil && ctx.Err() != nil {
		log.Info("stopped while waiting for NATS to open the timers' bucket", "last_err", err)
		return nil
	}
	if errors.Is(err, jetstream.ErrNoBucket) {
		return fmt.Errorf("%w: --data %q held it before; timerd will not start on an empty bucket silently (restore the data, or start with --recreate-bucket to begin empty)", err, c.data)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ns != nil {
		stopMemo, err := checkMemo(openCtx, c, bucket, store, log, c.recreateBucket)
		if err != nil {
			return err
		}
		defer func() { stopMemo(cleanStop) }()
	}
	fires, err := jetstream.NewFirePublisher(openCtx, nc, 8192, log)
	if err != nil {
		return err
	}
	defer fires.Close()
	metrics := node.NewMetrics(reg)
	n := node.New(node.Config{Name: c.nodeName, Version: version, HTTP: c.httpAddr, Tick: c.tick, MarkInterval: c.markInterval,
		KeepFired: c.keepFired, Horizon: c.horizon, Heartbeat: c.heartbeat, NodeTTL: c.leaseTTL,
		Logger: log, Metrics: metrics}, store, fires)
	if err := n.Start(ctx); err != nil {
		return err
	}
	metrics.Bind(reg, n)
	nd.Store(n)
	var rules *service.Rules
	if c.rules != "" {
		if rules, err = service.LoadRules(c.rules); err != nil {
			_ = n.Close(context.Background())
			return err
		}
	}
	svc, err := service.Start(nc, n, service.Config{Prefix: c.prefix, MaxPayload: c.maxPayload, MaxBatch: c.maxBatch,
		AllowSubjects: splitList(c.allow), Version: version, Logger: log, Metrics: metrics,
		Rules: rules, TenantPrefix: c.tenantPrefix, OperatorAccount: c.operatorAccount})
	if err != nil {
		_ = n.Close(context.Background())
		return err
	}
	where := c.natsURL
	if ns != nil {
		where = ns.ClientURL() + " (embedded, data " + c.data + ")"
	}
	log.Info("timerd ready", "nats", where, "api", c.prefix+".>", "bucket", store.Bucket(), "shards", store.Shards())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var fatal error
	for running := true; running; {
		select {
		case <-hup:
			reloadRules(c, svc, log)
		case <-ctx.Done():
			running = false
		case fatal = <-n.Fatal():
			running = false
			if nc.IsClosed() { // the node saw it first (its watch ended): say why
				fatal = fmt.Errorf("the connection to NATS was closed for good; nothing can fire: exiting so a supervisor restarts timerd (%w)", fatal)
			}
		case <-connClosed:
			fatal = errors.New("the connection to NATS was closed for good; nothing can fire: exiting so a supervisor restarts timerd")
			running = false
		}
	}
	log.Info("shutting down")
	down, cancelDown := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancelDown()
	errSvc := svc.Stop(down)
	errNode := n.Close(down)
	if err := nc.FlushWithContext(down); err != nil && !errors.Is(err, context.DeadlineExceeded) && fatal == nil {
		log.Warn("flush on shutdown", "err", err)
	}
	if err := errors.Join(errSvc, errNode); err != nil {
		log.Warn("shutdown was not clean; a restart repeats what was in flight (deduplicated by Nats-Msg-Id)", "err", err)
	} else {
		cleanStop = fatal == nil
	}
	log.Info("stopped")
	return fatal
}

// reloadRules reads --rules again (SIGHUP); a file that does not load
// leaves the rules in force.
func reloadRules(c *serveConfig, svc *service.Service, log *slog.Logger) {
	if c.rules == "" {
		log.Info("SIGHUP: there is no --rules file to reload")
		return
	}
	r, err := service.LoadRules(c.rules)
	if err != nil {
		log.Error("reloading --rules failed; the rules in force stay", "err", err)
		return
	}
	svc.SetRules(r)
	log.Info("--rules reloaded", "file", c.rules)
}

// The embedded server's data directory remembers the bucket: that it
// existed (a missing bucket is then damage, not a first start) and the
// highest stream sequence seen (a stream that restarts shorter lost
// records: a truncated block).
type bucketMemo struct {
	LastSeq uint64 `json:"last_seq"`
	// Msgs and Clean: after a clean stop nothing changes the stream until
	// the next start, so the same last sequence with fewer messages means
	// the server lost some (it rebuilds a damaged block without them).
	Msgs  uint64 `json:"msgs"`
	Clean bool   `json:"clean,omitempty"`
}

func memoFile(data, bucket string) string { return filepath.Join(data, "timerd-bucket-"+bucket) }

// bucketKnown reports whether the data directory records that the bucket
// existed.
func bucketKnown(data, bucket string) bool {
	_, err := os.Stat(memoFile(data, bucket))
	return err == nil
}

func readMemo(data, bucket string) bucketMemo {
	var m bucketMemo
	if b, err := os.ReadFile(memoFile(data, bucket)); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func writeMemo(data, bucket string, m bucketMemo) error {
	if err := os.MkdirAll(data, 0o750); err != nil {
		return fmt.Errorf("--data %q: %w", data, err)
	}
	b, _ := json.Marshal(m)
	tmp := memoFile(data, bucket) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("--data %q: %w", data, err)
	}
	return os.Rename(tmp, memoFile(data, bucket))
}

// checkMemo compares the stream with what the data directory saw, and
// keeps the memo current until ctx ends.
func checkMemo(ctx context.Context, c *serveConfig, bucket string, store *jetstream.Store, log *slog.Logger, recreated bool) (func(clean bool), error) {
	in, err := store.Info(ctx)
	if err != nil {
		return nil, err
	}
	seen := readMemo(c.data, bucket)
	if recreated {
		seen = bucketMemo{}
	}
	var msg string
	switch {
	case in.LastSeq < seen.LastSeq:
		msg = fmt.Sprintf("the timers' stream ends at sequence %d, but --data %q saw it reach %d: %d records were lost (a truncated or replaced data block?)",
			in.LastSeq, c.data, seen.LastSeq, seen.LastSeq-in.LastSeq)
	case seen.Clean && in.LastSeq == seen.LastSeq && in.Records < seen.Msgs:
		msg = fmt.Sprintf("the timers' stream holds %d messages, but held %d when timerd stopped cleanly: %d were lost (the server rebuilt a damaged block without them)",
			in.Records, seen.Msgs, seen.Msgs-in.Records)
	}
	if msg != "" {
		if !c.skipCorrupt {
			return nil, errors.New(msg + "; start with --skip-corrupt to load what is left")
		}
		log.Error(msg + "; starting with what is left (--skip-corrupt)")
	}
	if err := writeMemo(c.data, bucket, bucketMemo{LastSeq: in.LastSeq, Msgs: in.Records}); err != nil {
		return nil, err
	}
	record := func(clean bool) {
		ictx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if in, err := store.Info(ictx); err == nil {
			if err := writeMemo(c.data, bucket, bucketMemo{LastSeq: in.LastSeq, Msgs: in.Records, Clean: clean}); err != nil {
				log.Warn("recording the stream's last sequence", "err", err)
			}
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by runNode: stopped by the returned func
		defer close(done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				record(false)
			}
		}
	}()
	return func(clean bool) { close(stop); <-done; record(clean) }, nil
}

func connectExternal(c *serveConfig, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("timerd " + c.nodeName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrl()) }),
	}
	auth, err := c.options()
	if err != nil {
		return nil, err
	}
	return nats.Connect(c.natsURL, append(opts, auth...)...)
}

// serveHTTP serves /healthz (the process is up), /readyz (ready to fire on
// time), /metrics, with pprof /debug/pprof/, and the status page at / and
// what the other paths leave; the returned func stops it.
func serveHTTP(addr string, reg *prometheus.Registry, ready func() bool, pprof bool, log *slog.Logger, page http.Handler) (func(), error) {
	mux := http.NewServeMux()
	if page != nil {
		mux.Handle("/", page)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: loading timers or NATS unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if pprof {
		mountPprof(mux)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("http listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// bucketName derives the KV bucket from the API prefix, so two deployments
// with different prefixes on one NATS system keep apart.
func bucketName(prefix string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, prefix)
}

// defaultNodeName is the host name plus a random suffix. With the embedded
// server it is kept in the data directory, so a restart on the same data is
// the same node and takes its lease back without waiting.
func defaultNodeName(c *serveConfig) (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "timerd"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := host + "-" + hex.EncodeToString(b)
	if c.natsURL != "" {
		return name, nil
	}
	file := filepath.Join(c.data, "timerd-node-name")
	if saved, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(saved))) > 0 {
		return strings.TrimSpace(string(saved)), nil
	}
	if err := os.MkdirAll(c.data, 0o750); err != nil {
		return "", fmt.Errorf("--data %q: %w", c.data, err)
	}
	if err := os.WriteFile(file, []byte(name+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("--data %q: %w", c.data, err)
	}
	return name, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
