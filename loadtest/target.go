package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/timerd/timerd/bench/embed"
)

// Target is the timerd under load: one this process starts (in-process,
// the spawned binary, or a cluster of spawned nodes on a nats-server of
// this process), or one at a given NATS URL, with an optional pid to fault
// and a command to restart it.
type Target struct {
	URL string

	inproc  *embed.Timerd
	proc    *embed.Proc
	cluster *embed.Cluster // -nodes: the nodes, on ns
	ns      *server.Server
	logDir  string // where the nodes log, and the file prefix
	logName string
	// Exits are the nodes that ended by themselves; exitSeen keys them by
	// name and pid. Written by the fault runner, then (once it has
	// returned) by the end of the run.
	Exits      []string
	exitSeen   map[string]bool
	logFile    *os.File
	dir        string // data of a timerd this process started
	restartCmd string

	mu      sync.Mutex // guards pid and cmds
	pid     int
	cmds    []*exec.Cmd // restart commands started, reaped at Close
	stopped bool        // SIGSTOPped right now
}

// StartTarget starts or attaches to timerd as the options say.
func StartTarget(ctx context.Context, o *Options) (*Target, error) {
	t := &Target{restartCmd: o.RestartCmd, pid: o.FaultPid}
	if o.NATS != "" {
		t.URL = o.NATS
		return t, nil
	}
	dir, err := os.MkdirTemp(o.WorkDir, "timerd-loadtest-")
	if err != nil {
		return nil, err
	}
	t.dir = dir
	if o.Spawn != "" {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, err
		}
		if o.Nodes > 0 {
			if err := t.startCluster(ctx, o); err != nil {
				t.Close()
				return nil, err
			}
			return t, nil
		}
		t.logFile, err = os.Create(filepath.Join(o.OutDir, o.Name+"-timerd.log"))
		if err != nil {
			return nil, err
		}
		t.proc, err = embed.StartProc(ctx, o.Spawn, dir, t.logFile)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.URL, t.pid = t.proc.URL(), t.proc.Pid()
		return t, nil
	}
	t.inproc, err = embed.StartTimerd(ctx, dir, embed.TimerdOptions{})
	if err != nil {
		t.Close()
		return nil, err
	}
	t.URL = t.inproc.URL()
	return t, nil
}

// Pid is the process faults go to (0: none).
func (t *Target) Pid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pid
}

// Fault applies fault number k of the given kind: to node k mod N of a
// cluster, else to the one target.
func (t *Target) Fault(ctx context.Context, k int, kind string, fc FaultConfig) (string, error) {
	if t.cluster != nil {
		return t.faultNode(ctx, k, kind, fc)
	}
	switch kind {
	case "kill":
		return t.Kill(ctx, fc.RestartAfter)
	case "stop":
		return t.Pause(ctx, fc.StopFor)
	case "restart":
		return t.Restart(ctx)
	}
	return "", fmt.Errorf("unknown fault %q", kind)
}

// Kill sends SIGKILL to the target and brings it back: the spawned binary
// is started again, a -restart-cmd is run (its process becomes the target).
func (t *Target) Kill(ctx context.Context, after time.Duration) (string, error) {
	switch {
	case t.proc != nil:
		t.proc.Kill()
		sleep(ctx, after)
		if err := t.proc.Start(); err != nil {
			return "", err
		}
		t.mu.Lock()
		t.pid = t.proc.Pid()
		t.mu.Unlock()
		// Ready again ends the fault's window in the report.
		detail := fmt.Sprintf("kill -9, restarted as pid %d", t.proc.Pid())
		return detail, t.proc.WaitReady(ctx, wholeWait)
	case t.inproc != nil:
		return "", errors.New("cannot kill -9 an in-process timerd; use -spawn, or -fault restart")
	}
	pid := t.Pid()
	if pid == 0 {
		return "", errors.New("-fault kill needs -fault-pid (or -spawn)")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return "", fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	if t.restartCmd == "" {
		return fmt.Sprintf("kill -9 %d (no -restart-cmd)", pid), nil
	}
	sleep(ctx, after)
	cmd := exec.Command("/bin/sh", "-c", t.restartCmd)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("-restart-cmd: %w", err)
	}
	t.mu.Lock()
	t.pid = cmd.Process.Pid
	t.cmds = append(t.cmds, cmd)
	t.mu.Unlock()
	return fmt.Sprintf("kill -9 %d, restart-cmd pid %d", pid, cmd.Process.Pid), nil
}

// Pause sends SIGSTOP, waits d, and sends SIGCONT.
func (t *Target) Pause(ctx context.Context, d time.Duration) (string, error) {
	if t.inproc != nil {
		return "", errors.New("cannot SIGSTOP an in-process timerd; use -spawn")
	}
	pid := t.Pid()
	if pid == 0 {
		return "", errors.New("-fault stop needs -fault-pid (or -spawn)")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return "", fmt.Errorf("SIGSTOP %d: %w", pid, err)
	}
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	sleep(ctx, d) // SIGCONT follows even when ctx has ended
	t.mu.Lock()
	t.stopped = false
	t.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return "", fmt.Errorf("SIGCONT %d: %w", pid, err)
	}
	return fmt.Sprintf("SIGSTOP %d for %v", pid, d), nil
}

// Restart stops the target cleanly (SIGTERM or an in-process stop) and
// starts it again.
func (t *Target) Restart(ctx context.Context) (string, error) {
	switch {
	case t.inproc != nil:
		if err := t.inproc.Restart(ctx); err != nil {
			return "", err
		}
		return "clean restart (in-process)", nil
	case t.proc != nil:
		t.proc.Stop()
		if err := t.proc.Start(); err != nil {
			return "", err
		}
		t.mu.Lock()
		t.pid = t.proc.Pid()
		t.mu.Unlock()
		return fmt.Sprintf("SIGTERM, restarted as pid %d", t.proc.Pid()), t.proc.WaitReady(ctx, wholeWait)
	}
	return "", errors.New("-fault restart needs a timerd this process starts (no -nats)")
}

// Close stops what this process started and removes its data.
func (t *Target) Close() {
	if t.inproc != nil {
		t.inproc.Stop()
	}
	if t.proc != nil {
		t.proc.Stop()
	}
	t.closeCluster()
	if t.logFile != nil {
		t.logFile.Close()
	}
	t.mu.Lock()
	if t.stopped && t.pid != 0 {
		_ = syscall.Kill(t.pid, syscall.SIGCONT)
	}
	cmds := t.cmds
	t.mu.Unlock()
	for _, c := range cmds {
		// A restart command runs the user's timerd: it is theirs to stop.
		// Only its zombie is reaped once it exits, without waiting here.
		go func() { _ = c.Wait() }()
	}
	if t.dir != "" {
		_ = os.RemoveAll(t.dir)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
