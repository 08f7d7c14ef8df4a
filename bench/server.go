// Where each contender runs, and how single-request ingest is compared
// fairly with NATS' scheduler.
//
// A contender's server runs either inside the process that measures it (the
// bench's child process, with -isolate) or in an OS process of its own:
//
//	js-msgid, kv, nats-sched, js-paced      nats-server embedded in the bench process
//	timerd, timerd-batch                    timerd (node + embedded nats-server) in the bench process
//	js-msgid-bin, nats-sched-bin,
//	js-paced-bin                            the nats-server binary in its own process
//	timerd-bin, timerd-bin-batch            the timerd binary (node + embedded nats-server) in its own process
//
// Inside the bench process the server shares the Go runtime (scheduler,
// GC, heap) with the load client, so a comparison is only like for like
// between contenders placed alike. For "single timerd.schedule requests >=
// 1x NATS' scheduler ingest" the fair pair is timerd-bin against
// nats-sched-bin:
//
//   - each server is its own OS process, built by `go build` from this
//     module (timerd from ./cmd/timerd, nats-server from the
//     github.com/nats-io/nats-server/v2 version go.mod pins, which is also
//     the server timerd embeds), with default server options, JetStream
//     file storage in a fresh directory, listening on 127.0.0.1;
//   - the load client is the bench process for both: the same
//     pipe.Pipeline with -inflight requests awaiting their replies (256 in
//     the documented runs), the same payload bytes (Workload.PayloadOf) and
//     fire subjects, and the same two client connections (one for the
//     requests, one observing fires);
//   - ingest is timed alike, from the first request sent to the last reply.
//
// What stays different is the work asked for, which is the point of the
// comparison: a timerd.schedule is a request and reply through timerd's
// micro service, which stores the timer (group commit) before replying; a
// NATS schedule is one JetStream publish and its ack.
package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/bench/embed"
)

// natsServer is the nats-server of the ceilings, NATS' scheduler and the
// js-paced floor: embedded in this process, or (bin) the nats-server
// binary in a child process.
type natsServer struct {
	bin  bool
	ns   *server.Server // embedded
	proc *embed.Proc    // bin
	logf *os.File       // bin: the child's output
	dir  string
	port int
}

func (s *natsServer) start(ctx context.Context, env *Env, name string) error {
	if !s.bin {
		ns, err := embed.StartNATS(env.Dir, s.port, name)
		if err != nil {
			return err
		}
		s.ns, s.dir, s.port = ns, env.Dir, embed.Port(ns)
		return nil
	}
	if env.NATSServerBin == "" {
		return errors.New("no nats-server binary: give -nats-server-bin or let the bench build it")
	}
	f, err := os.Create(filepath.Join(env.LogDir, name+".log"))
	if err != nil {
		return err
	}
	s.logf = f
	if s.proc, err = embed.StartNATSProc(ctx, env.NATSServerBin, env.Dir, name, f); err != nil {
		return err
	}
	s.dir, s.port = env.Dir, s.proc.Port
	return nil
}

func (s *natsServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Memory of the binary is its RSS as the kernel sees it (no forced GC, as
// for timerd-bin); its Go heap is not known from outside.
func (s *natsServer) Memory() (int64, int64, error) {
	if !s.bin {
		return embed.SelfMemory()
	}
	rss, err := s.proc.RSS()
	return rss, -1, err
}

// ServerCPU implements serverCPU for the binary.
func (s *natsServer) ServerCPU() (time.Duration, error) {
	if !s.bin || s.proc == nil {
		return 0, errors.New("the server is in the bench's process")
	}
	return embed.CPU(s.proc.Pid())
}

func (s *natsServer) Stop() {
	embed.StopNATS(s.ns)
	s.ns = nil
	if s.proc != nil {
		s.proc.Stop()
		s.proc = nil
	}
	if s.logf != nil {
		s.logf.Close()
		s.logf = nil
	}
}

// restart shuts the embedded server down cleanly, or kills the binary with
// SIGKILL (as timerd-bin is killed), and starts it on the same store and
// port; clients reconnect on their own.
func (s *natsServer) restart(ctx context.Context, name string) (time.Time, error) {
	if s.bin {
		s.proc.Kill()
		began := time.Now()
		if err := s.proc.Start(); err != nil {
			return began, err
		}
		return began, s.proc.WaitReady(ctx, 5*time.Minute)
	}
	embed.StopNATS(s.ns)
	s.ns = nil
	began := time.Now()
	ns, err := embed.StartNATS(s.dir, s.port, name)
	s.ns = ns
	return began, err
}

// ownConn is how the contender's own publisher connects: in process, as
// timerd's node connects to its embedded server, when the server is in
// this process; over 127.0.0.1 otherwise.
func (s *natsServer) ownConn(name string) (*nats.Conn, error) {
	if s.bin {
		return embed.Connect(s.URL(), name)
	}
	return nats.Connect(s.URL(), nats.Name(name), nats.InProcessServer(s.ns))
}

func (s *natsServer) ServerProcess() bool { return s.bin }

func (s *natsServer) Binaries() []string {
	if s.bin {
		return []string{"nats-server"}
	}
	return nil
}

func (s *natsServer) Placement() string {
	if s.bin {
		return "nats-server binary in its own process; bench client in the bench process"
	}
	return "nats-server embedded in the bench process, beside the bench client"
}

// placed is a contender that says where its server runs.
type placed interface {
	// ServerProcess says the server is in an OS process of its own.
	ServerProcess() bool
	// Binaries names the binaries the contender runs ("timerd",
	// "nats-server"); the bench builds those the flags do not give.
	Binaries() []string
	Placement() string
}

// placement is where c's server runs, for the report.
func placement(c Contender) string {
	if p, ok := c.(placed); ok {
		return p.Placement()
	}
	return ""
}

// inProcess says whether profiling this process profiles the contender's
// server.
func inProcess(c Contender) bool {
	p, ok := c.(placed)
	return !ok || !p.ServerProcess()
}
