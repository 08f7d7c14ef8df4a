package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// timerdBinary builds this command once per test run.
func timerdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "timerd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "timerd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a real timerd process on a fixed port and data directory.
type process struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	url  string
}

func startProcess(t *testing.T, data string, port int) *process {
	p := &process{t: t, url: fmt.Sprintf("nats://127.0.0.1:%d", port),
		args: []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data, "--mark-interval", "100ms", "--log-level", "warn"}}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *process) start() {
	p.t.Helper()
	p.cmd = exec.Command(timerdBinary(p.t), p.args...)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	// Ready when the API answers stats with ready: true.
	nodetest.Eventually(p.t, 30*time.Second, func() error {
		nc, err := nats.Connect(p.url)
		if err != nil {
			return err
		}
		defer nc.Close()
		m, err := nc.Request("timerd.stats", nil, time.Second)
		if err != nil {
			return err
		}
		var st api.Stats
		if err := json.Unmarshal(m.Data, &st); err != nil || !st.Ready {
			return fmt.Errorf("not ready: %s", m.Data)
		}
		return nil
	})
}

// kill is kill -9: no shutdown, no flush.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

func TestKill9DuringFiringLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	data, port := t.TempDir(), freePort(t)
	p := startProcess(t, data, port)
	nc, err := nats.Connect(p.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CRASH", Subjects: []string{"crash.>"}, Duplicates: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	// 3000 timers due over 3 s, starting in 1 s; two far in the future.
	c := client.New(nc, client.WithTimeout(10*time.Second))
	const count = 3000
	start := time.Now().Add(time.Second)
	for b := 0; b < count; b += 500 {
		var batch []client.Timer
		for i := b; i < b+500; i++ {
			batch = append(batch, client.Timer{ID: fmt.Sprintf("c-%04d", i), Subject: fmt.Sprintf("crash.%d", i%10),
				At: start.Add(time.Duration(i) * time.Millisecond), Data: []byte("x")})
		}
		res, err := c.Batch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Error != "" {
				t.Fatalf("element %d: %s", i, r.Error)
			}
		}
	}
	far := client.Timer{ID: "far", Subject: "crash.far", At: time.Now().Add(240 * time.Hour)}
	if _, err := c.Schedule(ctx, far); err != nil {
		t.Fatal(err)
	}

	stored := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	// Kill twice while firing: once early, once later in the run.
	for _, atLeast := range []uint64{300, 1500} {
		nodetest.Eventually(t, 30*time.Second, func() error {
			if n := stored(); n < atLeast {
				return fmt.Errorf("%d fires stored, waiting for %d", n, atLeast)
			}
			return nil
		})
		p.kill()
		p.start()
	}
	nodetest.Eventually(t, 60*time.Second, func() error {
		if n := stored(); n != count {
			return fmt.Errorf("%d fires stored, want %d", n, count)
		}
		return nil
	})
	// Each timer's occurrence once, never before its due time.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range count {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		id := m.Headers().Get("Timer-Id")
		if seen[id] {
			t.Fatalf("timer %s stored twice", id)
		}
		seen[id] = true
		due, err := time.Parse(time.RFC3339Nano, m.Headers().Get("Timer-Due"))
		meta, _ := m.Metadata()
		if err != nil || meta.Timestamp.Before(due) {
			t.Fatalf("timer %s stored at %v, before its due time %v (%v)", id, meta.Timestamp, due, err)
		}
	}
	if len(seen) != count {
		t.Fatalf("%d distinct timers fired, want %d", len(seen), count)
	}
	got, err := c.Get(ctx, "far")
	if err != nil || got.Next == "" {
		t.Fatalf("far-future timer after two kill -9: %+v %v", got, err)
	}
	// A later sentinel shows nothing else is still to come.
	if _, err := c.Schedule(ctx, client.Timer{ID: "sentinel", Subject: "crash.sentinel", In: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if n := stored(); n != count+1 {
			return fmt.Errorf("%d stored, want %d", n, count+1)
		}
		return nil
	})
}
