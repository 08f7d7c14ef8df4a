package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	opts []nats.Option // how the readiness check connects (credentials, TLS)
}

func startProcess(t *testing.T, data string, port int, extra ...string) *process {
	p := &process{t: t, url: fmt.Sprintf("nats://127.0.0.1:%d", port),
		args: append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data, "--mark-interval", "100ms", "--log-level", "warn"}, extra...)}
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
		nc, err := nats.Connect(p.url, p.opts...)
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

// crashSetup starts a real timerd process on fresh data, connects to its
// embedded NATS, and creates a stream with a duplicate window capturing
// subjects: where the fires of a crash test are counted.
func crashSetup(t *testing.T, name, subjects string, extra ...string) (*process, *nats.Conn, context.Context, jetstream.Stream) {
	t.Helper()
	p := startProcess(t, t.TempDir(), freePort(t), extra...)
	nc, err := nats.Connect(p.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subjects}, Duplicates: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return p, nc, ctx, stream
}

// With --horizon 1s the timers start as far entries and are read back from
// their records between the kills; by default they are near entries.
func TestKill9DuringFiringLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	t.Run("near", func(t *testing.T) { kill9DuringFiring(t) })
	t.Run("far", func(t *testing.T) { kill9DuringFiring(t, "--horizon", "1s") })
}

func kill9DuringFiring(t *testing.T, extra ...string) {
	p, nc, ctx, stream := crashSetup(t, "CRASH", "crash.>", extra...)

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

// occurrences reads every stored fire of a stream: Timer-Id -> due times
// (in order) and Timer-Fire numbers.
func occurrences(t *testing.T, ctx context.Context, stream jetstream.Stream) (map[string][]time.Time, map[string][]int) {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dues, numbers := map[string][]time.Time{}, map[string][]int{}
	if info.State.Msgs == 0 {
		return dues, numbers
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get("Timer-Id")
		due, err := time.Parse(time.RFC3339Nano, m.Header.Get("Timer-Due"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Time.Before(due) {
			t.Fatalf("%s: occurrence %v stored early, at %v", id, due, m.Time)
		}
		n, _ := strconv.Atoi(m.Header.Get("Timer-Fire"))
		dues[id] = append(dues[id], due)
		numbers[id] = append(numbers[id], n)
	}
	return dues, numbers
}

func TestKill9RecurringFollowsMisfirePolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	p, nc, ctx, stream := crashSetup(t, "REC", "rec.>")
	c := client.New(nc, client.WithTimeout(10*time.Second))
	for _, policy := range []string{"all", "once", "skip"} {
		if _, err := c.Schedule(ctx, client.Timer{ID: policy, Subject: "rec." + policy, Cron: "* * * * * *", Misfire: policy}); err != nil {
			t.Fatal(err)
		}
	}
	waitFires := func(atLeast int, after time.Time) {
		nodetest.Eventually(t, 20*time.Second, func() error {
			dues, _ := occurrences(t, ctx, stream)
			for _, id := range []string{"all", "once", "skip"} {
				n := 0
				for _, d := range dues[id] {
					if d.After(after) {
						n++
					}
				}
				if n < atLeast {
					return fmt.Errorf("%s: %d fires after %v, waiting for %d", id, n, after, atLeast)
				}
			}
			return nil
		})
	}
	waitFires(2, time.Time{})
	p.kill()
	killed := time.Now()
	// The outage itself: the node is down for this long, so occurrences
	// are missed. (Not a wait for something to settle.)
	time.Sleep(3500 * time.Millisecond)
	p.start()
	waitFires(2, time.Now())

	dues, numbers := occurrences(t, ctx, stream)
	late := lateFires(t, ctx, stream, killed.Add(1100*time.Millisecond))
	for id, ns := range numbers {
		for i := range ns {
			if ns[i] != i+1 {
				t.Fatalf("%s: Timer-Fire numbers %v, want 1, 2, 3, ... with no gap or repeat", id, ns)
			}
			if i > 0 && !dues[id][i].After(dues[id][i-1]) {
				t.Fatalf("%s: occurrence %v after %v: repeated or out of order", id, dues[id][i], dues[id][i-1])
			}
		}
	}
	// all: every second from the first fire to the last, none missing, the
	// outage's ones caught up late.
	all := dues["all"]
	if got, want := len(all), int(all[len(all)-1].Sub(all[0])/time.Second)+1; got != want {
		t.Errorf("misfire all: %d occurrences between %v and %v, want every second (%d)", got, all[0], all[len(all)-1], want)
	}
	if late["all"] < 2 {
		t.Errorf("misfire all: %d occurrences of a 3.5 s outage caught up, want at least 2", late["all"])
	}
	if late["once"] != 1 {
		t.Errorf("misfire once: %d occurrences of the outage caught up, want exactly 1", late["once"])
	}
	if late["skip"] != 0 {
		t.Errorf("misfire skip: %d occurrences of the outage caught up, want none", late["skip"])
	}
}

// lateFires counts, per timer, the fires stored 300 ms or more after their
// due time, for occurrences due after from: the outage's catch-up fires
// (the occurrences of the last lease period before the kill are replayed
// as they were, and are not counted).
func lateFires(t *testing.T, ctx context.Context, stream jetstream.Stream, from time.Time) map[string]int {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		due, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Timer-Due"))
		if due.After(from) && m.Time.Sub(due) >= 300*time.Millisecond {
			late[m.Header.Get("Timer-Id")]++
		}
	}
	return late
}
