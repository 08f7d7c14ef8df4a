package service

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A request's context ends with context.DeadlineExceeded no sooner than
// the timeout after it arrived and at most a tick later; requests of one
// tick share a context, later ones get the next.
func TestDeadlines(t *testing.T) {
	const timeout = 64 * time.Millisecond
	d := newDeadlines(timeout)
	defer d.release()
	arrived := time.Now()
	ctx := d.forRequest()
	end, ok := ctx.Deadline()
	if !ok || end.Before(arrived.Add(timeout)) || end.After(time.Now().Add(timeout+d.tick)) {
		t.Fatalf("deadline %v after arrival, want %v to %v", end.Sub(arrived), timeout, timeout+d.tick)
	}
	select {
	case <-ctx.Done():
		if waited := time.Since(arrived); waited < timeout || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("done after %v with %v; want %v or more and a deadline error", waited, ctx.Err(), timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("context not done 10 s after a 64 ms timeout")
	}
	if next := d.forRequest(); next == ctx || next.Err() != nil {
		t.Fatalf("a request arriving after the deadline got the old context (%v)", next.Err())
	}
}

func TestDeadlinesShareAndRelease(t *testing.T) {
	d := newDeadlines(time.Hour) // ticks of ~56 s: the two requests share one
	a, b := d.forRequest(), d.forRequest()
	if a != b {
		t.Fatal("two requests arriving together got two contexts")
	}
	d.release()
	if !errors.Is(a.Err(), context.Canceled) {
		t.Fatalf("after release: %v", a.Err())
	}
}
