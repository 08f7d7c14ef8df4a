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

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the -smoke preset in this process, as CI does with
// `go run ./loadtest -smoke`: an in-process timerd, load with cancels and
// replaces, a clean restart mid-way, and a passing verdict.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds-long run; skipped with -short")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-smoke", "-out", out, "-work", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "smoke.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	v := rep.Verdict
	if !rep.Passed || v.Timers < 1000 || v.Fired == 0 || rep.Stats.Cancelled == 0 || rep.Stats.Replaced == 0 {
		t.Errorf("report: passed %v, verdict %+v, stats %+v", rep.Passed, v, rep.Stats)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].Error != "" {
		t.Errorf("faults %+v", rep.Faults)
	}
	if rep.Recounted < v.Fired {
		t.Errorf("recounted %d stream messages for %d fires", rep.Recounted, v.Fired)
	}
	if !strings.Contains(stdout.String(), "PASS:") {
		t.Errorf("no verdict on stdout:\n%s", stdout.String())
	}
	if len(rep.Progress) < 3 {
		t.Errorf("%d progress points", len(rep.Progress))
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-smoke", "-rate", "10", "-kinds", "in,cron"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.Gen.Rate != 10 || o.Gen.Duration != 4*time.Second || o.Fault.Kind != "restart" || len(o.Gen.Kinds) != 2 {
		t.Errorf("explicit flags win over -smoke, the rest come from it: %+v %+v", o.Gen, o.Fault)
	}
	if o, err := parseFlags([]string{"-spawn", "/tmp/timerd", "-nodes", "3", "-fault", "mix"}, &stderr); err != nil || o.Nodes != 3 {
		t.Errorf("a cluster with mixed faults: %v %+v", err, o)
	}
	for _, bad := range [][]string{
		{"-kinds", "in,weekly"},
		{"-fault", "flood"},
		{"-nats", "nats://10.0.0.1:4222"},
		{"-nats", "nats://127.0.0.1:4222", "-spawn", "/bin/true"},
		{"-cancel", "0.7", "-replace", "0.5"},
		{"-recur-every", "1500ms"},
		{"-nodes", "3"}, // a cluster needs the binary
		{"-nodes", "-1", "-spawn", "/bin/true"},
		{"-timerd-args", "--lease-ttl 2s"},
	} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestReportRendering(t *testing.T) {
	r := &Report{Name: "r", Started: time.Unix(1700000000, 0), Command: "go run ./loadtest -rate 5", Target: "x", Late: time.Second,
		Verdict:  Verdict{Timers: 10, Expected: 9, Fired: 9, LagP99Ms: 1.5, Examples: []string{"lost: a (in) due 1"}},
		Stats:    GenStats{Created: 10, Unsupported: map[string]string{"cron": "400 nope"}},
		Faults:   []FaultEvent{{At: 2, Kind: "kill", Detail: "kill -9 1"}},
		Progress: []ProgressPoint{{T: 1, CreatedPS: 5, FiredPS: 4, LagP99Ms: 1, LagMaxMs: 2}, {T: 2, CreatedPS: 5, FiredPS: 5, LagP99Ms: 3, LagMaxMs: 9}},
		Passed:   true}
	s := r.Summary()
	for _, want := range []string{"PASS: 10 timers", "kind cron dropped: 400 nope", "fault at 2.0s: kill kill -9 1", "lost: a (in)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	md := r.Markdown()
	if !strings.Contains(md, "| 10 | 9 | 9 | 0 |") || !strings.Contains(md, "![lag](r-lag.svg)") {
		t.Errorf("markdown:\n%s", md)
	}
	for _, svg := range [][]byte{r.LagChart(), r.RateChart()} {
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(string(svg), ">kill<") {
			t.Error("chart lacks the fault mark")
		}
	}
}
