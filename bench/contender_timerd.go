package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/embed"
	"github.com/timerd/timerd/bench/pipe"
	"github.com/timerd/timerd/client"
)

// timerdContender is timerd through its protocol: single timerd.schedule
// requests with W.InFlight in flight, or timerd.batch requests of W.Batch
// timers with W.BatchInFlight in flight; in this process or as the built
// binary in a child process.
type timerdContender struct {
	name   string
	batch  bool
	binary bool

	inproc *embed.Timerd
	proc   *embed.Proc
	logf   *os.File
	probes int
}

func (c *timerdContender) Name() string { return c.name }
func (c *timerdContender) About() string {
	how := "timerd.schedule, one timer per request"
	if c.batch {
		how = "timerd.batch"
	}
	where := "in-process node (embedded NATS, store, node, API service)"
	if c.binary {
		where = "built binary `timerd serve` in a child process"
	}
	return how + "; " + where
}
func (c *timerdContender) Fires() bool { return true }

func (c *timerdContender) ServerProcess() bool { return c.binary }

func (c *timerdContender) Binaries() []string {
	if c.binary {
		return []string{"timerd"}
	}
	return nil
}

func (c *timerdContender) Placement() string {
	if c.binary {
		return "timerd binary (node + embedded nats-server) in its own process; bench client in the bench process"
	}
	return "timerd node and its embedded nats-server in the bench process, beside the bench client"
}

func (c *timerdContender) Start(ctx context.Context, env *Env) error {
	maxBatch := max(env.Workload.Batch, api.DefaultMaxBatch)
	if !c.binary {
		t, err := embed.StartTimerd(ctx, env.Dir, embed.TimerdOptions{MaxBatch: maxBatch})
		c.inproc = t
		return err
	}
	if env.TimerdBin == "" {
		return errors.New("no timerd binary: give -timerd-bin or let the bench build it")
	}
	f, err := os.Create(filepath.Join(env.LogDir, c.name+".log"))
	if err != nil {
		return err
	}
	c.logf = f
	args := append([]string{"--max-batch", strconv.Itoa(maxBatch)}, env.TimerdArgs...)
	c.proc, err = embed.StartProc(ctx, env.TimerdBin, env.Dir, f, args...)
	return err
}

func (c *timerdContender) URL() string {
	if c.binary {
		return c.proc.URL()
	}
	return c.inproc.URL()
}

// Memory of the binary is its RSS as the kernel sees it (no forced GC) and
// the Go heap in use from its /metrics.
func (c *timerdContender) Memory() (int64, int64, error) {
	if !c.binary {
		return embed.SelfMemory()
	}
	rss, err := c.proc.RSS()
	return rss, scrapeHeap(c.proc.HTTPPort), err
}

// ServerCPU implements serverCPU for the binary.
func (c *timerdContender) ServerCPU() (time.Duration, error) {
	if !c.binary {
		return 0, errors.New("timerd is in the bench's process")
	}
	return embed.CPU(c.proc.Pid())
}

// scrapeHeap reads go_memstats_heap_inuse_bytes from timerd's /metrics; -1
// when it cannot.
func scrapeHeap(port int) int64 { return int64(scrapeMetric(port, "go_memstats_heap_inuse_bytes")) }

// scrapeMetric reads an unlabelled metric from timerd's /metrics on port;
// -1 when it cannot.
func scrapeMetric(port int, name string) float64 {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func (c *timerdContender) Prepare(ctx context.Context, r *Run) error {
	if r.W.Capture {
		return createCaptureStream(ctx, r.JS)
	}
	return nil
}

func (c *timerdContender) Observe(ctx context.Context, r *Run) (func(), error) {
	if r.W.Capture {
		return observeStream(ctx, r, captureStream)
	}
	return observeCore(r)
}

func (c *timerdContender) timer(r *Run, i int) client.Timer {
	return client.Timer{ID: r.W.ID(i), Subject: r.W.Subject(i), At: time.Unix(0, r.T.Due(i)), Data: r.W.PayloadOf(i)}
}

func (c *timerdContender) Ingest(ctx context.Context, r *Run) error {
	if !c.batch {
		subject := api.DefaultPrefix + "." + api.EndpointSchedule
		return ingestPipelined(ctx, r, func(i int) (*nats.Msg, error) { return c.timer(r, i).Msg(subject) }, serviceError)
	}
	p, err := pipe.New(r.NC, r.W.BatchInFlight, 60*time.Second)
	if err != nil {
		return err
	}
	defer p.Close()
	subject := api.DefaultPrefix + "." + api.EndpointBatch
	items := make([]api.BatchItem, 0, r.W.Batch)
	for first := 0; first < r.W.Timers; first += r.W.Batch {
		items = items[:0]
		for i := first; i < min(first+r.W.Batch, r.W.Timers); i++ {
			item, err := c.timer(r, i).BatchItem()
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		body, err := json.Marshal(items)
		if err != nil {
			return err
		}
		n := len(items)
		err = p.Send(ctx, &nats.Msg{Subject: subject, Data: body}, func(m *nats.Msg, err error) {
			var results []api.BatchResult
			if err == nil {
				err = serviceError(m)
			}
			if err == nil {
				err = json.Unmarshal(m.Data, &results)
			}
			if err == nil && len(results) != n {
				err = fmt.Errorf("batch reply has %d results for %d timers", len(results), n)
			}
			for k := 0; k < n; k++ {
				ok := err == nil && results[k].Error == ""
				if err == nil && !ok {
					r.fail("batch element", fmt.Errorf("%d %s", results[k].Code, results[k].Error))
				}
				r.T.Scheduled(first+k, ok)
			}
			if err != nil {
				r.fail("batch", err)
			}
		})
		if err != nil {
			return err
		}
	}
	return p.Wait(ctx)
}

func (c *timerdContender) Cancel(ctx context.Context, r *Run, idx []int) error {
	return requestAll(ctx, r, idx, func(i int) *nats.Msg {
		m := nats.NewMsg(api.DefaultPrefix + "." + api.EndpointCancel)
		m.Header.Set(api.HeaderID, r.W.ID(i))
		return m
	}, func(i int, m *nats.Msg, err error) {
		if err == nil {
			err = serviceError(m)
		}
		if err == nil {
			r.T.Cancelled(i, time.Now().UnixNano())
		} else if !strings.HasPrefix(err.Error(), "404") { // 404: it fired before the cancel
			r.fail("cancel", err)
		}
	})
}

// Restart stops the in-process node cleanly, or kills the binary with
// SIGKILL, and starts it again on the same data.
func (c *timerdContender) Restart(ctx context.Context, r *Run) (time.Time, error) {
	if !c.binary {
		c.inproc.Stop()
		began := time.Now()
		err := c.inproc.Restart(ctx)
		return began, err
	}
	c.proc.Kill()
	began := time.Now()
	if err := c.proc.Start(); err != nil {
		return began, err
	}
	return began, c.proc.WaitReady(ctx, 5*time.Minute)
}

// Probe schedules a timer due now, retrying until timerd answers, and waits
// for its fire.
func (c *timerdContender) Probe(ctx context.Context, r *Run) error {
	c.probes++
	subject := "bench.probe." + strconv.Itoa(c.probes)
	sub, err := r.ObsNC.SubscribeSync(subject)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := r.ObsNC.Flush(); err != nil {
		return err
	}
	cl := client.New(r.NC, client.WithTimeout(time.Second))
	err = embed.WaitFor(ctx, time.Minute, 5*time.Millisecond, func() error {
		_, err := cl.Schedule(ctx, client.Timer{ID: "probe-" + strconv.Itoa(c.probes), Subject: subject})
		return err
	})
	if err != nil {
		return fmt.Errorf("probe schedule: %w", err)
	}
	if _, err := sub.NextMsg(time.Minute); err != nil {
		return fmt.Errorf("probe fire: %w", err)
	}
	return nil
}

func (c *timerdContender) Stop() {
	if c.inproc != nil {
		c.inproc.Stop()
	}
	if c.proc != nil {
		c.proc.Stop()
	}
	if c.logf != nil {
		c.logf.Close()
	}
}

// Diagnose asks timerd for its stats: what it holds, fired and has in flight.
func (c *timerdContender) Diagnose(ctx context.Context, r *Run) string {
	st, err := client.New(r.NC).Stats(ctx)
	if err != nil {
		return "timerd.stats: " + err.Error()
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// StoreWrites is timerd's count of JetStream messages written by its store.
func (c *timerdContender) StoreWrites(ctx context.Context, r *Run) (uint64, error) {
	st, err := client.New(r.NC).Stats(ctx)
	return st.Store.Writes, err
}
