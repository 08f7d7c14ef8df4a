package wheel

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server/thw"
)

// Side-by-side benchmarks: this wheel, nats-server's server/thw, and
// runtime timers (time.AfterFunc + Stop), each with 1e3, 1e6 and 1e7 live
// timers. The command and results are in docs/benchmarks.md:
//
//	go test -run '^$' -bench . -benchtime 1s -timeout 60m ./internal/wheel
//
// Every benchmark builds its first live set once (b.Loop runs the
// function once) and reports B/entry, the Go heap growth per live timer
// measured with runtime.MemStats around that build.
//
// Add+cancel: n live timers due 1h to 2h ahead (so runtime timers never
// fire during a run); each op adds one more timer due 1s to 2h ahead and
// cancels it. ns/op is wall time; cpu-ns/op is the process's CPU time
// (user+system, both cores) per op, which also counts the garbage
// collection that allocating runtime timers causes on the other core.

var liveSizes = []struct {
	name string
	n    int
}{{"1e3", 1e3}, {"1e6", 1e6}, {"1e7", 1e7}}

const (
	benchStart = int64(1_700_000_000) * int64(time.Second)
	hour       = int64(time.Hour)
	delayMask  = 1<<16 - 1
)

// rng is a xorshift64 generator: deterministic and cheap enough to use
// inside a timed loop.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

// loopDelays are the delays of the timers added inside add+cancel loops:
// 1s to 2h.
var loopDelays = func() []int64 {
	r := rng(0x9E3779B97F4A7C15)
	d := make([]int64, delayMask+1)
	for i := range d {
		d[i] = int64(time.Second) + int64(r.next()%uint64(2*hour-int64(time.Second)))
	}
	return d
}()

// heapBytes returns the live Go heap after a full collection.
func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// perEntry measures the heap growth per live timer caused by build.
func perEntry(n int, build func()) float64 {
	before := heapBytes()
	build()
	return float64(int64(heapBytes())-int64(before)) / float64(n)
}

func BenchmarkAddCancel(b *testing.B) {
	for _, size := range liveSizes {
		b.Run("live="+size.name+"/impl=wheel", func(b *testing.B) { addCancelWheel(b, size.n) })
		b.Run("live="+size.name+"/impl=thw", func(b *testing.B) { addCancelTHW(b, size.n) })
		b.Run("live="+size.name+"/impl=runtime", func(b *testing.B) { addCancelRuntime(b, size.n) })
	}
}

func addCancelWheel(b *testing.B, n int) {
	var w *Wheel
	bytes := perEntry(n, func() {
		w = New(time.Millisecond, benchStart)
		r := rng(1)
		for i := range n {
			w.Add(benchStart+hour+int64(r.next()%uint64(hour)), uint64(i))
		}
	})
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		h := w.Add(benchStart+loopDelays[i&delayMask], uint64(i))
		w.Cancel(h)
		i++
	}
	reportCPU(b, cpu)
	b.ReportMetric(bytes, "B/entry")
	runtime.KeepAlive(w)
}

func addCancelTHW(b *testing.B, n int) {
	var hw *thw.HashWheel
	bytes := perEntry(n, func() {
		hw = thw.NewHashWheel()
		r := rng(1)
		for i := range n {
			hw.Add(uint64(i), benchStart+hour+int64(r.next()%uint64(hour)))
		}
	})
	seq := uint64(n)
	cpu := cpuTime()
	for b.Loop() {
		due := benchStart + loopDelays[seq&delayMask]
		hw.Add(seq, due)
		if err := hw.Remove(seq, due); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	reportCPU(b, cpu)
	b.ReportMetric(bytes, "B/entry")
	runtime.KeepAlive(hw)
}

func addCancelRuntime(b *testing.B, n int) {
	fire := func() { panic("a benchmark timer fired") }
	timers := make([]*time.Timer, n)
	bytes := perEntry(n, func() {
		r := rng(1)
		for i := range timers {
			timers[i] = time.AfterFunc(time.Duration(hour+int64(r.next()%uint64(hour))), fire)
		}
	})
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		t := time.AfterFunc(time.Duration(loopDelays[i&delayMask]), fire)
		t.Stop()
		i++
	}
	reportCPU(b, cpu)
	b.ReportMetric(bytes, "B/entry")
	for _, t := range timers {
		t.Stop()
	}
}

// BenchmarkExpire measures the cost of handing out expired timers.
//
//   - wheel/step: the node's loop with no wake-up latency: Next, then
//     Advance to exactly that time, one call per distinct due (and per
//     slot start when Next is a lower bound).
//   - wheel/jump: one Advance over the whole hour, as after a restart.
//   - thw/jump: one ExpireTasks with every entry already expired (thw reads
//     the clock itself, so it cannot step through simulated time).
//   - runtime/fire: n time.AfterFunc timers due 1µs apart, starting a
//     few ms after they are armed; ns/expire is the process's CPU time
//     (user+system, both cores) from the end of arming until every
//     callback has run, per timer. Each fire starts a
//     goroutine. Not run at 1e7: that would hold 1e7 timers for 10s of
//     wall time per round on a shared 2-core machine.
//
// Each op hands out the n live timers; ns/expire is the time per timer
// (wall time for the wheel and thw, which run on the benchmark goroutine).
func BenchmarkExpire(b *testing.B) {
	for _, size := range liveSizes {
		b.Run("live="+size.name+"/impl=wheel/step", func(b *testing.B) { expireWheel(b, size.n, false) })
		b.Run("live="+size.name+"/impl=wheel/jump", func(b *testing.B) { expireWheel(b, size.n, true) })
		b.Run("live="+size.name+"/impl=thw/jump", func(b *testing.B) { expireTHW(b, size.n) })
		if size.n <= 1e6 {
			b.Run("live="+size.name+"/impl=runtime/fire", func(b *testing.B) { expireRuntime(b, size.n) })
		}
	}
}

// fillHour adds n entries due uniformly within the hour after the wheel's
// time.
func fillHour(w *Wheel, n int, r *rng) {
	now := w.now
	for i := range n {
		w.Add(now+1+int64(r.next()%uint64(hour)), uint64(i))
	}
}

func expireWheel(b *testing.B, n int, jump bool) {
	var w *Wheel
	r := rng(2)
	bytes := perEntry(n, func() {
		w = New(time.Millisecond, benchStart)
		fillHour(w, n, &r)
	})
	expired, calls := 0, 0
	count := func(uint64, int64) { expired++ }
	fresh := true
	for b.Loop() {
		if !fresh {
			b.StopTimer()
			fillHour(w, n, &r)
			b.StartTimer()
		}
		fresh = false
		if jump {
			w.Advance(w.now+hour, count)
			calls++
			continue
		}
		for w.Len() > 0 {
			due, _ := w.Next()
			w.Advance(due, count)
			calls++
		}
	}
	if expired != b.N*n {
		b.Fatalf("handed out %d timers, want %d", expired, b.N*n)
	}
	reportExpire(b, expired)
	b.ReportMetric(float64(calls)/float64(expired), "advances/expire")
	b.ReportMetric(bytes, "B/entry")
}

func expireTHW(b *testing.B, n int) {
	var hw *thw.HashWheel
	r := rng(2)
	fill := func() {
		now := time.Now().UnixNano()
		for i := range n {
			hw.Add(uint64(i), now-hour+int64(r.next()%uint64(hour)))
		}
	}
	bytes := perEntry(n, func() {
		hw = thw.NewHashWheel()
		fill()
	})
	expired := 0
	count := func(uint64, int64) bool { expired++; return true }
	fresh := true
	for b.Loop() {
		if !fresh {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		fresh = false
		hw.ExpireTasks(count)
	}
	if expired != b.N*n {
		b.Fatalf("handed out %d timers, want %d", expired, b.N*n)
	}
	reportExpire(b, expired)
	b.ReportMetric(bytes, "B/entry")
}

func expireRuntime(b *testing.B, n int) {
	const spacing = time.Microsecond
	var round struct {
		fired atomic.Int64
		done  chan struct{}
	}
	fire := func() {
		if round.fired.Add(1) == int64(n) {
			close(round.done)
		}
	}
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		round.fired.Store(0)
		round.done = make(chan struct{})
		// Arming takes well under 5µs a timer; start the window after it.
		first := time.Now().Add(time.Duration(n)*5*time.Microsecond + 5*time.Millisecond)
		for i := range n {
			time.AfterFunc(time.Until(first.Add(time.Duration(i)*spacing)), fire)
		}
		// Count CPU time from the end of arming: the process is idle
		// but for the runtime's own background work until the first fire.
		before := cpuTime()
		b.StartTimer()
		<-round.done
		cpu += cpuTime() - before
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "ns/expire")
	b.ReportMetric(float64(b.N*n)/cpu.Seconds()/1e6, "Mexpire/s")
}

// reportCPU reports the process's CPU time since start per op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportExpire(b *testing.B, expired int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(expired)
	b.ReportMetric(ns, "ns/expire")
	b.ReportMetric(1e3/ns, "Mexpire/s")
}
