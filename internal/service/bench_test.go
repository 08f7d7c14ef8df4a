package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// BenchmarkBatchIngest schedules b.N one-shots (due in an hour) through
// timerd.batch, 1000 a request, 4 requests in flight; reports timers/s.
func BenchmarkBatchIngest(b *testing.B) {
	n := nodetest.Start(b, nodetest.Options{})
	c := client.New(n.Connect(), client.WithTimeout(time.Minute))
	ctx := context.Background()
	const size, inFlight = 1000, 4
	work := make(chan []client.Timer, inFlight)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				if _, err := c.Batch(ctx, batch); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += size {
		batch := make([]client.Timer, 0, size)
		for j := i; j < min(i+size, b.N); j++ {
			batch = append(batch, client.Timer{ID: fmt.Sprintf("b-%d", j), Subject: "bench.x", In: time.Hour, Data: payload})
		}
		work <- batch
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "timers/s")
}

// BenchmarkSingleIngest schedules b.N one-shots one request each, 256 in
// flight; reports timers/s.
func BenchmarkSingleIngest(b *testing.B) {
	n := nodetest.Start(b, nodetest.Options{})
	nc := n.Connect()
	c := client.New(nc, client.WithTimeout(time.Minute))
	ctx := context.Background()
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := c.Schedule(ctx, client.Timer{ID: fmt.Sprintf("s-%d", i), Subject: "bench.x", In: time.Hour, Data: payload}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "timers/s")
}

// BenchmarkRestartLoad stores b.N pending one-shots (64-byte payloads)
// through timerd.batch, restarts the node cleanly and reports how long it
// takes until the node is ready to fire again (run with -benchtime
// 1000000x for the 1M goal).
func BenchmarkRestartLoad(b *testing.B) { restartLoad(b, false) }

// BenchmarkRestartLoadSingle is the same with the timers created by single
// requests (512 in flight): more, smaller group records to replay.
func BenchmarkRestartLoadSingle(b *testing.B) { restartLoad(b, true) }

func restartLoad(b *testing.B, single bool) {
	n := nodetest.Start(b, nodetest.Options{})
	c := client.New(n.Connect(), client.WithTimeout(time.Minute))
	ctx := context.Background()
	payload := make([]byte, 64)
	timer := func(j int) client.Timer {
		return client.Timer{ID: fmt.Sprintf("r-%d", j), Subject: "restart.x", In: time.Hour, Data: payload}
	}
	if single {
		next := make(chan int)
		var wg sync.WaitGroup
		for range 512 {
			wg.Go(func() {
				for j := range next {
					if _, err := c.Schedule(ctx, timer(j)); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for j := range b.N {
			next <- j
		}
		close(next)
		wg.Wait()
	} else {
		for i := 0; i < b.N; i += 1000 {
			batch := make([]client.Timer, 0, 1000)
			for j := i; j < min(i+1000, b.N); j++ {
				batch = append(batch, timer(j))
			}
			if _, err := c.Batch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	n.Stop()
	start := time.Now()
	n.Restart() // stop is a no-op now; this is the start on the same data
	loaded := time.Since(start)
	b.StopTimer()
	st, err := c.Stats(ctx)
	if err != nil || st.Timers != int64(b.N) {
		b.Fatalf("after the restart: %d timers (%v), want %d", st.Timers, err, b.N)
	}
	b.ReportMetric(loaded.Seconds(), "s-to-ready")
	b.ReportMetric(float64(st.Store.Records)/float64(b.N), "records/timer")
}
