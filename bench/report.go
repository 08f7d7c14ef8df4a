package main

import (
	"encoding/json"
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
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
	// TimelineStep is the interval of the lag-over-time series (-timeline).
	TimelineStep time.Duration `json:"timeline_step_ns,omitempty"`
	Results      []Result      `json:"results"`
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
			q := Ratio{Timerd: t.Contender, Other: o.Contender}
			if !isFloor(o.Contender) { // the floor's ingest and memory are a client's slice
				q.Ingest, q.Memory = div(t.IngestRate, o.IngestRate), div(o.RSSPerPending, t.RSSPerPending)
			}
			if t.Fire != nil && o.Fire != nil {
				q.FireRate = div(t.Fire.FireRate, o.Fire.FireRate)
				// The floor's lag is always into the dedup stream; timerd's
				// only with -capture (else it is core NATS receipt time).
				if !isFloor(o.Contender) || r.Workload.Capture {
					q.LagP99 = div(o.Fire.LagP99Ms, max(t.Fire.LagP99Ms, 0.001))
				}
			} else if t.Fire != nil && strings.HasPrefix(o.Contender, "js-msgid") && r.Workload.Capture {
				// Fires into a dedup stream against the raw Nats-Msg-Id publish rate.
				q.FireRate = div(t.Fire.FireRate, o.IngestRate)
			}
			out = append(out, q)
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
	if r.hasCore() {
		if err := put(r.Name+"-core.svg", r.CoreChart()); err != nil {
			return nil, err
		}
	}
	if err := put(r.Name+".md", []byte(r.Markdown(r.Name+"-lag.svg", r.Name+"-rates.svg"))); err != nil {
		return nil, err
	}
	return paths, nil
}
