package statuspage

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/timerd/timerd/api"
)

// sample is the cluster's figures at one instant, as timerd.stats summed
// them over the nodes that answered.
type sample struct {
	at                                time.Time
	ok                                bool // stats answered; else a gap in the charts
	fired                             uint64
	timers, scheduled, paused, failed int64
}

// lagSnapshot is this node's fire lag histogram at one instant: cumulative
// counts per upper bound, as Prometheus keeps them.
type lagSnapshot struct {
	at     time.Time
	bounds []float64 // seconds; the last is +Inf
	counts []uint64  // cumulative, one per bound
}

// counters are this node's error counters from its registry.
type counters struct {
	fireErrors, setAside, skipped float64
	known                         bool // the registry was given and read
}

// history is what the sampler has seen. The sampler goroutine is its only
// writer; handlers read copies.
type history struct {
	mu   sync.Mutex
	keep int           // samples kept: the span of the fires chart
	all  []sample      // guarded by mu; oldest first, at most keep
	lags []lagSnapshot // guarded by mu; oldest first, within the span of all
}

func (h *history) addSample(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.all) == h.keep {
		copy(h.all, h.all[1:])
		h.all = h.all[:h.keep-1]
	}
	h.all = append(h.all, s)
}

func (h *history) addLag(l lagSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Keep snapshots no older than the oldest sample: the histogram covers
	// the span the fires chart shows.
	if len(h.all) > 0 {
		oldest := h.all[0].at
		for len(h.lags) > 1 && h.lags[1].at.Before(oldest) {
			h.lags = h.lags[1:]
		}
	}
	h.lags = append(h.lags, l)
}

func (h *history) samples() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.all...)
}

// oldestLag is the snapshot the histogram's window starts at.
func (h *history) oldestLag() (lagSnapshot, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.lags) == 0 {
		return lagSnapshot{}, false
	}
	return h.lags[0], true
}

// run samples until ctx ends: stats every interval, the registry every
// lagEvery (gathering runs the node's gauges, each of which reads the
// store, so it is not done at the stats' pace).
func (p *Page) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(p.cfg.Sample)
	defer tick.Stop()
	var lastLag time.Time
	for {
		now := time.Now()
		p.hist.addSample(p.sampleStats(ctx, now))
		// Until the histogram is registered (the node is still starting),
		// look again at every sample: the window must start before the
		// first fire.
		if p.cfg.Metrics != nil && now.Sub(lastLag) >= p.cfg.LagEvery {
			if l, _, ok := readRegistry(p.cfg.Metrics, now); ok {
				p.hist.addLag(l)
				lastLag = now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *Page) sampleStats(ctx context.Context, now time.Time) sample {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	st, err := p.cfg.Client.Stats(ctx)
	if err != nil {
		return sample{at: now}
	}
	return sampleOf(st, now)
}

func sampleOf(st api.Stats, now time.Time) sample {
	s := sample{at: now, ok: true, fired: st.Fired, timers: st.Timers, scheduled: st.Scheduled, paused: st.Paused, failed: st.Failed}
	if c := st.Cluster; c != nil {
		s.fired, s.timers, s.scheduled, s.paused, s.failed = c.Fired, c.Timers, c.Scheduled, c.Paused, c.Failed
	}
	return s
}

// readRegistry reads this node's lag histogram and error counters.
func readRegistry(g prometheus.Gatherer, now time.Time) (lagSnapshot, counters, bool) {
	families, err := g.Gather()
	if err != nil && len(families) == 0 {
		return lagSnapshot{}, counters{}, false
	}
	lag := lagSnapshot{at: now}
	c := counters{known: true}
	for _, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		m := f.GetMetric()[0]
		switch f.GetName() {
		case "timerd_fire_lag_seconds":
			for _, b := range m.GetHistogram().GetBucket() {
				lag.bounds = append(lag.bounds, b.GetUpperBound())
				lag.counts = append(lag.counts, b.GetCumulativeCount())
			}
			lag.bounds = append(lag.bounds, math.Inf(1))
			lag.counts = append(lag.counts, m.GetHistogram().GetSampleCount())
		case "timerd_fire_errors_total":
			c.fireErrors = counterValue(m)
		case "timerd_set_aside_total":
			c.setAside = counterValue(m)
		case "timerd_records_skipped_total":
			c.skipped = counterValue(m)
		}
	}
	return lag, c, len(lag.bounds) > 0
}

func counterValue(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// lagWindow is the histogram of the fires between from and to: counts
// per bucket, not cumulative. If the registry restarted in between (a
// count fell), it is to's whole histogram.
func lagWindow(from, to lagSnapshot) []uint64 {
	cur := perBucket(to.counts)
	if len(from.counts) != len(to.counts) {
		return cur
	}
	prev := perBucket(from.counts)
	out := make([]uint64, len(cur))
	for i := range cur {
		if cur[i] < prev[i] {
			return cur
		}
		out[i] = cur[i] - prev[i]
	}
	return out
}

func perBucket(cumulative []uint64) []uint64 {
	out := make([]uint64, len(cumulative))
	var below uint64
	for i, c := range cumulative {
		if c >= below {
			out[i] = c - below
		}
		below = c
	}
	return out
}
