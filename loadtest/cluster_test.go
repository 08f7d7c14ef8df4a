package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/bench/embed"
)

// TestClusterSmoke is the CI-sized cluster run: the built timerd as three
// processes on a nats-server of the load test's own, a few seconds of load
// with cancels and replaces through any node, a kill -9 of one node and
// then a SIGSTOP of another past its lease TTL (4 s by default), and a
// passing verdict: nothing lost, nothing twice in the dedup stream,
// nothing early, nothing fired after its cancel.
func TestClusterSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds timerd and runs it as three processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "timerd")
	if err := embed.GoBuild(ctx, "./cmd/timerd", bin); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-spawn", bin, "-nodes", "3", "-rate", "300", "-duration", "7s", "-delay-min", "200ms", "-delay-max", "2s",
		"-cancel", "0.1", "-replace", "0.05", "-grace", "10s",
		"-fault", "mix", "-faults", "2", "-fault-first", "1s", "-fault-every", "2s", "-stop-for", "5s",
		"-name", "cluster", "-out", out, "-work", t.TempDir(), "-max-time", "90s"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	v := rep.Verdict
	if !rep.Passed || v.Timers < 1000 || v.Fired == 0 || rep.Stats.Cancelled == 0 || rep.Recounted < v.Fired {
		t.Errorf("report: passed %v, verdict %+v, stats %+v, recounted %d", rep.Passed, v, rep.Stats, rep.Recounted)
	}
	if len(rep.Faults) != 2 {
		t.Fatalf("faults %+v, want a kill and a stop", rep.Faults)
	}
	for k, want := range []struct{ kind, node string }{{"kill", "n1: "}, {"stop", "n2: "}} {
		f := rep.Faults[k]
		if f.Kind != want.kind || !strings.HasPrefix(f.Detail, want.node) || f.Error != "" || f.Until <= f.At {
			t.Errorf("fault %d: %+v, want %s of %s, the cluster whole again after it", k, f, want.kind, want.node)
		}
		if f.Lag == nil || f.Lag.Fires == 0 {
			t.Errorf("fault %d: no fires due during it: %+v", k, f.Lag)
		}
	}
	// A node lost for good hands its shards over within the lease TTL and
	// a reload; a lag far past that is a failover that did not happen.
	if l := rep.FaultLag; l == nil || l.MaxMs > 10000 {
		t.Errorf("lag during faults %+v, want at most ~5 s (TTL 4 s and a reload)", l)
	}
	t.Logf("%s", stdout.String())
}
