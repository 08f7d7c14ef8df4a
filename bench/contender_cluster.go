package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/embed"
)

// clusterContender is timerd as a cluster of nodes: the nats-server binary
// in a process of its own, and nodes `timerd serve --nats URL --node nI`,
// each in a process of its own, all on that one server. The bench client
// sends timerd.batch requests, which the API's queue group spreads over
// the nodes; a node splits each batch by shard and hands the parts of
// shards it does not own to their owners over NATS, so with N nodes about
// (N-1)/N of the timers take that extra hop. The one-node variant runs the
// same processes on the same server with nothing to hand over, which makes
// the pair the measure of what the hand-off costs on the same cores.
type clusterContender struct {
	timerdContender // the protocol side: batch ingest, cancel, probe, observe, diagnose

	nodes   int
	nats    natsServer
	cluster *embed.Cluster
	notes   []string
}

func newCluster(name string, nodes int) *clusterContender {
	return &clusterContender{timerdContender: timerdContender{name: name, batch: true, binary: true}, nodes: nodes,
		nats: natsServer{bin: true}}
}

func (c *clusterContender) About() string {
	return fmt.Sprintf("timerd.batch through any node of %d timerd processes (--nats) on one nats-server process", c.nodes)
}

func (c *clusterContender) ServerProcess() bool    { return true }
func (c *clusterContender) Binaries() []string     { return []string{"timerd", "nats-server"} }
func (c *clusterContender) URL() string            { return c.nats.URL() }
func (c *clusterContender) Notes() []string        { return c.notes }
func (c *clusterContender) nodeLabel(i int) string { return "n" + strconv.Itoa(i+1) }

func (c *clusterContender) Placement() string {
	return fmt.Sprintf("nats-server binary in its own process; %d timerd node(s) (`timerd serve --nats URL --node nI`), each in its own process; bench client in the bench process", c.nodes)
}

func (c *clusterContender) Start(ctx context.Context, env *Env) error {
	if env.TimerdBin == "" {
		return errors.New("no timerd binary: give -timerd-bin or let the bench build it")
	}
	if err := c.nats.start(ctx, env, c.name+"-nats"); err != nil {
		return err
	}
	maxBatch := max(env.Workload.Batch, api.DefaultMaxBatch)
	var err error
	c.cluster, err = embed.StartCluster(ctx, embed.ClusterConfig{Bin: env.TimerdBin, URL: c.nats.URL(), Nodes: c.nodes,
		LogDir: env.LogDir, LogName: c.name, Extra: append([]string{"--max-batch", strconv.Itoa(maxBatch)}, env.TimerdArgs...)})
	return err
}

// Memory is the RSS of every process of the contender, nats-server
// included, as the kernel sees it (timerd-bin's embeds its server, so the
// two compare); the Go heap is not known for nats-server, so none is given.
func (c *clusterContender) Memory() (int64, int64, error) {
	rss, err := c.nats.proc.RSS()
	for _, p := range c.cluster.Nodes {
		n, perr := p.RSS()
		rss += n
		err = errors.Join(err, perr)
	}
	return rss, -1, err
}

// ServerCPU implements serverCPU: nats-server's and every node's.
func (c *clusterContender) ServerCPU() (time.Duration, error) {
	total, err := c.nats.ServerCPU()
	for _, p := range c.cluster.Nodes {
		d, perr := embed.CPU(p.Pid())
		total += d
		err = errors.Join(err, perr)
	}
	return total, err
}

// Ingest sends the batches, then notes how many requests each node handed
// to a shard's owner (timerd_requests_forwarded_total): the hop whose cost
// the one-node variant shows.
func (c *clusterContender) Ingest(ctx context.Context, r *Run) error {
	err := c.timerdContender.Ingest(ctx, r)
	var per []string
	total := 0.0
	for i, p := range c.cluster.Nodes {
		n := scrapeMetric(p.HTTPPort, "timerd_requests_forwarded_total")
		total += max(n, 0)
		per = append(per, fmt.Sprintf("%s %.0f", c.nodeLabel(i), n))
	}
	c.notes = append(c.notes, fmt.Sprintf("%s: %d node(s); requests handed to a shard's owner during ingest: %.0f (%s)",
		c.name, c.nodes, total, strings.Join(per, ", ")))
	return err
}

// StoreWrites sums every node's count of JetStream messages its store wrote.
func (c *clusterContender) StoreWrites(context.Context, *Run) (uint64, error) {
	var sum uint64
	for i, p := range c.cluster.Nodes {
		n := scrapeMetric(p.HTTPPort, "timerd_store_writes_total")
		if n < 0 {
			return 0, fmt.Errorf("%s: no timerd_store_writes_total on /metrics", c.nodeLabel(i))
		}
		sum += uint64(n)
	}
	return sum, nil
}

// Restart kills node n1 with SIGKILL and starts it again under its name;
// it returns once the node is ready and the cluster holds every shard.
func (c *clusterContender) Restart(ctx context.Context, r *Run) (time.Time, error) {
	p := c.cluster.Nodes[0]
	p.Kill()
	began := time.Now()
	if err := p.Start(); err != nil {
		return began, err
	}
	if err := p.WaitReady(ctx, 5*time.Minute); err != nil {
		return began, err
	}
	return began, c.cluster.WaitWhole(ctx, 5*time.Minute)
}

func (c *clusterContender) Stop() {
	if c.cluster != nil {
		c.cluster.Close()
		c.cluster = nil
	}
	c.nats.Stop()
}
