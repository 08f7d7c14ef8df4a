package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
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

// JSON logs chosen in the environment, with --log-level on the command line
// beating TIMERD_LOG_LEVEL: every line of a run, start to SIGTERM, is a JSON
// object, and the info lines are there.
func TestServeLogFormatJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	cmd := exec.Command(timerdBinary(t), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir(), "--log-level", "info")
	cmd.Env = append(os.Environ(), "TIMERD_LOG_FORMAT=json", "TIMERD_LOG_LEVEL=error")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024) // buffered: the reader never blocks, and ends at EOF
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
		}
	})
	var msgs []string
	check := func(line string) {
		var rec struct{ Time, Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Fatalf("log line %q is not a JSON record with time, level and msg: %v", line, err)
		}
		msgs = append(msgs, rec.Msg)
	}
	deadline := time.After(30 * time.Second)
	for !slices.Contains(msgs, "timerd ready") {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stderr ended before \"timerd ready\"; got %q", msgs)
			}
			check(line)
		case <-deadline:
			t.Fatalf("no \"timerd ready\" in 30 s; got %q", msgs)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		check(line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !slices.Contains(msgs, "stopped") {
		t.Fatalf("no \"stopped\" line; got %q", msgs)
	}
}
