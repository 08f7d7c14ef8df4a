// Package embed starts what the bench and loadtest tools measure: an
// embedded nats-server with JetStream, a whole timerd node in this process
// (wired as `timerd serve` wires it, from the same exported constructors),
// and the built timerd binary as a child process. Everything listens on
// 127.0.0.1 only, and every wait is bounded.
package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/nodetest"
)

// StartNATS starts an embedded nats-server with JetStream file storage in
// dir, on 127.0.0.1:port (0 picks a free port).
func StartNATS(dir string, port int, name string) (*server.Server, error) {
	return jetstream.StartEmbedded(context.Background(), jetstream.EmbeddedConfig{
		Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), DataDir: dir, Name: name,
	})
}

// StopNATS shuts ns down and waits for it.
func StopNATS(ns *server.Server) {
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// Port is the client port ns listens on.
func Port(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

// Connect opens a client connection to url that reconnects for ever (a
// restarted server comes back on the same port).
func Connect(url, name string) (*nats.Conn, error) {
	return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(64<<20), nats.Timeout(2*time.Second))
}

// TimerdOptions tune an in-process node; zero values take serve's defaults.
type TimerdOptions struct {
	Shards   int
	MaxBatch int
	Logger   *slog.Logger
}

// Timerd is a whole timerd node in this process (embedded NATS, store, fire
// publisher, node, API service), wired by internal/nodetest exactly as the
// tests wire it.
type Timerd struct{ *nodetest.Node }

// StartTimerd starts a node storing under dir on a free port.
func StartTimerd(ctx context.Context, dir string, opts TimerdOptions) (*Timerd, error) {
	n, err := nodetest.Launch(ctx, dir, nodetest.Options{Shards: opts.Shards, MaxBatch: opts.MaxBatch, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &Timerd{n}, nil
}

// Restart stops the node cleanly and starts it again on the same data and
// port; it returns when the node has loaded its timers (is ready).
func (t *Timerd) Restart(ctx context.Context) error { return t.Reopen(ctx) }

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RSS is the resident set size of process pid in bytes, from /proc.
func RSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("embed: no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// SelfMemory returns this process's RSS and Go heap in use after a full
// collection that hands freed memory back to the OS, so two samples differ
// by what is live, not by garbage.
func SelfMemory() (rss, heap int64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err = RSS(os.Getpid())
	return rss, int64(ms.HeapInuse), err
}

// WaitFor polls fn every interval until it returns nil, ctx ends or total
// passes; it returns fn's last error then.
func WaitFor(ctx context.Context, total, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", total, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

// CPU is the user and system CPU time process pid has used, as
// /proc/PID/stat counts it (in clock ticks of 1/100 s).
func CPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, errors.New("embed: unreadable /proc/" + strconv.Itoa(pid) + "/stat")
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("embed: short /proc/" + strconv.Itoa(pid) + "/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
