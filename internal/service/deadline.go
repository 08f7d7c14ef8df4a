package service

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// deadlines hands out the contexts requests are handled in. Each ends
// timeout, and at most a tick more, after its request arrived; when the
// node has not confirmed by then, the request is answered 503. Requests
// arriving within the same tick share one context and its timer: a
// context.WithTimeout per request was ~5% of single-request ingest.
type deadlines struct {
	timeout, tick time.Duration
	cur           atomic.Pointer[deadline]

	mu   sync.Mutex  // held to start a deadline and to change live
	live []*deadline // the deadlines started and maybe not yet past
}

// deadline is the context of the requests arriving before until.
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	until  time.Time
}

// ticksPerTimeout is how finely deadlines round the timeout up.
const ticksPerTimeout = 64

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{timeout: timeout, tick: timeout / ticksPerTimeout}
}

// forRequest returns the context for a request arriving now.
func (d *deadlines) forRequest() context.Context {
	now := time.Now()
	if cur := d.cur.Load(); cur != nil && now.Before(cur.until) {
		return cur.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur := d.cur.Load(); cur != nil && now.Before(cur.until) {
		return cur.ctx
	}
	d.live = slices.DeleteFunc(d.live, func(l *deadline) bool { return l.ctx.Err() != nil })
	next := &deadline{until: now.Add(d.tick)}
	next.ctx, next.cancel = context.WithDeadline(context.Background(), next.until.Add(d.timeout))
	d.live = append(d.live, next)
	d.cur.Store(next)
	return next.ctx
}

// release cancels the contexts not yet past their deadline, stopping their
// timers. Call it once no request uses them.
func (d *deadlines) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.live {
		l.cancel()
	}
	d.live = nil
	d.cur.Store(nil)
}
