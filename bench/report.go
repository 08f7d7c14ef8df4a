package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/timerd/timerd/bench/machine"
)

// Report is one bench run: the machine, the command, the workload and every
// contender's result.
type Report struct {
	Name     string          `json:"name"`
	Started  time.Time       `json:"started"`
	Command  string          `json:"command"`
	Machine  machine.Machine `json:"machine"`
	Workload Workload        `json:"workload"`
	Restart  bool            `json:"restart"`
	NoFire   bool            `json:"no_fire,omitempty"`
	// LoadBefore and LoadAfter are /proc/loadavg around the run: anything
	// else running on the machine shows there.
	LoadBefore string   `json:"load_before"`
	LoadAfter  string   `json:"load_after"`
	Results    []Result `json:"results"`
}

// result finds a contender's result; nil when it did not run or failed.
func (r *Report) result(name string) *Result {
	for i := range r.Results {
		if r.Results[i].Contender == name && r.Results[i].Failed == "" {
			return &r.Results[i]
		}
	}
	return nil
}

func isTimerd(name string) bool { return strings.HasPrefix(name, "timerd") }

// Ratio compares a timerd variant with another contender; every figure is
// "how many times better timerd is" (higher is better for timerd), 0 when
// not comparable.
type Ratio struct {
	Timerd   string  `json:"timerd"`
	Other    string  `json:"other"`
	Ingest   float64 `json:"ingest"`    // timerd ingest / other ingest
	FireRate float64 `json:"fire_rate"` // timerd fire rate / other fire rate
	LagP99   float64 `json:"lag_p99"`   // other p99 / timerd p99
	Memory   float64 `json:"memory"`    // other RSS per pending / timerd RSS per pending
}

// Ratios compares every timerd variant with every other contender.
func (r *Report) Ratios() []Ratio {
	div := func(a, b float64) float64 {
		if a <= 0 || b <= 0 {
			return 0
		}
		return a / b
	}
	var out []Ratio
	for _, t := range r.Results {
		if !isTimerd(t.Contender) || t.Failed != "" {
			continue
		}
		for _, o := range r.Results {
			if isTimerd(o.Contender) || o.Failed != "" {
				continue
			}
			q := Ratio{Timerd: t.Contender, Other: o.Contender,
				Ingest: div(t.IngestRate, o.IngestRate), Memory: div(o.RSSPerPending, t.RSSPerPending)}
			if t.Fire != nil && o.Fire != nil {
				q.FireRate = div(t.Fire.FireRate, o.Fire.FireRate)
				q.LagP99 = div(o.Fire.LagP99Ms, max(t.Fire.LagP99Ms, 0.001))
			} else if t.Fire != nil && o.Contender == "js-msgid" && r.Workload.Capture {
				// Fires into a dedup stream against the raw Nats-Msg-Id publish rate.
				q.FireRate = div(t.Fire.FireRate, o.IngestRate)
			}
			out = append(out, q)
		}
	}
	return out
}

// Goal is one of the goals, judged on this run where it applies.
type Goal struct {
	Goal    string `json:"goal"`
	Measure string `json:"measure"`
	Verdict string `json:"verdict"` // met, missed, or n/a with the reason
}

// Goals judges the goals this run's workload speaks to.
func (r *Report) Goals() []Goal {
	var out []Goal
	add := func(goal, measure string, met bool, applies bool, why string) {
		v := "missed"
		if met {
			v = "met"
		}
		if !applies {
			v = "n/a: " + why
		}
		out = append(out, Goal{goal, measure, v})
	}
	ns := r.result("nats-sched")
	for _, name := range []string{"timerd-batch", "timerd-bin-batch"} {
		if t := r.result(name); t != nil {
			add("batch ingest >= 150,000 timers/s", fmt.Sprintf("%s: %.0f/s", name, t.IngestRate), t.IngestRate >= 150000 && t.Errors == 0, true, "")
			if ns != nil {
				x := t.IngestRate / ns.IngestRate
				add("batch ingest >= 3x NATS' scheduler", fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s)", name, x, t.IngestRate, ns.IngestRate), x >= 3, true, "")
			}
		}
	}
	for _, name := range []string{"timerd", "timerd-bin"} {
		if t := r.result(name); t != nil && ns != nil {
			x := t.IngestRate / ns.IngestRate
			add("single-request ingest >= 1x NATS' scheduler", fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s)", name, x, t.IngestRate, ns.IngestRate), x >= 1, true, "")
		}
	}
	w := r.Workload
	for _, t := range r.Results {
		if !isTimerd(t.Contender) || t.Failed != "" || t.Fire == nil {
			continue
		}
		applies := t.PendingMeasured >= 1_000_000 && w.OfferedFireRate() >= 20000
		add("fire lag p99 <= 10 ms at 1M pending, 20,000 fires/s",
			fmt.Sprintf("%s: p99 %.2f ms at %d pending, %.0f fires/s offered, %.0f observed", t.Contender, t.Fire.LagP99Ms, t.PendingMeasured, w.OfferedFireRate(), t.Fire.FireRate),
			t.Fire.LagP99Ms <= 10 && t.Fire.Lost == 0, applies, fmt.Sprintf("p99 %.2f ms at %d pending and %.0f fires/s offered", t.Fire.LagP99Ms, t.PendingMeasured, w.OfferedFireRate()))
		if js := r.result("js-msgid"); js != nil {
			x := t.Fire.FireRate / js.IngestRate
			add("sustained fires into a dedup stream >= 0.8x raw Nats-Msg-Id publish",
				fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s)", t.Contender, x, t.Fire.FireRate, js.IngestRate),
				x >= 0.8, w.Capture && w.Spread == 0, "needs -capture and -spread 0 (all due at once)")
		}
		applies = t.PendingMeasured >= 10_000_000 && w.Payload == 64
		add("<= 150 B RSS per pending timer at 10M pending, 64 B payloads",
			fmt.Sprintf("%s: %.0f B at %d pending, %d B payloads", t.Contender, t.RSSPerPending, t.PendingMeasured, w.Payload),
			t.RSSPerPending <= 150, applies, fmt.Sprintf("%.0f B per pending at %d pending", t.RSSPerPending, t.PendingMeasured))
		if t.Restart != nil {
			add("1M pending back to firing <= 5 s after a restart",
				fmt.Sprintf("%s: %.2f s with %d pending", t.Contender, t.Restart.FiringMs/1e3, t.Restart.Pending),
				t.Restart.FiringMs <= 5000, t.Restart.Pending >= 1_000_000, fmt.Sprintf("%.2f s with %d pending", t.Restart.FiringMs/1e3, t.Restart.Pending))
		}
	}
	return out
}

// Write saves the report as <name>.json, <name>.md and its SVG charts.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	put := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		paths = append(paths, p)
		return os.WriteFile(p, data, 0o644)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := put(r.Name+".json", append(js, '\n')); err != nil {
		return nil, err
	}
	if err := put(r.Name+"-lag.svg", r.LagChart()); err != nil {
		return nil, err
	}
	if err := put(r.Name+"-rates.svg", r.RateChart()); err != nil {
		return nil, err
	}
	if err := put(r.Name+".md", []byte(r.Markdown(r.Name+"-lag.svg", r.Name+"-rates.svg"))); err != nil {
		return nil, err
	}
	return paths, nil
}
