package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/bench/hist"
	"github.com/timerd/timerd/bench/machine"
)

func sampleReport() *Report {
	w := testWorkload(1_000_000)
	w.FireRate = 20000
	_ = w.Normalize()
	fire := func(rate, p99 float64) *FireStats {
		return &FireStats{Scheduled: 1_000_000, Fired: 1_000_000, FireRate: rate, LagP50Ms: p99 / 4, LagP99Ms: p99, LagP999Ms: p99 * 2, LagMaxMs: p99 * 3,
			Timeline: []hist.Point{{Offset: 0, Count: 10, P50: 100, P99: int64(p99 * 1e3), Max: int64(p99 * 3e3)}, {Offset: 1e9, Count: 10, P50: 100, P99: int64(p99 * 1e3), Max: int64(p99 * 3e3)}}}
	}
	return &Report{Name: "sample", Started: time.Unix(1700000000, 0), Command: "go run ./bench -timers 1000000",
		Machine: machine.Machine{CPU: "Test CPU", Cores: 2, MemoryGiB: 24}, Workload: *w,
		Results: []Result{
			{Contender: "js-msgid", IngestRate: 60000, RSSPerPending: 300, HeapPerPending: 280},
			{Contender: "nats-sched", IngestRate: 40000, Fire: fire(19000, 772), RSSPerPending: 1000, HeapPerPending: -1, PendingMeasured: 1_000_000},
			{Contender: "timerd-batch", IngestRate: 160000, Fire: fire(20000, 4), RSSPerPending: 140, HeapPerPending: 100, PendingMeasured: 1_000_000,
				Restart: &RestartStats{ReadyMs: 1500, FiringMs: 1800, Pending: 1_000_000}},
			{Contender: "timerd", IngestRate: 30000, Fire: fire(20000, 12), RSSPerPending: 200, PendingMeasured: 1_000_000},
			{Contender: "kv", Failed: "start: boom | bang"},
		}}
}

func TestRatios(t *testing.T) {
	r := sampleReport()
	for _, q := range r.Ratios() {
		if q.Timerd == "timerd-batch" && q.Other == "nats-sched" {
			if q.Ingest != 4 || q.Memory < 7.14 || q.Memory > 7.15 || q.LagP99 != 193 {
				t.Errorf("ratio %+v", q)
			}
			return
		}
	}
	t.Fatal("no timerd-batch / nats-sched ratio")
}

func TestGoals(t *testing.T) {
	verdicts := map[string]string{}
	for _, g := range sampleReport().Goals() {
		verdicts[g.Goal+" / "+strings.Fields(g.Measure)[0]] = g.Verdict
	}
	for goal, want := range map[string]string{
		"batch ingest >= 150,000 timers/s / timerd-batch:":                              "met",
		"batch ingest >= 3x NATS' scheduler / timerd-batch:":                            "met",
		"single-request ingest >= 1x NATS' scheduler / timerd:":                         "missed",
		"fire lag p99 <= 10 ms at 1M pending, 20,000 fires/s / timerd-batch:":           "met",
		"fire lag p99 <= 10 ms at 1M pending, 20,000 fires/s / timerd:":                 "missed",
		"1M pending back to firing <= 5 s after a restart / timerd-batch:":              "met",
		"sustained fires into a dedup stream >= 0.8x raw Nats-Msg-Id publish / timerd:": "n/a: needs -capture and -spread 0 (all due at once)",
	} {
		if got := verdicts[goal]; got != want {
			t.Errorf("%s: %q, want %q", goal, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := sampleReport().Markdown("l.svg", "r.svg")
	for _, want := range []string{
		"Machine: Test CPU, 2 cores, 24 GiB",
		"go run ./bench -timers 1000000",
		"1000000 timers, 32 B payloads",
		"(20000 fires/s offered)",
		"| timerd-batch | 160,000 | 0 | 20,000 | 1.00 | 4.00 | 8.00 | 12.0 | 0 | 0 | 0 | 0 | 140 | 100 | 1.80 s |",
		"| kv | failed: start: boom / bang |",
		"| timerd-batch | nats-sched | 4.00x | 1.05x | 193.00x | 7.14x |",
		"![fire lag over time](l.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	paths, err := r.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("wrote %v", paths)
	}
	data, err := os.ReadFile(filepath.Join(dir, "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 5 || back.Results[2].Restart.FiringMs != 1800 || back.Workload.Spread != 50*time.Second {
		t.Errorf("JSON did not round-trip: %+v", back)
	}
	for _, name := range []string{"sample-lag.svg", "sample-rates.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !strings.Contains(string(svg), "timerd-batch") {
			t.Errorf("%s lacks timerd-batch", name)
		}
	}
}

// The hand-off goal compares three nodes with one on the same server.
func TestClusterGoals(t *testing.T) {
	r := &Report{Workload: Workload{Capture: true}, Results: []Result{
		{Contender: "timerd-bin-1node", IngestRate: 40000, Fire: &FireStats{FireRate: 30000}},
		{Contender: "timerd-bin-3nodes", IngestRate: 20000, Fire: &FireStats{FireRate: 27000}},
	}}
	got := map[string]string{}
	for _, g := range r.Goals() {
		if strings.HasPrefix(g.Goal, "3 nodes") {
			got[g.Goal] = g.Measure + " " + g.Verdict
		}
	}
	if len(got) != 2 {
		t.Fatalf("goals %v", got)
	}
	for goal, v := range got {
		switch {
		case strings.Contains(goal, "ingest") && v != "0.50x (20000 vs 40000 /s) missed",
			strings.Contains(goal, "burst") && v != "0.90x (27000 vs 30000 /s) met":
			t.Errorf("%s: %s", goal, v)
		}
	}
}
