package service

import (
	"sync"
	"sync/atomic"
	"time"
)

// workers runs request handlers on goroutines that outlive their request:
// a fresh goroutine per request starts with a small stack and grows it
// (copying) on every request, which measured about 6% of a node's CPU
// under single requests. A worker that has handled a request waits up to
// workerIdle for the next one, its grown stack with it; the number of
// workers is bounded by the requests handled at once (the service's slots).
type workers struct {
	jobs    chan func() // unbuffered: a send succeeds only into an idle worker
	stop    <-chan struct{}
	wg      sync.WaitGroup
	started atomic.Int64 // workers ever started (tests)
}

const workerIdle = 5 * time.Second

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{jobs: make(chan func()), stop: stop}
}

// run runs fn on an idle worker, or on a new one.
func (w *workers) run(fn func()) {
	select {
	case w.jobs <- fn:
	default:
		w.wg.Add(1)
		w.started.Add(1)
		go w.work(fn)
	}
}

func (w *workers) work(fn func()) {
	defer w.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(workerIdle)
		select {
		case fn = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// wait waits for every worker to end (after stop is closed and their
// requests are done).
func (w *workers) wait() { w.wg.Wait() }
