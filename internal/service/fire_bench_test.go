package service_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// BenchmarkFireIntoDedupStream measures, in one run, how fast timerd stores
// b.N due fires in a stream with a duplicate window, beside raw JetStream
// async publishing of b.N messages with only a Nats-Msg-Id on the same
// subjects: the ratio is the figure of merit (goal >= 0.8).
func BenchmarkFireIntoDedupStream(b *testing.B) { fireVsRaw(b, false) }

// BenchmarkFireVsRawSameHeaders is the same, with the raw messages carrying
// the headers a fire carries (Timer-Id, Timer-Due, Timer-Fire and a dedup id
// of the same shape): it separates timerd's own cost from the cost of the
// fire's headers in the server.
func BenchmarkFireVsRawSameHeaders(b *testing.B) { fireVsRaw(b, true) }

func fireVsRaw(b *testing.B, fireHeaders bool) {
	n := nodetest.Start(b, nodetest.Options{})
	nc := n.Connect()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	mk := func(name, prefix string) jetstream.Stream {
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}, Duplicates: 2 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	raw, fires := mk("RAW", "raw"), mk("FIRE", "fire")
	waitFor := func(s jetstream.Stream, want uint64) {
		for {
			info, err := s.Info(ctx)
			if err == nil && info.State.Msgs >= want {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	payload := make([]byte, 64)
	b.ResetTimer()

	// Raw: async publishes with a dedup id, 4096 acks outstanding at most.
	start := time.Now()
	for i := range b.N {
		m := nats.NewMsg("raw." + strconv.Itoa(i%1024))
		m.Data = payload
		m.Header.Set("Nats-Msg-Id", "raw."+strconv.Itoa(i))
		if fireHeaders {
			now := time.Now()
			m.Header.Set("Timer-Id", "f-"+strconv.Itoa(i))
			m.Header.Set("Timer-Due", now.UTC().Format(time.RFC3339Nano))
			m.Header.Set("Timer-Fire", "1")
			m.Header.Set("Nats-Msg-Id", "timerd.f-"+strconv.Itoa(i)+"."+strconv.FormatInt(now.UnixNano(), 10))
		}
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	waitFor(raw, uint64(b.N))
	rawRate := float64(b.N) / time.Since(start).Seconds()

	// timerd: b.N timers all due at one instant, after they are stored.
	c := client.New(nc, client.WithTimeout(time.Minute))
	due := time.Now().Add(time.Hour) // replaced below once ingest is done
	var items []client.Timer
	for i := range b.N {
		items = append(items, client.Timer{ID: fmt.Sprintf("f-%d", i), Subject: "fire." + strconv.Itoa(i%1024), At: due, Data: payload})
	}
	due = time.Now().Add(time.Second + time.Duration(b.N)*20*time.Microsecond) // ingest takes ~8µs a timer
	for i := range items {
		items[i].At = due
	}
	for i := 0; i < len(items); i += 1000 {
		if _, err := c.Batch(ctx, items[i:min(i+1000, len(items))]); err != nil {
			b.Fatal(err)
		}
	}
	if time.Now().After(due) {
		b.Fatalf("ingest outlasted the due time; raise the margin")
	}
	waitFor(fires, uint64(b.N))
	fireRate := float64(b.N) / time.Since(due).Seconds()
	b.ReportMetric(rawRate, "raw-msgs/s")
	b.ReportMetric(fireRate, "fires/s")
	b.ReportMetric(fireRate/rawRate, "ratio")
}

// BenchmarkIdleFireLag fires b.N timers 5 ms apart (run it with
// -benchtime 2000x: that is 10 s) on an otherwise idle node
// and reports the delivery lag (receive time minus Timer-Due) percentiles.
func BenchmarkIdleFireLag(b *testing.B) {
	n := nodetest.Start(b, nodetest.Options{})
	nc := n.Connect()
	var lags []time.Duration
	var got atomic.Int64
	done := make(chan struct{})
	lagCh := make(chan time.Duration, b.N)
	sub, err := nc.Subscribe("lag.x", func(m *nats.Msg) {
		due, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Timer-Due"))
		lagCh <- time.Since(due)
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := client.New(nc)
	start := time.Now().Add(200 * time.Millisecond)
	var items []client.Timer
	for i := range b.N {
		items = append(items, client.Timer{ID: fmt.Sprintf("l-%d", i), Subject: "lag.x", At: start.Add(time.Duration(i) * 5 * time.Millisecond)})
	}
	b.ResetTimer()
	for i := 0; i < len(items); i += 1000 {
		if _, err := c.Batch(context.Background(), items[i:min(i+1000, len(items))]); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Duration(b.N)*5*time.Millisecond + 30*time.Second):
		b.Fatalf("%d of %d fires arrived", got.Load(), b.N)
	}
	close(lagCh)
	for l := range lagCh {
		if l < 0 {
			b.Fatalf("a fire arrived %v before its due time", -l)
		}
		lags = append(lags, l)
	}
	slices.Sort(lags)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lags[len(lags)/2]), "p50-ms")
	b.ReportMetric(ms(lags[len(lags)*99/100]), "p99-ms")
	b.ReportMetric(ms(lags[len(lags)-1]), "max-ms")
}
