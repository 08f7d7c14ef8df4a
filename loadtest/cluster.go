package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/timerd/timerd/bench/embed"
)

// wholeWait bounds the wait, after a fault, for the cluster to be whole
// again (every node normal, every shard held): a cluster that does not
// heal within it is reported as the fault's error.
const wholeWait = time.Minute

// startCluster starts a nats-server in this process (a fault never reaches
// it: only the timerd nodes are faulted) and o.Nodes timerd processes
// joined to it, and returns once they hold every shard between them.
func (t *Target) startCluster(ctx context.Context, o *Options) error {
	ns, err := embed.StartNATS(filepath.Join(t.dir, "nats"), 0, "loadtest-nats")
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	t.ns, t.URL = ns, ns.ClientURL()
	t.logDir, t.logName = o.OutDir, o.Name
	t.cluster, err = embed.StartCluster(ctx, embed.ClusterConfig{Bin: o.Spawn, URL: t.URL, Nodes: o.Nodes, Prefix: o.Gen.Prefix,
		LogDir: o.OutDir, LogName: o.Name, Extra: strings.Fields(o.TimerdArgs)})
	if err != nil {
		return fmt.Errorf("%d timerd nodes: %w", o.Nodes, err)
	}
	return nil
}

// faultNode applies fault kind to node k mod N, so that successive faults
// go round the nodes, and returns once the cluster is whole again: the
// node is back, registered normal, and the shards are held by the nodes
// hashing gives them. The detail names the node and times each step.
func (t *Target) faultNode(ctx context.Context, k int, kind string, fc FaultConfig) (string, error) {
	t.noteExits() // before this fault's own kill or stop hides an exit
	p := t.cluster.Nodes[k%len(t.cluster.Nodes)]
	began := time.Now()
	detail := p.Name + ": "
	var err error
	switch kind {
	case "kill":
		pid := p.Pid()
		p.Kill()
		sleep(ctx, fc.RestartAfter)
		err = p.Start()
		detail += fmt.Sprintf("kill -9 pid %d, started again %v later as pid %d", pid, fc.RestartAfter, p.Pid())
	case "stop":
		pid := p.Pid()
		if err = p.Signal(syscall.SIGSTOP); err != nil {
			break
		}
		sleep(ctx, fc.StopFor) // SIGCONT follows even when ctx has ended
		err = p.Signal(syscall.SIGCONT)
		detail += fmt.Sprintf("SIGSTOP pid %d for %v, SIGCONT", pid, fc.StopFor)
	case "restart":
		pid := p.Pid()
		p.Stop()
		stopped := time.Since(began)
		err = p.Start()
		detail += fmt.Sprintf("SIGTERM pid %d (exited in %v), started again as pid %d", pid, stopped.Round(time.Millisecond), p.Pid())
	default:
		err = fmt.Errorf("unknown fault %q", kind)
	}
	if err != nil {
		return detail, err
	}
	back := time.Now()
	if err := p.WaitReady(ctx, wholeWait); err != nil {
		return detail, fmt.Errorf("%s not ready again: %w", p.Name, err)
	}
	ready := time.Since(back)
	if err := t.cluster.WaitWhole(ctx, wholeWait); err != nil {
		return detail, fmt.Errorf("the cluster is not whole again: %w", err)
	}
	detail += fmt.Sprintf("; ready %v and whole %v after that", ready.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	return detail, nil
}

// noteExits records every node whose process ended by itself (a crash, a
// fatal error) since the last look, with where its log is; a fault's own
// kill or stop is not one.
func (t *Target) noteExits() {
	if t.cluster == nil {
		return
	}
	for _, p := range t.cluster.Nodes {
		done, err := p.Exited()
		key := fmt.Sprintf("%s pid %d", p.Name, p.Pid())
		if !done || t.exitSeen[key] {
			continue
		}
		if t.exitSeen == nil {
			t.exitSeen = map[string]bool{}
		}
		t.exitSeen[key] = true
		t.Exits = append(t.Exits, fmt.Sprintf("%s exited by itself (%v); its log: %s", key, err, filepath.Join(t.logDir, t.logName+"-"+p.Name+".log")))
	}
}

// closeCluster stops the nodes, then the NATS server they were on.
func (t *Target) closeCluster() {
	if t.cluster != nil {
		t.cluster.Close()
	}
	embed.StopNATS(t.ns)
}

// faultKind is the kind of fault number k: the one asked for, or with
// "mix" kill, stop and restart in turn, shifted by one each round of the
// nodes, so every node meets every kind within three rounds.
func faultKind(kind string, k, nodes int) string {
	if kind != "mix" {
		return kind
	}
	return [...]string{"kill", "stop", "restart"}[(k+k/max(nodes, 1))%3]
}

// errNoCluster is returned for cluster options given without a cluster.
var errNoCluster = errors.New("-nodes needs -spawn: the timerd binary each node runs")
