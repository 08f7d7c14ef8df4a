package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runReport runs the bench in this process with args and returns its
// report and what it printed.
func runReport(t *testing.T, args ...string) (*Report, string) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args = append(args, "-isolate=false", "-out", out, "-work", t.TempDir(), "-name", "t", "-max-time", "2m")
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "t.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep, stdout.String()
}

// checkFired fails unless every contender fired every timer it kept, on
// time and once, and cancelled some when asked to.
func checkFired(t *testing.T, rep *Report, cancels bool) {
	t.Helper()
	for _, r := range rep.Results {
		if r.Failed != "" || r.Errors != 0 || r.Fire == nil {
			t.Errorf("%s: failed %q, %d errors (%s), fire %v", r.Contender, r.Failed, r.Errors, r.FirstError, r.Fire)
			continue
		}
		f := r.Fire
		if f.Lost != 0 || f.Early != 0 || f.Duplicates != 0 || f.AfterCancel != 0 || f.DueMismatch != 0 || f.Fired == 0 || (cancels && f.Cancelled == 0) {
			t.Errorf("%s: %+v", r.Contender, *f)
		}
	}
}

// TestPacedFloor runs the js-paced floor beside in-process timerd into the
// dedup capture stream, with cancels and a restart (which the floor skips),
// at a fine timeline, and checks the report compares them.
func TestPacedFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds-long run; skipped with -short")
	}
	rep, _ := runReport(t, "-contenders", "js-paced,timerd", "-capture", "-timers", "2000", "-due", "3s", "-spread", "1s",
		"-inflight", "256", "-cancel", "0.1", "-restart", "-grace", "5s", "-timeline", "100ms", "-core-lag")
	checkFired(t, rep, true)
	for _, r := range rep.Results {
		// Every fire kept is seen on the core subscription, never before its due.
		if f := r.Fire; f != nil && (f.CoreFired != f.Fired || f.CoreLagP50Ms < 0 || len(f.CoreTimeline) == 0) {
			t.Errorf("%s: %d core receipts of %d fires, core p50 %v ms", r.Contender, f.CoreFired, f.Fired, f.CoreLagP50Ms)
		}
	}
	if p := rep.result("js-paced"); p == nil || p.Restart != nil || !strings.Contains(p.Placement, "embedded") {
		t.Errorf("js-paced: %+v", p)
	}
	if p := rep.result("js-paced"); p != nil && p.Fire != nil && len(p.Fire.Timeline) < 10 {
		t.Errorf("a 1 s spread at -timeline 100ms has %d points, want 10 or more", len(p.Fire.Timeline))
	}
	found := false
	for _, q := range rep.Ratios() {
		if q.Timerd == "timerd" && q.Other == "js-paced" {
			found = true
			if q.LagP99 <= 0 || q.FireRate <= 0 || q.Ingest != 0 || q.Memory != 0 {
				t.Errorf("timerd / js-paced: %+v (want lag and fire rate only)", q)
			}
		}
	}
	if !found {
		t.Error("no timerd / js-paced ratio")
	}
	md := rep.Markdown("r-lag.svg", "r-rates.svg")
	for _, want := range []string{"| js-paced | in memory |", "The js-paced floor publishes", "fire lag p99 into a dedup stream <= 1.5x the js-paced floor",
		"timerd, first receipt on a core subscription", "(r-core.svg)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestSeparateProcesses runs the contenders whose server is a binary of
// its own (built by the bench), and checks the report says so and states
// how single-request ingest is made fair.
func TestSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and runs them; skipped with -short")
	}
	rep, _ := runReport(t, "-contenders", "nats-sched-bin,timerd-bin,js-paced-bin", "-capture", "-timers", "2000", "-due", "2s", "-spread", "1s",
		"-inflight", "256", "-grace", "5s")
	checkFired(t, rep, false)
	for _, r := range rep.Results {
		if !strings.Contains(r.Placement, "in its own process") {
			t.Errorf("%s: placement %q", r.Contender, r.Placement)
		}
		if r.RSSAfter <= 0 || r.HeapAfter != -1 && r.Contender != "timerd-bin" {
			t.Errorf("%s: RSS %d, heap %d: want the child's RSS and no heap for nats-server", r.Contender, r.RSSAfter, r.HeapAfter)
		}
	}
	md := rep.Markdown("l.svg", "r.svg")
	for _, want := range []string{"timerd-bin against nats-sched-bin, is like for like", "same 256 requests in flight", "both servers in their own processes"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
