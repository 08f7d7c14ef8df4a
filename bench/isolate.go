package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// runIsolated runs one contender in a child process of this binary with
// the same flags, so that its memory is measured from a fresh runtime and
// no contender inherits another's heap, caches or garbage.
func runIsolated(ctx context.Context, c *config, ct Contender) Result {
	failed := func(err error) Result {
		logf(&c.o, "[%s] FAILED: %v", ct.Name(), err)
		return Result{Contender: ct.Name(), About: ct.About(), Placement: placement(ct), Timers: c.w.Timers, HeapPerPending: -1, Failed: err.Error()}
	}
	exe, err := os.Executable()
	if err != nil {
		return failed(err)
	}
	out, err := os.CreateTemp(c.o.WorkDir, "timerd-bench-result-*.json")
	if err != nil {
		return failed(err)
	}
	out.Close()
	defer os.Remove(out.Name())
	args := append(append([]string{}, c.args...), "-isolate=false", "-child", ct.Name(), "-child-out", out.Name())
	if c.o.TimerdBin != "" {
		args = append(args, "-timerd-bin", c.o.TimerdBin)
	}
	if c.o.NATSServerBin != "" {
		args = append(args, "-nats-server-bin", c.o.NATSServerBin)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, c.o.Log
	cmd.Dir, _ = os.Getwd()
	if err := cmd.Run(); err != nil {
		if _, statErr := os.Stat(out.Name()); statErr != nil {
			return failed(fmt.Errorf("child process: %w", err))
		}
	}
	data, err := os.ReadFile(out.Name())
	if err != nil || len(data) == 0 {
		return failed(fmt.Errorf("child process wrote no result: %v", err))
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return failed(fmt.Errorf("child result: %w", err))
	}
	return res
}

// runChild is the child side: run the one contender, write its result.
func runChild(ctx context.Context, c *config, logw io.Writer) int {
	list, err := parseContenders(c.child)
	if err != nil {
		fmt.Fprintln(logw, "bench:", err)
		return 2
	}
	c.o.Log = logw
	res := runOne(ctx, list[0], &c.w, &c.o)
	data, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(logw, "bench:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Clean(c.childOut), data, 0o644); err != nil {
		fmt.Fprintln(logw, "bench:", err)
		return 1
	}
	return 0
}
