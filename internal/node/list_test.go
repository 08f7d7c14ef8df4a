package node_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/shard"
	"github.com/timerd/timerd/internal/store"
)

// loadTimers schedules count one-shots due in two hours (far entries: not
// due during the test, but listed) through ScheduleBatch.
func loadTimers(tb testing.TB, n *node.Node, count int) {
	tb.Helper()
	due := time.Now().Add(2 * time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const batch = 2000
	for i := 0; i < count; i += batch {
		reqs := make([]shard.Request, 0, batch)
		for k := i; k < min(i+batch, count); k++ {
			id := fmt.Sprintf("held-%07d", k)
			reqs = append(reqs, oneShot(id, "plain.held", due))
		}
		_, errs := n.ScheduleBatch(ctx, reqs)
		for _, err := range errs {
			if err != nil {
				tb.Fatalf("loading timers: %v", err)
			}
		}
	}
}

// fireRun is what a steady run of fires measured.
type fireRun struct {
	fires       int
	p99, maxLag time.Duration // publish time minus due time
	maxGap      time.Duration // the longest time without a fire while fires were due
	pages       int           // list pages made during the run
}

// runFires schedules rate fires a second for d, waits until all have
// fired, and measures their lag; with listPage > 0, full lists (pages of
// listPage timers) run back to back until the last fire.
func runFires(tb testing.TB, n *node.Node, pub *fakePub, tag string, rate int, d time.Duration, listPage int) fireRun {
	tb.Helper()
	count := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	// Due once they are all scheduled: ~20µs a timer at most, measured.
	start := time.Now().Add(max(500*time.Millisecond, time.Duration(count)*40*time.Microsecond))
	reqs := make([]shard.Request, count)
	for k := range reqs {
		id := fmt.Sprintf("fire-%s-%07d", tag, k)
		reqs[k] = oneShot(id, "plain.fire", start.Add(time.Duration(k)*interval))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := int(pub.count.Load()) // nothing else fires during a run
	runtime.GC()                  // start both runs from the same heap state
	for i := 0; i < count; i += 2000 {
		if _, errs := n.ScheduleBatch(ctx, reqs[i:min(i+2000, count)]); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			tb.Fatalf("scheduling the fires: %v", errs)
		}
	}
	if time.Now().After(start) {
		tb.Fatalf("scheduling %d fires took past their first due time", count)
	}
	var run fireRun
	var wg sync.WaitGroup
	var pages atomic.Int64
	listCtx, stopList := context.WithCancel(ctx)
	defer stopList()
	if listPage > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for listCtx.Err() == nil {
				if err := listAll(listCtx, n, listPage, &pages); err != nil && listCtx.Err() == nil {
					tb.Errorf("list: %v", err)
					return
				}
			}
		}()
	}
	// Poll a counter, not the fires: copying them would load the very
	// loop being measured.
	deadline := time.Now().Add(d + time.Minute)
	for pub.count.Load() < int64(base+count) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopList() // a page being made ends with a 503: the run is over
	wg.Wait()
	run.pages = int(pages.Load())
	prefix := "fire-" + tag + "-"
	var mine []sentFire
	for _, f := range pub.firesFrom(base) {
		if strings.HasPrefix(f.id, prefix) {
			mine = append(mine, f)
		}
	}
	if len(mine) != count {
		tb.Fatalf("%d of %d fires published", len(mine), count)
	}
	lags := make([]time.Duration, len(mine))
	for i, f := range mine {
		lags[i] = f.at.Sub(f.due)
		if i > 0 {
			run.maxGap = max(run.maxGap, f.at.Sub(mine[i-1].at)-interval)
		}
	}
	slices.Sort(lags)
	run.fires, run.p99, run.maxLag = count, lags[len(lags)*99/100], lags[len(lags)-1]
	return run
}

// listAll pages through every timer, as `timerd ls` would, counting pages.
func listAll(ctx context.Context, n *node.Node, limit int, pages *atomic.Int64) error {
	for cursor := ""; ; {
		page, err := n.List(ctx, "", cursor, limit)
		if err != nil {
			return err
		}
		pages.Add(1)
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

func listNode(tb testing.TB, shards, timers int, cfg node.Config) (*node.Node, *fakePub) {
	mem := store.NewMem(shards)
	tb.Cleanup(mem.Close)
	pub := newFakePub(tb, time.Millisecond)
	n := startNode(tb, cfg, mem, pub)
	loadTimers(tb, n, timers)
	return n, pub
}

// A full list over many timers does not stall the fire loop: the longest
// time without a fire at a steady rate stays within a generous bound of
// the same run without the list. (Speed goals are the benchmark's.)
func TestListDoesNotStallFires(t *testing.T) {
	timers := 200_000
	if testing.Short() || raceEnabled {
		timers = 30_000 // the race detector makes loading and listing the slow part
	}
	n, pub := listNode(t, 16, timers, testConfig("n"))
	without := runFires(t, n, pub, "a", 1000, 2*time.Second, 0)
	with := runFires(t, n, pub, "b", 1000, 2*time.Second, 1000)
	t.Logf("%d timers, 1000 fires/s: without a list p99 lag %v, max lag %v, max gap %v; with %d list pages p99 %v, max %v, max gap %v",
		timers, without.p99, without.maxLag, without.maxGap, with.pages, with.p99, with.maxLag, with.maxGap)
	if with.pages == 0 {
		t.Fatal("no list page was made during the fires: the test measured nothing")
	}
	// Generous: other test processes share the CPUs, and the list's own
	// work competes for them. What it catches is a stall of a walk under
	// a lock, as List did before issue 10 (every timer under the node's lock).
	slack := 250 * time.Millisecond
	if raceEnabled {
		slack = time.Second
	}
	if bound := 4*without.maxGap + slack; with.maxGap > bound {
		t.Errorf("a full list stalled the fires for %v (without it the longest gap was %v; bound %v)", with.maxGap, without.maxGap, bound)
	}
}

// BenchmarkListDuringFires reports the fire lag at 20,000 fires/s over
// 1M held timers, without and with full lists running back to back:
//
//	go test -run '^$' -bench ListDuringFires -benchtime 1x ./internal/node/
func BenchmarkListDuringFires(b *testing.B) {
	cfg := testConfig("bench")
	cfg.MarkInterval = time.Second // the serve default
	n, pub := listNode(b, 64, 1_000_000, cfg)
	b.ResetTimer()
	for i := range b.N {
		without := runFires(b, n, pub, fmt.Sprintf("a%d", i), 20_000, 3*time.Second, 0)
		with := runFires(b, n, pub, fmt.Sprintf("b%d", i), 20_000, 3*time.Second, api.MaxLimit)
		b.Logf("run %d: without a list p99 %v max %v gap %v; with %d pages p99 %v max %v gap %v", i,
			without.p99, without.maxLag, without.maxGap, with.pages, with.p99, with.maxLag, with.maxGap)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(without.p99), "p99-ms-nolist")
		b.ReportMetric(ms(with.p99), "p99-ms-list")
		b.ReportMetric(ms(without.maxLag), "max-ms-nolist")
		b.ReportMetric(ms(with.maxLag), "max-ms-list")
		b.ReportMetric(float64(with.pages), "list-pages")
	}
}
