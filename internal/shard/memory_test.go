package shard

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// BenchmarkMemoryPerTimer reports the live heap one pending one-shot costs
// a shard (entry, id, index, near definition or far bucket, wheel slot),
// with what a production timer carries: a 13-byte id, a subject, a 64 B
// payload. The records written are acknowledged and dropped, as a store
// would hold them, not the shard. b.N is ignored: 200,000 timers per run.
//
//	go test -run '^$' -bench MemoryPerTimer -benchtime 1x ./internal/shard
func BenchmarkMemoryPerTimer(b *testing.B) {
	for _, tc := range []struct {
		name string
		due  time.Duration
	}{{"near", 10 * time.Minute}, {"far", 30 * 24 * time.Hour}} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 200_000
			payload := make([]byte, 64)
			before := liveHeap()
			w := wheel.New(time.Millisecond, t0)
			s := New(Config{Horizon: time.Hour}, w)
			var seq uint64
			for i := range n {
				id := fmt.Sprintf("order-%08d", i)
				due := t0 + int64(tc.due) + int64(i)*int64(time.Millisecond)
				s.Schedule(t0, Token(i+1), Request{Timer: &record.Timer{ID: id, Subject: "orders.timeout", Kind: record.KindIn,
					Spec: "10m", Due: due, Created: t0, Payload: payload, ReqHash: uint64(i)}})
				for rd := s.Ready(); !rd.Empty(); rd = s.Ready() {
					for _, r := range rd.Records {
						seq++
						s.Acked(t0, r.ID, seq, nil)
					}
					if rd.Mark != nil {
						s.MarkWritten(*rd.Mark, nil)
					}
					if rd.PurgeBelow != 0 || len(rd.Deletes) > 0 {
						s.Purged(nil)
					}
				}
			}
			if c := s.Counts(); c.Timers != n {
				b.Fatalf("%d timers held, want %d", c.Timers, n)
			}
			after := liveHeap()
			b.ReportMetric(float64(after-before)/n, "B/timer")
			runtime.KeepAlive(s)
			runtime.KeepAlive(w)
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
