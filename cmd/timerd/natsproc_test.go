package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/nodetest"
)

// The multi-node tests run nats-server as a process of its own, built
// from the pinned module without the race detector: a server inside the
// race-instrumented test binary is several times slower, and on a busy
// 2-core machine it starves the nodes' heartbeats.

var (
	natsBuildOnce sync.Once
	natsBinPath   string
	natsBuildErr  error
)

func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "timerd-nats-server")
		if err != nil {
			natsBuildErr = err
			return
		}
		natsBinPath = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", natsBinPath, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsBuildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsBuildErr != nil {
		t.Fatal(natsBuildErr)
	}
	return natsBinPath
}

// natsProc is one nats-server process with JetStream on 127.0.0.1,
// restartable on the same ports and store.
type natsProc struct {
	t    *testing.T
	name string
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

func newNATSProc(t *testing.T, name string, extra ...string) *natsProc {
	t.Helper()
	p := &natsProc{t: t, name: name, port: freePort(t)}
	p.args = append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(p.port), "-js", "-sd", t.TempDir(), "-n", name}, extra...)
	t.Cleanup(p.stop)
	return p
}

func (p *natsProc) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.port) }

// start runs the server and waits until it takes connections.
func (p *natsProc) start() {
	p.t.Helper()
	cmd := exec.Command(natsServerBinary(p.t), p.args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // ends when the process does
	p.cmd, p.done = cmd, done
	nodetest.Eventually(p.t, 20*time.Second, func() error {
		nc, err := nats.Connect(p.url(), nats.Timeout(time.Second))
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
}

// stop shuts the server down (SIGTERM, then SIGKILL after 10 s).
func (p *natsProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}
