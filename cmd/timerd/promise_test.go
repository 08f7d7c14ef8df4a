package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watched is a timerd process whose exit and stderr the test watches.
type watched struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func startRun(t *testing.T, args ...string) *watched {
	t.Helper()
	r := &watched{cmd: exec.Command(timerdBinary(t), args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }() // ends with the process
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// exit waits (at most within) for the process to end and returns its code.
func (r *watched) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(within):
		t.Fatalf("still running after %v; stderr:\n%s", within, r.stderr)
	}
	if ee, ok := r.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

func httpStatus(url string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cpuTime is the user and system CPU time process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// The KV stream deleted while timerd runs: the node says so and exits
// non-zero (no spinning, no zombie); restarted on the same data it refuses
// to begin on an empty bucket silently, and does with --recreate-bucket.
func TestBucketDeletedWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	data, port := t.TempDir(), freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	args := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data, "--log-level", "warn"}
	r := startRun(t, args...)
	var nc *nats.Conn
	nodetest.Eventually(t, 30*time.Second, func() error {
		c, err := nats.Connect(url, nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			return err
		}
		if _, err = clusterStats(c); err != nil {
			c.Close()
			return err
		}
		nc = c
		return nil
	})
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, "KV_timerd"); err != nil {
		t.Fatal(err)
	}
	if code := r.exit(t, 20*time.Second); code == 0 || !strings.Contains(r.stderr.String(), "bucket is gone") {
		t.Fatalf("exit %d, stderr:\n%s", code, r.stderr)
	}
	again := startRun(t, args...)
	if code := again.exit(t, 20*time.Second); code == 0 || !strings.Contains(again.stderr.String(), "--recreate-bucket") {
		t.Fatalf("restart on the same data: exit %d, stderr:\n%s", code, again.stderr)
	}
	startRun(t, append(args, "--recreate-bucket")...)
	nodetest.Eventually(t, 30*time.Second, func() error {
		nc2, err := nats.Connect(url, nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			return err
		}
		defer nc2.Close()
		_, err = clusterStats(nc2)
		return err
	})
}

// natsAt runs a NATS server on a fixed port that the test can stop and start.
type natsAt struct {
	t     *testing.T
	opts  server.Options
	ns    *server.Server
	store string
}

func newNATSAt(t *testing.T, token string) *natsAt {
	n := &natsAt{t: t, store: t.TempDir()}
	n.opts = server.Options{Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: n.store, NoSigs: true, Authorization: token}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsAt) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

func (n *natsAt) start() {
	o := n.opts
	ns, err := server.NewServer(&o)
	if err != nil {
		n.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server did not start")
	}
	n.ns = ns
}

func (n *natsAt) stop() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
		n.ns = nil
	}
}

// NATS unreachable: /readyz says 503 (/healthz stays 200), and SIGTERM
// ends the process within --shutdown-timeout all the same.
func TestUnreachableNATSAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	ns := newNATSAt(t, "")
	hp := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	r := startRun(t, "serve", "--nats", ns.url(), "--node", "u", "--http", fmt.Sprintf("127.0.0.1:%d", hp),
		"--shutdown-timeout", "2s", "--log-level", "warn")
	nodetest.Eventually(t, 30*time.Second, func() error {
		if c := httpStatus(base + "/readyz"); c != 200 {
			return fmt.Errorf("/readyz %d", c)
		}
		return nil
	})
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	var batch []client.Timer
	for i := range 200 {
		batch = append(batch, client.Timer{ID: fmt.Sprint("due-", i), Subject: "due.x", In: time.Second + time.Duration(i)*20*time.Millisecond})
	}
	if _, err := client.New(nc).Batch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.stop()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if c := httpStatus(base + "/readyz"); c != 503 {
			return fmt.Errorf("/readyz %d with NATS down", c)
		}
		return nil
	})
	if c := httpStatus(base + "/healthz"); c != 200 {
		t.Fatalf("/healthz %d", c)
	}
	// Fenced and disconnected, with timers due: it waits, it does not spin.
	before := cpuTime(t, r.cmd.Process.Pid)
	time.Sleep(2 * time.Second)
	if used := cpuTime(t, r.cmd.Process.Pid) - before; used > 500*time.Millisecond {
		t.Fatalf("used %v of CPU in 2s while NATS was down", used)
	}
	start := time.Now()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	r.exit(t, 5*time.Second)
	if took := time.Since(start); took > 3500*time.Millisecond {
		t.Fatalf("SIGTERM took %v with --shutdown-timeout 2s", took)
	}
}

// A connection closed for good (here: the server now refuses timerd's
// credentials) ends the process with a clear message and a non-zero exit,
// instead of a zombie that answers /healthz and fires nothing.
func TestClosedConnectionEndsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	ns := newNATSAt(t, "first-token")
	r := startRun(t, "serve", "--nats", ns.url(), "--node", "z", "--token", "first-token", "--log-level", "warn")
	nodetest.Eventually(t, 30*time.Second, func() error {
		nc, err := nats.Connect(ns.url(), nats.Token("first-token"), nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			return err
		}
		defer nc.Close()
		_, err = clusterStats(nc)
		return err
	})
	ns.stop()
	ns.opts.Authorization = "second-token"
	ns.start()
	if code := r.exit(t, 30*time.Second); code == 0 || !strings.Contains(r.stderr.String(), "closed for good") {
		t.Fatalf("exit %d, stderr:\n%s", code, r.stderr)
	}
}

// A data block truncated between clean restarts: the start says how many
// messages the stream lost and refuses to begin silently with fewer
// timers; --skip-corrupt starts with what is left, saying so.
func TestTruncatedBlockIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	data, port := t.TempDir(), freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	args := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data, "--log-level", "warn"}
	r := startRun(t, args...)
	var nc *nats.Conn
	nodetest.Eventually(t, 30*time.Second, func() error {
		c, err := nats.Connect(url, nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			return err
		}
		if _, err = clusterStats(c); err != nil {
			c.Close()
			return err
		}
		nc = c
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := client.New(nc, client.WithTimeout(10*time.Second))
	const count = 2000
	for b := 0; b < count; b += 500 {
		var batch []client.Timer
		for i := b; i < b+500; i++ {
			batch = append(batch, client.Timer{ID: fmt.Sprintf("t-%05d", i), Subject: "dmg.x", At: time.Now().Add(100 * time.Hour), Data: []byte("payload")})
		}
		if _, err := cl.Batch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.exit(t, 10*time.Second); code != 0 {
		t.Fatalf("clean stop exit %d:\n%s", code, r.stderr)
	}
	blk := filepath.Join(data, "jetstream", "$G", "streams", "KV_timerd", "msgs", "1.blk")
	info, err := os.Stat(blk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blk, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	again := startRun(t, args...)
	if code := again.exit(t, 20*time.Second); code == 0 || !strings.Contains(again.stderr.String(), "were lost") ||
		!strings.Contains(again.stderr.String(), "--skip-corrupt") {
		t.Fatalf("start on a truncated block: exit %d, stderr:\n%s", code, again.stderr)
	}
	skip := startRun(t, append(args, "--skip-corrupt")...)
	nodetest.Eventually(t, 30*time.Second, func() error {
		c, err := nats.Connect(url, nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			return err
		}
		defer c.Close()
		st, err := clusterStats(c)
		if err != nil {
			return err
		}
		if st.Timers == 0 || st.Timers >= count {
			return fmt.Errorf("%d timers loaded", st.Timers)
		}
		return nil
	})
	if !strings.Contains(skip.stderr.String(), "starting with what is left") {
		t.Fatalf("--skip-corrupt did not say what it skipped:\n%s", skip.stderr)
	}
}
