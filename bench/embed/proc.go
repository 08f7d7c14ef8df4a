package embed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Proc is a server binary running as a child process on 127.0.0.1: the
// built timerd with its embedded NATS server (StartProc), a timerd node
// joined to a NATS system (StartNodeProc), or a plain nats-server
// (StartNATSProc).
type Proc struct {
	Path, Dir string
	Port      int    // NATS client port (unused by a node on another server)
	NATS      string // a node's NATS URL: where it connects, not a server of its own
	Name      string // a node's name (--node)
	HTTPPort  int    // readiness (and, for timerd, /metrics)
	Log       io.Writer
	Extra     []string // more flags after the ones argv makes

	argv  func(p *Proc) []string // the command line, from the ports and dir
	ready string                 // HTTP path that answers 200 once the server is ready
	cmd   *exec.Cmd
	done  chan error
}

// StartProc starts `path serve` storing under dir, logging to log (nil:
// discarded), and waits until it is ready (bounded by ctx and 5 minutes).
func StartProc(ctx context.Context, path, dir string, log io.Writer, extra ...string) (*Proc, error) {
	return startProc(ctx, &Proc{Path: path, Dir: dir, Log: log, Extra: extra, argv: timerdArgv, ready: "/readyz"})
}

func timerdArgv(p *Proc) []string {
	return []string{"serve",
		"--listen", "127.0.0.1:" + strconv.Itoa(p.Port),
		"--http", "127.0.0.1:" + strconv.Itoa(p.HTTPPort),
		"--data", p.Dir, "--log-level", "warn"}
}

// StartNodeProc starts `path serve --nats url --node name` (no server of
// its own, no data directory: the node keeps everything in NATS), logging
// to log, and waits until its /readyz answers 200: connected, registered,
// and its shards loaded (bounded by ctx and 5 minutes).
func StartNodeProc(ctx context.Context, path, url, name string, log io.Writer, extra ...string) (*Proc, error) {
	return startProc(ctx, &Proc{Path: path, NATS: url, Name: name, Log: log, Extra: extra, argv: nodeArgv, ready: "/readyz"})
}

func nodeArgv(p *Proc) []string {
	return []string{"serve", "--nats", p.NATS, "--node", p.Name,
		"--http", "127.0.0.1:" + strconv.Itoa(p.HTTPPort), "--log-level", "warn"}
}

// StartNATSProc starts the nats-server binary at path with JetStream
// storing under dir, configured as StartNATS configures the embedded one
// (server name, 127.0.0.1, defaults otherwise), and waits until /healthz
// says JetStream is up.
func StartNATSProc(ctx context.Context, path, dir, name string, log io.Writer) (*Proc, error) {
	return startProc(ctx, &Proc{Path: path, Dir: dir, Log: log, argv: func(p *Proc) []string {
		return []string{"-a", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-m", strconv.Itoa(p.HTTPPort),
			"-js", "-sd", p.Dir, "-n", name}
	}, ready: "/healthz"})
}

func startProc(ctx context.Context, p *Proc) (*Proc, error) {
	var err error
	if p.Port, err = FreePort(); err != nil {
		return nil, err
	}
	if p.HTTPPort, err = FreePort(); err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, 5*time.Minute); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// URL is the NATS URL of the child (timerd's embedded server, or
// nats-server), or the one a node connects to.
func (p *Proc) URL() string {
	if p.NATS != "" {
		return p.NATS
	}
	return "nats://127.0.0.1:" + strconv.Itoa(p.Port)
}

// Pid is the child's process id (0 when not running).
func (p *Proc) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Start launches the child (again, after Kill or Stop) with the same data
// and ports; it does not wait for readiness.
func (p *Proc) Start() error {
	args := append(p.argv(p), p.Extra...)
	cmd := exec.Command(p.Path, args...)
	out := p.Log
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Path, err)
	}
	p.cmd = cmd
	p.done = make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
	return nil
}

// WaitReady polls the readiness path until it answers 200 or total passes.
func (p *Proc) WaitReady(ctx context.Context, total time.Duration) error {
	url := "http://127.0.0.1:" + strconv.Itoa(p.HTTPPort) + p.ready
	client := &http.Client{Timeout: time.Second}
	return WaitFor(ctx, total, 5*time.Millisecond, func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return errors.Join(fmt.Errorf("%s exited", p.Path), err)
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// Exited says whether the child has ended on its own (not by Kill or
// Stop), and how: its wait error.
func (p *Proc) Exited() (bool, error) {
	if p.cmd == nil {
		return false, nil
	}
	select {
	case err := <-p.done:
		p.done <- err // Kill and Stop still find it
		return true, err
	default:
		return false, nil
	}
}

// Signal sends sig to the child.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New("embed: process not running")
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the child to go.
func (p *Proc) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a stopped child must run to die cleanly
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// Stop sends SIGTERM and waits up to 15 s for a clean exit, then kills.
func (p *Proc) Stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// RSS is the child's resident set size in bytes.
func (p *Proc) RSS() (int64, error) {
	if p.Pid() == 0 {
		return 0, os.ErrProcessDone
	}
	return RSS(p.Pid())
}
