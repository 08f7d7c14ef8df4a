package service

import (
	"sync/atomic"
	"testing"
	"time"
)

// Workers are reused while busy, never more than the jobs at once, and all
// end once stop is closed (goleak checks the package's tests too).
func TestWorkersReuseAndEnd(t *testing.T) {
	stop := make(chan struct{})
	w := newWorkers(stop)
	var ran atomic.Int64
	done := make(chan struct{}, 1)
	for range 1000 {
		w.run(func() { ran.Add(1); done <- struct{}{} })
		<-done // one job at a time: each finds the same idle worker...
		time.Sleep(200 * time.Microsecond)
	}
	if ran.Load() != 1000 {
		t.Fatalf("ran %d jobs, want 1000", ran.Load())
	}
	// ...so far fewer goroutines than jobs were started.
	if n := w.started.Load(); n > 500 {
		t.Fatalf("%d workers started for 1000 sequential jobs: they are not reused", n)
	}
	close(stop)
	finished := make(chan struct{})
	go func() { w.wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("workers did not end after stop")
	}
}
