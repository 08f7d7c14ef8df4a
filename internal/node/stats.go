package node

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/api"
)

// lagWindow keeps the most recent fire lags for the stats endpoint.
// Guarded by Node.mu.
type lagWindow struct {
	samples [4096]time.Duration
	next    int
	count   uint64
}

func (w *lagWindow) add(d time.Duration) {
	w.samples[w.next] = d
	w.next = (w.next + 1) % len(w.samples)
	w.count++
}

func (w *lagWindow) summary() api.LagStats {
	k := int(min(w.count, uint64(len(w.samples))))
	if k == 0 {
		return api.LagStats{}
	}
	s := slices.Clone(w.samples[:k])
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return api.LagStats{Count: w.count, P50Ms: ms(s[k/2]), P99Ms: ms(s[k*99/100]), MaxMs: ms(s[k-1])}
}

// Metrics are the node's Prometheus metrics.
type Metrics struct {
	fired   prometheus.Counter
	fireLag prometheus.Histogram
}

// NewMetrics registers the node's metrics, and gauges read from n at scrape
// time once n is set with Bind.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		fired: prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_fires_total", Help: "Occurrences fired and acknowledged."}),
		fireLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "timerd_fire_lag_seconds",
			Help:    "Fire publish time minus due time (jitter included in due).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}),
	}
	reg.MustRegister(m.fired, m.fireLag)
	return m
}

// Bind registers gauges that read n at scrape time.
func (m *Metrics) Bind(reg prometheus.Registerer, n *Node) {
	gauge := func(name, help string, f func(api.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(n.localStats()) })
	}
	reg.MustRegister(
		gauge("timerd_timers", "Timers held by this node (scheduled and paused).", func(s api.Stats) float64 { return float64(s.Timers) }),
		gauge("timerd_fire_lag_p99_seconds", "p99 fire lag over the last 4096 fires.", func(s api.Stats) float64 { return s.Lag.P99Ms / 1000 }),
		gauge("timerd_timers_in_wheel", "Timers on this node's timing wheel.", func(s api.Stats) float64 { return float64(s.InWheel) }),
		gauge("timerd_fires_in_flight", "Fires awaiting their JetStream ack.", func(s api.Stats) float64 { return float64(s.InFlight) }),
		gauge("timerd_ready", "1 when the node has loaded its shards and fires on time.", func(s api.Stats) float64 {
			if s.Ready {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "timerd_store_writes_total", Help: "JetStream messages written by the store (group records, marks, purges)."},
			func() float64 { return float64(n.store.Writes()) }),
	)
}

// List answers a page of timers ordered by id, after cursor, with prefix.
func (n *Node) List(ctx context.Context, prefix, cursor string, limit int) (api.ListReply, error) {
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return api.ListReply{}, errorf(api.CodeBadRequest, "Timer-Cursor %q is not a cursor from a previous page", cursor)
		}
		after = string(b)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.ready {
		return api.ListReply{}, errNotReady("timers are still loading")
	}
	// The page is the limit+1 smallest matching ids: a bounded sorted
	// buffer keeps the cost at one pass over the index.
	page := make([]string, 0, limit+1)
	consider := func(id string) {
		if !strings.HasPrefix(id, prefix) || id <= after || (len(page) == limit+1 && id >= page[limit]) {
			return
		}
		i, _ := slices.BinarySearch(page, id)
		if len(page) == limit+1 {
			page = page[:limit]
		}
		page = slices.Insert(page, i, id)
	}
	for id, t := range n.timers {
		if !t.done {
			consider(id)
		}
	}
	for i := range n.far.ents {
		if n.far.ents[i].idLen != 0 {
			if id := n.far.id(uint32(i)); len(id) >= len(prefix) && string(id[:len(prefix)]) == prefix {
				consider(string(id))
			}
		}
	}
	more := len(page) == limit+1
	if more {
		page = page[:limit]
	}
	var far []uint32
	for _, id := range page {
		if i, ok := n.far.find(id); ok {
			far = append(far, i)
		}
	}
	views := make(map[string]api.Timer, len(page))
	if len(far) > 0 {
		// The lock is released while the far ones' records are read.
		farViews, err := n.farViews(ctx, far)
		if err != nil {
			return api.ListReply{}, err
		}
		for _, v := range farViews {
			views[v.ID] = v
		}
	}
	reply := api.ListReply{Timers: make([]api.Timer, 0, len(page))}
	for _, id := range page {
		v, ok := views[id]
		if !ok {
			t := n.timers[id]
			if t == nil || t.done {
				continue // gone while far ones were read
			}
			v = n.view(t)
		}
		reply.Timers = append(reply.Timers, v)
	}
	if more {
		reply.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page[limit-1]))
	}
	return reply, nil
}

// Stats answers this node's counts, with the scheduled/paused split (one
// pass over the index) and the store's size.
func (n *Node) Stats(ctx context.Context) api.Stats {
	s := n.localStats()
	n.mu.Lock()
	s.Scheduled += int64(n.far.count)
	for _, t := range n.timers {
		if t.done {
			continue
		}
		if t.rec.Paused {
			s.Paused++
		} else {
			s.Scheduled++
		}
	}
	n.mu.Unlock()
	if msgs, bytes, err := n.store.Info(ctx); err == nil {
		s.Store.Records, s.Store.Bytes = msgs, bytes
	}
	return s
}

func (n *Node) localStats() api.Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := api.Stats{
		Node: n.cfg.Name, Ready: n.ready && !n.closing, Shards: len(n.shards),
		InWheel: int64(n.wheel.Len()), InFlight: int64(len(n.inflight)),
		Fired: n.counts.fired.Load(), Created: n.counts.created.Load(), Cancelled: n.counts.cancelled.Load(),
		Lag:   n.lag.summary(),
		Store: api.StoreStats{Bucket: n.store.Bucket(), Writes: n.store.Writes()},
	}
	for i, sh := range n.shards {
		if !sh.loading {
			s.OwnedShards = append(s.OwnedShards, i)
		}
	}
	s.Timers = int64(len(n.timers) + n.far.count)
	return s
}
