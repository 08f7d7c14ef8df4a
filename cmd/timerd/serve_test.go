package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/nodetest"
)

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The embedded default, as a user runs it: health, readiness and metrics on
// --http, and SIGTERM ends it cleanly, with status 0, within 5 s.
func TestServeHTTPAndSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	port, httpPort := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	cmd := exec.Command(timerdBinary(t), "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(),
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	nodetest.Eventually(t, 30*time.Second, func() error {
		if code, body := httpGet(base + "/readyz"); code != 200 {
			return fmt.Errorf("/readyz: %d %s", code, body)
		}
		return nil
	})
	if code, _ := httpGet(base + "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("timerd.schedule")
	m.Header.Set("Timer-In", "1h")
	m.Header.Set("Timer-Subject", "metrics.x")
	if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(base + "/metrics")
	if code != 200 || !strings.Contains(body, "timerd_timers 1") || !strings.Contains(body, "timerd_ready 1") || !strings.Contains(body, "timerd_fire_lag_seconds_bucket") {
		t.Fatalf("/metrics: %d\n%.2000s", code, body)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("SIGTERM took %v, want at most 5 s", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10 s after SIGTERM")
	}
}
