package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
	"github.com/timerd/timerd/internal/ring"
)

// runNATS starts a nats-server process with JetStream, for timerd
// processes to join with --nats.
func runNATS(t *testing.T) string {
	t.Helper()
	p := newNATSProc(t, "nats")
	p.start()
	return p.url()
}

// member is a timerd process joined to a NATS system with --nats.
type member struct {
	t    *testing.T
	name string
	args []string
	cmd  *exec.Cmd
	log  *lineWriter   // its stderr, all starts
	done chan struct{} // closed when the process has exited
	err  error
}

// joinNode starts `timerd serve --nats url --node name` without waiting.
func joinNode(t *testing.T, url, name string, extra ...string) *member {
	t.Helper()
	m := &member{t: t, name: name, log: prefixWriter(name), args: append([]string{"serve", "--nats", url, "--node", name,
		"--mark-interval", "200ms", "--log-level", "warn"}, extra...)}
	m.start()
	t.Cleanup(m.kill)
	return m
}

func (m *member) start() {
	m.cmd = exec.Command(timerdBinary(m.t), m.args...)
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { // ends when the process does
		m.err = cmd.Wait()
		close(done)
	}(m.cmd, m.done)
}

func (m *member) signal(s syscall.Signal) { _ = m.cmd.Process.Signal(s) }

func (m *member) kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGCONT)
	_ = m.cmd.Process.Kill()
	<-m.done
}

// exited reports whether the process has ended.
func (m *member) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// lineWriter copies a process's log to the test's stderr, each line
// prefixed with the process's name, and keeps it for logged.
type lineWriter struct {
	prefix string
	mu     sync.Mutex
	text   strings.Builder
}

func prefixWriter(name string) *lineWriter { return &lineWriter{prefix: "[" + name + "] "} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.text.Write(p)
	w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		fmt.Fprintln(os.Stderr, w.prefix+line)
	}
	return len(p), nil
}

// logged reports whether the process has logged s.
func (w *lineWriter) logged(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains(w.text.String(), s)
}

// clusterStats asks timerd.stats (any node answers) for the cluster view.
func clusterStats(nc *nats.Conn) (api.Stats, error) {
	m, err := nc.Request("timerd.stats", nil, 2*time.Second)
	if err != nil {
		return api.Stats{}, err
	}
	var st api.Stats
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return api.Stats{}, fmt.Errorf("stats %q: %w", m.Data, err)
	}
	return st, nil
}

// waitNodes waits until the registry shows want nodes normal, and every
// shard is held by one of them.
func waitNodes(t *testing.T, nc *nats.Conn, want ...string) {
	t.Helper()
	nodetest.Eventually(t, 60*time.Second, func() error {
		st, err := clusterStats(nc)
		if err != nil {
			return err
		}
		held, normal := 0, []string{}
		for _, n := range st.Nodes {
			if n.Health == "normal" {
				normal = append(normal, n.Name)
				held += n.Shards
			}
		}
		slices.Sort(normal)
		if !slices.Equal(normal, want) || held != st.Shards {
			return fmt.Errorf("nodes %+v: want %v normal holding all %d shards", st.Nodes, want, st.Shards)
		}
		if st.Cluster == nil || st.Cluster.Nodes != len(want) {
			return fmt.Errorf("cluster view %+v", st.Cluster)
		}
		return nil
	})
}

// fireCheck schedules count one-shots due from start over span on subject
// prefix sub (captured by a dedup stream), and later checks that each was
// stored exactly once and none before its due time.
type fireCheck struct {
	t      *testing.T
	stream jetstream.Stream
	ids    []string
	due    map[string]time.Time
}

func scheduleSpread(t *testing.T, ctx context.Context, nc *nats.Conn, stream jetstream.Stream, sub string, count int, start time.Time, span time.Duration) *fireCheck {
	t.Helper()
	c := client.New(nc, client.WithTimeout(20*time.Second))
	fc := &fireCheck{t: t, stream: stream, due: make(map[string]time.Time, count)}
	for b := 0; b < count; b += 500 {
		var batch []client.Timer
		for i := b; i < min(b+500, count); i++ {
			id := fmt.Sprintf("%s-%05d", sub, i)
			at := start.Add(span * time.Duration(i) / time.Duration(count))
			fc.ids = append(fc.ids, id)
			fc.due[id] = at
			batch = append(batch, client.Timer{ID: id, Subject: sub + "." + id, At: at, Data: []byte("x")})
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
	return fc
}

func (fc *fireCheck) stored(ctx context.Context) uint64 {
	info, err := fc.stream.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// verify waits for every fire and checks each timer fired once, never
// early; it returns the largest lag seen.
func (fc *fireCheck) verify(ctx context.Context, wait time.Duration) time.Duration {
	t := fc.t
	t.Helper()
	nodetest.Eventually(t, wait, func() error {
		if n := fc.stored(ctx); n < uint64(len(fc.ids)) {
			return fmt.Errorf("%d of %d fires stored", n, len(fc.ids))
		}
		return nil
	})
	// Read every message by sequence, retrying each read: a clustered
	// stream may be electing a leader.
	info, err := fc.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var worst time.Duration
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		var m *jetstream.RawStreamMsg
		nodetest.Eventually(t, 30*time.Second, func() error {
			var err error
			m, err = fc.stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			return err
		})
		if m == nil {
			continue
		}
		id := m.Header.Get(api.HeaderID)
		seen[id]++
		due, ok := fc.due[id]
		if !ok {
			t.Fatalf("a fire of unknown timer %q", id)
		}
		if m.Time.Before(due) {
			t.Errorf("%s stored at %s, before its due time %s", id, m.Time.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
		}
		worst = max(worst, m.Time.Sub(due))
	}
	for _, id := range fc.ids {
		if seen[id] != 1 {
			t.Errorf("%s stored %d times", id, seen[id])
		}
	}
	if n := fc.stored(ctx); n != uint64(len(fc.ids)) {
		t.Errorf("%d messages stored for %d timers", n, len(fc.ids))
	}
	return worst
}

func dedupStream(t *testing.T, ctx context.Context, nc *nats.Conn, name, subjects string, replicas int) jetstream.Stream {
	t.Helper()
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subjects}, Duplicates: 5 * time.Minute, Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// Three nodes share the shards; one is killed mid-firing, another paused
// past the TTL and resumed: every timer is stored exactly once, none early.
func TestClusterKillAndPauseLoseAndDuplicateNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	url := runNATS(t)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a := joinNode(t, url, "a")
	b := joinNode(t, url, "b")
	joinNode(t, url, "c")
	waitNodes(t, nc, "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream := dedupStream(t, ctx, nc, "CLUSTER", "cl.>", 1)
	fc := scheduleSpread(t, ctx, nc, stream, "cl", 6000, time.Now().Add(2*time.Second), 10*time.Second)

	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 600 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	a.kill() // kill -9 mid-firing
	killedAt := time.Now()
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 2500 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	b.signal(syscall.SIGSTOP) // paused past the TTL: c takes its shards
	time.Sleep(7 * time.Second)
	b.signal(syscall.SIGCONT)
	worst := fc.verify(ctx, 60*time.Second)
	// Default settings: a node silent 4 s is lost; its shards are loaded
	// elsewhere and their overdue timers fire at once.
	t.Logf("largest lag %v (a killed at %s, b paused 7 s)", worst, killedAt.Format(time.TimeOnly))
	if worst > 8*time.Second {
		t.Fatalf("a fire was %v late; a kill -9 should cost at most about 5 s", worst)
	}
	if b.exited() {
		t.Fatalf("the paused node exited after it resumed: %v", b.err)
	}
	// The resumed node comes back as a member and gets shards again.
	waitNodes(t, nc, "b", "c")
}

// A node that was paused while clients kept scheduling and cancelling
// (queued in its subscriptions) answers nothing it cannot keep: every
// timer answered 200 fires, and no cancel answered 200 is followed by a
// fire (issue: a paused active node answered 200 after its lease was gone).
func TestPausedNodeAnswersOnlyWhatItKeeps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	url := runNATS(t)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a := joinNode(t, url, "a")
	joinNode(t, url, "b")
	waitNodes(t, nc, "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream := dedupStream(t, ctx, nc, "PAUSE", "pz.>", 1)
	c := client.New(nc, client.WithTimeout(5*time.Second))

	var mu sync.Mutex
	scheduled := map[string]time.Time{} // answered 200
	cancelled := map[string]time.Time{} // cancel answered 200 at
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { // bounded: stops with stop
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				id := fmt.Sprintf("pz-%d-%d", w, i)
				due := time.Now().Add(12 * time.Second)
				if _, err := c.Schedule(ctx, client.Timer{ID: id, Subject: "pz." + id, At: due}); err != nil {
					continue // not answered 200: no promise
				}
				mu.Lock()
				scheduled[id] = due
				mu.Unlock()
				if i%3 == 0 {
					if _, err := c.Cancel(ctx, id); err == nil {
						mu.Lock()
						cancelled[id] = time.Now()
						mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	a.signal(syscall.SIGSTOP)
	time.Sleep(8 * time.Second)
	a.signal(syscall.SIGCONT)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	want := 0
	for id := range scheduled {
		if _, gone := cancelled[id]; !gone {
			want++
		}
	}
	mu.Unlock()
	if want < 100 {
		t.Fatalf("only %d timers scheduled", want)
	}
	nodetest.Eventually(t, 60*time.Second, func() error {
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs < uint64(want) {
			return fmt.Errorf("%d of %d fires stored", info.State.Msgs, want)
		}
		return nil
	})
	// Everything due has fired; look for fires of cancelled timers.
	time.Sleep(time.Second)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	fired := map[string]int{}
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		fired[m.Headers().Get(api.HeaderID)]++
	}
	for id := range scheduled {
		_, gone := cancelled[id]
		switch {
		case gone && fired[id] > 0:
			t.Errorf("%s fired after its cancel was answered 200", id)
		case !gone && fired[id] != 1:
			t.Errorf("%s answered 200 and fired %d times", id, fired[id])
		}
	}
	t.Logf("%d scheduled, %d cancelled, %d fires", len(scheduled), len(cancelled), info.State.Msgs)
	if a.exited() {
		t.Fatalf("the paused node exited: %v", a.err)
	}
}

// A node joins under load and another leaves (SIGTERM): shards move as
// the hashing says, by hand-off, and every timer is stored once, none
// early.
func TestClusterJoinAndLeaveUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	url := runNATS(t)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	joinNode(t, url, "a")
	b := joinNode(t, url, "b")
	waitNodes(t, nc, "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream := dedupStream(t, ctx, nc, "MOVES", "mv.>", 1)
	fc := scheduleSpread(t, ctx, nc, stream, "mv", 5000, time.Now().Add(2*time.Second), 12*time.Second)
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 800 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	joinNode(t, url, "c")
	waitNodes(t, nc, "a", "b", "c")
	checkOwnersFollowHashing(t, nc, []string{"a", "b", "c"})
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := fc.stored(ctx); n < 3000 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	b.signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("b did not stop within 10s of SIGTERM")
	}
	if b.err != nil {
		t.Fatalf("b exited with %v after SIGTERM", b.err)
	}
	waitNodes(t, nc, "a", "c")
	checkOwnersFollowHashing(t, nc, []string{"a", "c"})
	worst := fc.verify(ctx, 60*time.Second)
	t.Logf("largest lag %v", worst)
}

// checkOwnersFollowHashing checks each node holds the number of shards the
// ring gives it for this set of nodes.
func checkOwnersFollowHashing(t *testing.T, nc *nats.Conn, nodes []string) {
	t.Helper()
	nodetest.Eventually(t, 20*time.Second, func() error {
		st, err := clusterStats(nc)
		if err != nil {
			return err
		}
		want := map[string]int{}
		for _, i := range ring.Assign(st.Shards, nodes) {
			want[nodes[i]]++
		}
		for _, n := range st.Nodes {
			if n.Health != "lost" && n.Shards != want[n.Name] {
				return fmt.Errorf("node %s holds %d shards, hashing gives it %d", n.Name, n.Shards, want[n.Name])
			}
		}
		return nil
	})
}
