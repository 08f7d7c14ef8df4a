package main

import (
	"fmt"
	"math"
	"time"

	"github.com/timerd/timerd/bench/chart"
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
