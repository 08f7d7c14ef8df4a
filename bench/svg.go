package main

import (
	"fmt"
	"math"
	"time"

	"github.com/timerd/timerd/bench/chart"
	"github.com/timerd/timerd/bench/hist"
)

// LagChart draws each firing contender's p99 (solid) and max (dashed) fire
// lag per timeline step (a second unless -timeline), on a log axis, from
// the first due: spikes show as peaks of the max.
func (r *Report) LagChart() []byte {
	step := r.TimelineStep
	if step <= 0 {
		step = time.Second
	}
	c := chart.Line{Title: fmt.Sprintf("%s: fire lag per %v (p99 solid, max dashed)", r.Name, step), XLabel: "seconds after the first due", YLabel: "lag, ms (log)", LogY: true}
	k := 0
	for _, res := range r.Results {
		if res.Fire == nil || len(res.Fire.Timeline) == 0 {
			continue
		}
		var x, p99, mx []float64
		for _, p := range res.Fire.Timeline {
			if p.Count == 0 {
				continue
			}
			x = append(x, float64(p.Offset)/1e9)
			p99 = append(p99, math.Max(float64(p.P99)/1e3, 0.001))
			mx = append(mx, math.Max(float64(p.Max)/1e3, 0.001))
		}
		col := chart.Color(k)
		k++
		c.Series = append(c.Series,
			chart.Series{Name: res.Contender + " p99", X: x, Y: p99, Color: col},
			chart.Series{Name: res.Contender + " max", X: x, Y: mx, Color: col, Dashed: true})
	}
	return c.SVG()
}

// hasCore says some contender has core receipts (-core-lag).
func (r *Report) hasCore() bool {
	for _, res := range r.Results {
		if res.Fire != nil && len(res.Fire.CoreTimeline) > 0 {
			return true
		}
	}
	return false
}

// CoreChart draws, per contender with core receipts, the max lag per
// timeline step as stored by the stream (solid) and as first received on
// a core subscription (dashed): where the two part, the stream held the
// fire; where both rise, the publisher was late.
func (r *Report) CoreChart() []byte {
	c := chart.Line{Title: r.Name + ": max fire lag, stored (solid) and at core receipt (dashed)", XLabel: "seconds after the first due", YLabel: "lag, ms (log)", LogY: true}
	series := func(pts []hist.Point) (x, y []float64) {
		for _, p := range pts {
			if p.Count > 0 {
				x, y = append(x, float64(p.Offset)/1e9), append(y, math.Max(float64(p.Max)/1e3, 0.001))
			}
		}
		return x, y
	}
	k := 0
	for _, res := range r.Results {
		if res.Fire == nil || len(res.Fire.CoreTimeline) == 0 {
			continue
		}
		col := chart.Color(k)
		k++
		x, y := series(res.Fire.Timeline)
		cx, cy := series(res.Fire.CoreTimeline)
		c.Series = append(c.Series,
			chart.Series{Name: res.Contender + " stored", X: x, Y: y, Color: col},
			chart.Series{Name: res.Contender + " core", X: cx, Y: cy, Color: col, Dashed: true})
	}
	return c.SVG()
}

// RateChart draws ingest and fire rates per contender.
func (r *Report) RateChart() []byte {
	c := chart.Bars{Title: r.Name + ": throughput", Unit: "timers per second", Series: []string{"ingest", "fire"}}
	for _, res := range r.Results {
		if res.Failed != "" {
			continue
		}
		fire := math.NaN()
		if res.Fire != nil {
			fire = res.Fire.FireRate
		}
		c.Labels = append(c.Labels, res.Contender)
		c.Values = append(c.Values, []float64{res.IngestRate, fire})
	}
	return c.SVG()
}
