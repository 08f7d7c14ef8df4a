package main

import (
	"context"
	"time"
)

// FaultConfig schedules faults against the target.
type FaultConfig struct {
	Kind         string        // "", "kill", "stop", "restart" or "mix" (the three in turn)
	First        time.Duration // first fault, after the start of the load
	Every        time.Duration // then every this long
	Count        int           // at most this many
	StopFor      time.Duration // SIGSTOP length
	RestartAfter time.Duration // pause between kill -9 and the restart
}

// FaultEvent is one fault that happened.
type FaultEvent struct {
	At     float64 `json:"at_s"` // seconds after the start
	Kind   string  `json:"kind"`
	Detail string  `json:"detail"`
	Error  string  `json:"error,omitempty"`
	// Until is when the fault was over and the target back (ready; for a
	// cluster, whole again), in seconds after the start: with At it is the
	// fault's window.
	Until float64 `json:"until_s"`
	// Lag is that of the fires due within the window.
	Lag *LagFigures `json:"lag,omitempty"`
}

// runFaults injects faults on schedule until Count is reached, ctx ends,
// or stopNew is closed (a fault under way then still completes, so a
// SIGSTOP lasts as long as asked); each event goes to report as it ends.
func runFaults(ctx context.Context, stopNew <-chan struct{}, t *Target, fc FaultConfig, nodes int, start time.Time, report func(FaultEvent)) {
	if fc.Kind == "" || fc.Count <= 0 {
		return
	}
	next := start.Add(fc.First)
	for k := 0; k < fc.Count; k++ {
		wait := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
		case <-stopNew:
		case <-wait.C:
		}
		wait.Stop()
		select {
		case <-ctx.Done():
			return
		case <-stopNew:
			return
		default:
		}
		kind := faultKind(fc.Kind, k, nodes)
		ev := FaultEvent{At: time.Since(start).Seconds(), Kind: kind}
		detail, err := t.Fault(ctx, k, kind, fc)
		ev.Detail, ev.Until = detail, time.Since(start).Seconds()
		if err != nil {
			ev.Error = err.Error()
		}
		report(ev)
		next = next.Add(fc.Every)
	}
}
