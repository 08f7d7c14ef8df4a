package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the -smoke preset in this process, as CI does with
// `go run ./bench -smoke`, and checks that every contender ran clean.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds-long run; skipped with -short")
	}
	rep, stdout := runReport(t, "-smoke", "-restart")
	if len(rep.Results) != 5 {
		t.Fatalf("%d results, want 5", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Failed != "" || r.Errors != 0 || r.IngestRate <= 0 {
			t.Errorf("%s: failed %q, %d errors, ingest %v/s", r.Contender, r.Failed, r.Errors, r.IngestRate)
		}
		if r.Fire == nil {
			continue
		}
		f := r.Fire
		if f.Lost != 0 || f.Early != 0 || f.AfterCancel != 0 || f.Fired == 0 || f.Cancelled == 0 {
			t.Errorf("%s: %+v", r.Contender, *f)
		}
		if r.Restart == nil || r.Restart.FiringMs <= 0 {
			t.Errorf("%s: no restart measured", r.Contender)
		}
	}
	if !strings.Contains(stdout, "| timerd-batch |") {
		t.Errorf("no table on stdout:\n%s", stdout)
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	c, err := flags([]string{"-smoke", "-timers", "50"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.w.Timers != 50 || c.w.Batch != 250 || c.o.Name != "smoke" {
		t.Errorf("explicit -timers should win over -smoke, the rest come from it: %+v", c.w)
	}
	if _, err := flags([]string{"-contenders", "nope"}, &stderr); err != nil {
		t.Fatal("contender names are checked later, by parseContenders")
	}
	if _, err := parseContenders("timerd,nope"); err == nil {
		t.Error("unknown contender accepted")
	}
	if _, err := flags([]string{"-cpuprofile", "lunch"}, &stderr); err == nil {
		t.Error("bad -cpuprofile accepted")
	}
	if _, err := flags([]string{"-core-lag"}, &stderr); err == nil {
		t.Error("-core-lag without -capture accepted")
	}
	if _, err := flags([]string{"-timeline", "1ms"}, &stderr); err == nil {
		t.Error("-timeline below 10ms accepted")
	}
	if code := run([]string{"-h"}, &stderr, &stderr); code != 0 {
		t.Errorf("-h exits %d", code)
	}
}
