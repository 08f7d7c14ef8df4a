package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/timerd/timerd/bench/chart"
	"github.com/timerd/timerd/bench/machine"
)

// ProgressPoint is one progress line, kept for the report's chart.
type ProgressPoint struct {
	T          float64 `json:"t_s"`
	CreatedPS  float64 `json:"created_per_s"` // creates confirmed in the last second
	FiredPS    float64 `json:"fired_per_s"`   // distinct fires seen in the last second
	Pending    int     `json:"pending"`
	LagP99Ms   float64 `json:"lag_p99_ms"` // fires of the last complete second
	LagMaxMs   float64 `json:"lag_max_ms"`
	Retries    int     `json:"retries"`
	InFlight   int     `json:"in_flight"`
	Generating bool    `json:"generating"`
}

// Report is the load test's outcome.
type Report struct {
	Name    string          `json:"name"`
	Started time.Time       `json:"started"`
	Command string          `json:"command"`
	Machine machine.Machine `json:"machine"`
	Target  string          `json:"target"`
	Stream  string          `json:"stream,omitempty"`
	Late    time.Duration   `json:"late_ns"`
	Gen     GenConfig       `json:"gen"`
	Stats   GenStats        `json:"stats"`
	Verdict Verdict         `json:"verdict"`
	Faults  []FaultEvent    `json:"faults,omitempty"`
	// Exits are timerd nodes that ended by themselves (a cluster).
	Exits []string `json:"exits,omitempty"`
	// FaultLag is the lag of the fires due while a fault lasted (any of them).
	FaultLag  *LagFigures     `json:"fault_lag,omitempty"`
	Progress  []ProgressPoint `json:"progress"`
	LiveFired int             `json:"live_fired"`          // distinct fires the live consumer saw
	Recounted int             `json:"recounted,omitempty"` // messages re-read from the stream
	Passed    bool            `json:"passed"`
	Failure   string          `json:"failure,omitempty"`
	Seconds   float64         `json:"seconds"`
	TargetUp  float64         `json:"target_up_s"` // from the start to the target's being up; the load's times count from there
}

// Summary is the final report in a few lines of text.
func (r *Report) Summary() string {
	v := r.Verdict
	var b strings.Builder
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s: %d timers confirmed (%d unconfirmed), %d occurrences expected, %d fired\n", verdict, v.Timers, v.Unconfirmed, v.Expected, v.Fired)
	fmt.Fprintf(&b, "  lost %d, duplicate %d, early %d, late %d (> %v), fired after cancel %d, unexpected %d, bad Nats-Msg-Id %d, optional %d\n",
		v.Lost, v.Duplicates, v.Early, v.Late, r.Late, v.AfterCancel, v.Unexpected, v.BadMsgID, v.Optional)
	fmt.Fprintf(&b, "  lag p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d fires of timers confirmed only after their due time left out)\n",
		v.LagP50Ms, v.LagP99Ms, v.LagP999Ms, v.LagMaxMs, v.PastDue)
	s := r.Stats
	fmt.Fprintf(&b, "  requests: %d created, %d cancelled, %d replaced, %d retries, %d gave up, %d stale and %d finished recurring retries, %d rejected", s.Created, s.Cancelled, s.Replaced, s.Retries, s.GaveUp, s.StaleRetries, s.FinishedRetries, s.Rejected)
	if s.FirstReject != "" {
		fmt.Fprintf(&b, " (first: %s)", s.FirstReject)
	}
	b.WriteString("\n")
	for k, why := range s.Unsupported {
		fmt.Fprintf(&b, "  kind %s dropped: %s\n", k, why)
	}
	for _, e := range v.Examples {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  fault at %.1fs: %s %s %s\n", f.At, f.Kind, f.Detail, f.Error)
		if f.Lag != nil {
			fmt.Fprintf(&b, "    fires due %.1fs-%.1fs: %s\n", f.At, f.Until, f.Lag)
		}
	}
	for _, e := range r.Exits {
		fmt.Fprintf(&b, "  node %s\n", e)
	}
	if r.FaultLag != nil {
		fmt.Fprintf(&b, "  during faults: %s\n", r.FaultLag)
	}
	if r.Failure != "" {
		fmt.Fprintf(&b, "  %s\n", r.Failure)
	}
	return b.String()
}

// Markdown renders the report for docs/benchmarks.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\nMachine: %s. Started %s. Target: %s.\n\n```\n%s\n```\n\n", r.Name, r.Machine, r.Started.UTC().Format(time.RFC3339), r.Target, r.Command)
	v := r.Verdict
	b.WriteString("| confirmed | expected fires | fired | lost | dup | early | late | after cancel | unexpected | lag p50 ms | p99 ms | p99.9 ms | max ms | faults |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %d |\n\n",
		v.Timers, v.Expected, v.Fired, v.Lost, v.Duplicates, v.Early, v.Late, v.AfterCancel, v.Unexpected,
		v.LagP50Ms, v.LagP99Ms, v.LagP999Ms, v.LagMaxMs, len(r.Faults))
	b.WriteString("```\n" + r.Summary() + "```\n\n")
	fmt.Fprintf(&b, "![lag](%s-lag.svg)\n\n![rates](%s-rates.svg)\n", r.Name, r.Name)
	return b.String()
}

// String is the figures in a line.
func (l LagFigures) String() string {
	return fmt.Sprintf("%d fires, lag p50 %.2f ms, p99 %.2f ms, max %.2f ms", l.Fires, l.P50Ms, l.P99Ms, l.MaxMs)
}

func (r *Report) marks() []chart.Mark {
	var m []chart.Mark
	for _, f := range r.Faults {
		m = append(m, chart.Mark{X: f.At, Label: f.Kind})
	}
	return m
}

// LagChart is fire lag per second (p99 and max, log scale) with the faults.
func (r *Report) LagChart() []byte {
	var x, p99, mx []float64
	for _, p := range r.Progress {
		if p.FiredPS == 0 || p.LagMaxMs == 0 {
			continue // no fire in that second
		}
		x = append(x, p.T)
		p99 = append(p99, max(p.LagP99Ms, 0.001))
		mx = append(mx, max(p.LagMaxMs, 0.001))
	}
	return chart.Line{Title: r.Name + ": fire lag per second", XLabel: "seconds", YLabel: "lag, ms (log)", LogY: true,
		Series: []chart.Series{{Name: "p99", X: x, Y: p99}, {Name: "max", X: x, Y: mx, Dashed: true}},
		Marks:  r.marks()}.SVG()
}

// RateChart is creates and fires per second, and pending, with the faults.
func (r *Report) RateChart() []byte {
	var x, created, fired, pending []float64
	for _, p := range r.Progress {
		x = append(x, p.T)
		created = append(created, p.CreatedPS)
		fired = append(fired, p.FiredPS)
		pending = append(pending, float64(p.Pending))
	}
	return chart.Line{Title: r.Name + ": rates", XLabel: "seconds", YLabel: "per second / count",
		Series: []chart.Series{{Name: "created/s", X: x, Y: created}, {Name: "fired/s", X: x, Y: fired}, {Name: "pending", X: x, Y: pending, Dashed: true}},
		Marks:  r.marks()}.SVG()
}

// Write saves <name>.json, <name>.md and the two charts in dir.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		r.Name + ".json": append(js, '\n'), r.Name + ".md": []byte(r.Markdown()),
		r.Name + "-lag.svg": r.LagChart(), r.Name + "-rates.svg": r.RateChart(),
	}
	var paths []string
	for _, name := range []string{r.Name + ".json", r.Name + ".md", r.Name + "-lag.svg", r.Name + "-rates.svg"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
