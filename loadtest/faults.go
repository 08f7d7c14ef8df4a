package main

import (
	"context"
	"fmt"
	"time"
)

// FaultConfig schedules faults against the target.
type FaultConfig struct {
	Kind         string        // "", "kill", "stop" or "restart"
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
}

// runFaults injects faults on schedule until ctx ends or Count is reached;
// each event goes to report as it happens.
func runFaults(ctx context.Context, t *Target, fc FaultConfig, start time.Time, report func(FaultEvent)) {
	if fc.Kind == "" || fc.Count <= 0 {
		return
	}
	next := start.Add(fc.First)
	for k := 0; k < fc.Count; k++ {
		sleep(ctx, time.Until(next))
		if ctx.Err() != nil {
			return
		}
		ev := FaultEvent{At: time.Since(start).Seconds(), Kind: fc.Kind}
		var detail string
		var err error
		switch fc.Kind {
		case "kill":
			detail, err = t.Kill(ctx, fc.RestartAfter)
		case "stop":
			detail, err = t.Pause(ctx, fc.StopFor)
		case "restart":
			detail, err = t.Restart(ctx)
		default:
			err = fmt.Errorf("unknown fault %q", fc.Kind)
		}
		ev.Detail = detail
		if err != nil {
			ev.Error = err.Error()
		}
		report(ev)
		next = next.Add(fc.Every)
	}
}
