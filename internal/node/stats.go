package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// lagWindow keeps the most recent fire lags for stats.
type lagWindow struct {
	mu      sync.Mutex
	samples [4096]time.Duration
	next    int
	count   uint64
}

func (w *lagWindow) add(d time.Duration) {
	w.mu.Lock()
	w.samples[w.next] = d
	w.next = (w.next + 1) % len(w.samples)
	w.count++
	w.mu.Unlock()
}

func (w *lagWindow) summary() api.LagStats {
	w.mu.Lock()
	k := int(min(w.count, uint64(len(w.samples))))
	s := slices.Clone(w.samples[:k])
	count := w.count
	w.mu.Unlock()
	if k == 0 {
		return api.LagStats{}
	}
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return api.LagStats{Count: count, P50Ms: ms(s[k/2]), P99Ms: ms(s[k*99/100]), MaxMs: ms(s[k-1])}
}

// Stats answers this node's figures: counts summed over the shards it
// serves (each shard's kept as it goes: no walk over timers), the
// registry as seen here, and the store's size.
func (n *Node) Stats(ctx context.Context) api.Stats {
	s := api.Stats{Node: n.cfg.Name, Version: n.cfg.Version, Ready: n.Ready(), Healthy: n.Healthy(), Shards: len(n.shards),
		Lag: n.lag.summary(), ByKind: map[string]int64{}}
	for _, d := range n.shards {
		d.mu.Lock()
		c := d.core
		if c == nil || d.state != serving && d.state != leaving {
			d.mu.Unlock()
			continue
		}
		cs := c.Counts()
		d.mu.Unlock()
		s.OwnedShards = append(s.OwnedShards, d.id)
		s.Timers += cs.Timers
		s.Paused += cs.Paused
		s.Failed += cs.Failed
		s.InFlight += cs.Firing
		s.Fired += cs.Fires
		s.Created += cs.Created
		s.Cancelled += cs.Cancelled
		s.Store.Records += uint64(cs.Records)
		for k, v := range cs.ByKind {
			if v != 0 {
				s.ByKind[record.Kind(k).String()] += v
			}
		}
		for t, v := range cs.ByTenant {
			if s.Tenants == nil {
				s.Tenants = map[string]int64{}
			}
			s.Tenants[t] += v
		}
	}
	s.Scheduled = s.Timers - s.Paused - s.Failed
	n.wheelMu.Lock()
	s.InWheel = int64(n.wheel.Len())
	n.wheelMu.Unlock()
	s.Nodes = n.nodeStats()
	s.Store.Bucket = n.store.Bucket()
	if w, ok := n.store.(interface{ Writes() uint64 }); ok {
		s.Store.Writes = w.Writes()
	}
	if in, err := n.store.Info(ctx); err == nil {
		s.Store.Records, s.Store.Bytes = in.Records, in.Bytes
	}
	return s
}

// nodeStats is the registry as this node sees it.
func (n *Node) nodeStats() []api.NodeStats {
	v := n.snapshot()
	held := map[string]int{}
	for _, l := range v.leases {
		if l.Node != "" {
			held[l.Node]++
		}
	}
	out := make([]api.NodeStats, 0, len(v.peers))
	for name, p := range v.peers {
		out = append(out, api.NodeStats{Name: name, Health: n.healthOf(&p, v.now).String(), Shards: held[name],
			Version: p.m.Version, HTTP: p.m.HTTP, Started: api.FormatTime(time.Unix(0, p.m.Started)),
			LastBeatAgoMs: (v.now - p.seen) / 1e6})
	}
	slices.SortFunc(out, func(a, b api.NodeStats) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// Owners is, for each shard, the node holding its lease ("" when none).
func (n *Node) Owners() []string {
	v := n.snapshot()
	out := make([]string, len(v.leases))
	for i, l := range v.leases {
		out[i] = l.Node
	}
	return out
}

// Metrics are the node's Prometheus metrics.
type Metrics struct {
	fired      prometheus.Counter
	fireErrors prometheus.Counter
	fireLag    prometheus.Histogram
	setAside   prometheus.Counter
	skipped    prometheus.Counter
	takeovers  prometheus.Counter
	handoffs   prometheus.Counter
	forwarded  prometheus.Counter
	healthy    prometheus.Gauge
}

// NewMetrics registers the node's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		fired:      prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_fires_total", Help: "Occurrences fired and acknowledged."}),
		fireErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_fire_errors_total", Help: "Fire attempts that failed (retried, or set aside)."}),
		fireLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "timerd_fire_lag_seconds",
			Help:    "Fire publish time minus due time (jitter included in due).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}),
		setAside:  prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_set_aside_total", Help: "Timers set aside because a fire could not be published."}),
		skipped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_records_skipped_total", Help: "Stored records that could not be read and were skipped (--skip-corrupt)."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_lease_takeovers_total", Help: "Shards this node took from a lost node."}),
		handoffs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_handoffs_total", Help: "Shards this node handed to another node (join, leave)."}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_requests_forwarded_total", Help: "Requests this node handed to the shard's owner."}),
		healthy:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "timerd_healthy", Help: "1 while this node's heartbeat is stored (it fires and answers)."}),
	}
	reg.MustRegister(m.fired, m.fireErrors, m.fireLag, m.setAside, m.skipped, m.takeovers, m.handoffs, m.forwarded, m.healthy)
	return m
}

// Forwarded counts a request handed to another node.
func (m *Metrics) Forwarded() {
	if m != nil {
		m.forwarded.Inc()
	}
}

// Bind registers gauges that read n at scrape time.
func (m *Metrics) Bind(reg prometheus.Registerer, n *Node) {
	stats := func() api.Stats { return n.Stats(context.Background()) }
	gauge := func(name, help string, f func(api.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	reg.MustRegister(
		gauge("timerd_timers", "Timers held by this node (scheduled, paused and failed).", func(s api.Stats) float64 { return float64(s.Timers) }),
		gauge("timerd_fire_lag_p99_seconds", "p99 fire lag over the last 4096 fires.", func(s api.Stats) float64 { return s.Lag.P99Ms / 1000 }),
		gauge("timerd_timers_in_wheel", "Entries on this node's timing wheel.", func(s api.Stats) float64 { return float64(s.InWheel) }),
		gauge("timerd_fires_in_flight", "Fires handed out and not yet acknowledged.", func(s api.Stats) float64 { return float64(s.InFlight) }),
		gauge("timerd_timers_failed", "Timers set aside: a fire could not be published.", func(s api.Stats) float64 { return float64(s.Failed) }),
		gauge("timerd_shards_owned", "Shards this node serves.", func(s api.Stats) float64 { return float64(len(s.OwnedShards)) }),
		gauge("timerd_store_records", "Messages in the timers' bucket.", func(s api.Stats) float64 { return float64(s.Store.Records) }),
		gauge("timerd_ready", "1 when the node has loaded its shards and fires on time.", func(s api.Stats) float64 { return b2f(s.Ready) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "timerd_store_writes_total", Help: "JetStream messages and requests written by the store."},
			func() float64 { return float64(stats().Store.Writes) }),
		nodesCollector{n},
	)
}

// nodesCollector exports timerd_nodes{health}: the registry as seen here.
type nodesCollector struct{ n *Node }

var nodesDesc = prometheus.NewDesc("timerd_nodes", "Nodes of the registry by health as this node sees them.", []string{"health"}, nil)

func (c nodesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nodesDesc }

func (c nodesCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{"normal": 0, "weak": 0, "lost": 0}
	for _, ns := range c.n.nodeStats() {
		counts[ns.Health]++
	}
	for h, k := range counts {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(k), h)
	}
}
