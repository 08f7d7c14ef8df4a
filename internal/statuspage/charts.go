package statuspage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The charts are inline SVG computed here: the page needs no script and no
// asset to draw them, and a test can read them from the DOM. Coordinates
// are in a fixed viewBox that CSS scales to the screen's width.
const (
	chartW, chartH = 600, 170
	plotLeft       = 48.0 // room for the y labels
	plotRight      = 592.0
	plotTop        = 12.0
	plotBottom     = 140.0 // room for the x labels below
)

// tick is a labelled position on an axis.
type tick struct {
	Pos    float64 // x or y in the viewBox
	Label  string
	Anchor string // x ticks: text-anchor, so the end labels stay inside
}

// lineChart is a time series: one path per run of samples without a gap.
type lineChart struct {
	W, H     int
	Paths    []string // SVG path data
	Areas    []string // the same runs closed down to zero, for the fill
	YTicks   []tick
	XTicks   []tick
	Empty    string // said instead of a chart when there is nothing to draw
	Points   int    // values drawn
	Current  string // the latest value, for the caption
	LastX    float64
	LastY    float64 // where the latest value is drawn as a dot
	Peak     string
	Describe string // the chart in words, for screen readers
}

// firesChart draws fires per second from consecutive samples' cumulative
// fire counts, over span ending at now. A sample without stats, or a count
// that fell (a node left or restarted), is a gap, never a made-up value.
func firesChart(samples []sample, now time.Time, span time.Duration) lineChart {
	c := lineChart{W: chartW, H: chartH}
	type point struct {
		at   time.Time
		rate float64
	}
	var runs [][]point
	var run []point
	peak := 0.0
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if !a.ok || !b.ok || b.fired < a.fired || dt <= 0 {
			if len(run) > 0 {
				runs = append(runs, run)
			}
			run = nil
			continue
		}
		rate := float64(b.fired-a.fired) / dt
		peak = math.Max(peak, rate)
		run = append(run, point{b.at, rate})
		c.Points++
		c.Current = formatRate(rate)
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	if c.Points == 0 {
		c.Empty = "No rate yet: the page samples the cluster every few seconds; the chart fills as it does."
		return c
	}
	top := niceCeil(peak)
	x := func(t time.Time) float64 {
		f := 1 - now.Sub(t).Seconds()/span.Seconds()
		return plotLeft + math.Max(0, math.Min(1, f))*(plotRight-plotLeft)
	}
	y := func(v float64) float64 { return plotBottom - v/top*(plotBottom-plotTop) }
	for _, r := range runs {
		var d strings.Builder
		for i, p := range r {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(p.at), y(p.rate))
		}
		path := strings.TrimSpace(d.String())
		c.Paths = append(c.Paths, path)
		c.Areas = append(c.Areas, fmt.Sprintf("%s L%.1f %.1f L%.1f %.1f Z", path, x(r[len(r)-1].at), plotBottom, x(r[0].at), plotBottom))
	}
	c.YTicks = []tick{{plotBottom, "0", ""}, {y(top / 2), formatRate(top / 2), ""}, {plotTop, formatRate(top), ""}}
	last := runs[len(runs)-1]
	c.LastX, c.LastY = x(last[len(last)-1].at), y(last[len(last)-1].rate)
	c.XTicks = timeTicks(span, x, now)
	c.Peak = formatRate(peak)
	c.Describe = fmt.Sprintf("Fires per second over the last %s: now %s, peak %s.", shortDuration(span), c.Current, c.Peak)
	return c
}

// timeTicks labels the x axis: the start of the span, its middle, now.
func timeTicks(span time.Duration, x func(time.Time) float64, now time.Time) []tick {
	return []tick{
		{x(now.Add(-span)), "-" + shortDuration(span), "start"},
		{x(now.Add(-span / 2)), "-" + shortDuration(span/2), "middle"},
		{x(now), "now", "end"},
	}
}

// bar is one bar of a histogram.
type bar struct {
	X, Y, W, H float64
	Mid        float64 // the bar's centre, where its label goes
	Label      string  // under the bar
	Count      uint64
	Title      string // tooltip and screen readers
}

// barChart is the lag histogram.
type barChart struct {
	W, H     int
	Bars     []bar
	YTicks   []tick
	Empty    string
	Total    uint64
	Describe string
}

// lagChart draws per-bucket counts against their upper bounds (seconds,
// the last +Inf).
func lagChart(bounds []float64, counts []uint64) barChart {
	c := barChart{W: chartW, H: chartH}
	var peak uint64
	for _, n := range counts {
		c.Total += n
		peak = max(peak, n)
	}
	if c.Total == 0 {
		c.Empty = "No fires in this window."
		return c
	}
	top := niceCeil(float64(peak))
	slot := (plotRight - plotLeft) / float64(len(counts))
	var words []string
	for i, n := range counts {
		h := float64(n) / top * (plotBottom - plotTop)
		if n > 0 {
			h = math.Max(h, 1) // a single fire still shows
		}
		label, title := formatSeconds(bounds[i]), "at most "+formatSeconds(bounds[i])
		if math.IsInf(bounds[i], 1) {
			label, title = ">"+formatSeconds(bounds[i-1]), "over "+formatSeconds(bounds[i-1])
		}
		left := plotLeft + float64(i)*slot
		c.Bars = append(c.Bars, bar{X: left + 1, Y: plotBottom - h, W: slot - 2, H: h, Mid: left + slot/2,
			Label: label, Count: n, Title: fmt.Sprintf("%s: %d fires", title, n)})
		if n > 0 {
			words = append(words, fmt.Sprintf("%s %d", title, n))
		}
	}
	c.YTicks = []tick{{plotBottom, "0", ""}, {plotTop, strconv.FormatFloat(top, 'f', -1, 64), ""}}
	c.Describe = fmt.Sprintf("Fire lag of %d fires: %s.", c.Total, strings.Join(words, ", "))
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so axis labels
// are round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatRate(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatSeconds writes a bucket bound: 0.5ms, 25ms, 1s, 30s.
func formatSeconds(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(s*1000, 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(s, 'f', -1, 64) + "s"
}

// shortDuration writes 10m, 2h, 90s: whole hours and minutes alone.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
