package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// ClusterConfig says which timerd nodes to start, and on which NATS.
type ClusterConfig struct {
	Bin     string   // the built timerd binary
	URL     string   // the NATS system the nodes join (--nats)
	Nodes   int      // how many: named n1 .. nN
	Prefix  string   // API prefix (--api-prefix); "" is timerd's default
	LogDir  string   // node nI logs to LogDir/LogName-nI.log; "" discards the logs
	LogName string   // file prefix of the logs
	Extra   []string // more `timerd serve` flags for every node
}

// Cluster is timerd nodes sharing the shards on one NATS system, each
// `timerd serve --nats URL --node nI` in an OS process of its own: what the
// load test faults and the bench measures. The NATS system is the
// caller's; the cluster only joins it.
type Cluster struct {
	URL   string
	Nodes []*Proc // index i is node n(i+1)

	prefix string
	nc     *nats.Conn // asks timerd.stats
	logs   []*os.File
}

// StartCluster starts the nodes side by side and returns when every one
// answers /readyz and the registry shows them all normal and holding every
// shard (bounded by ctx and 2 minutes); on failure what started is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("embed: a cluster needs at least one node")
	}
	c := &Cluster{URL: cfg.URL, prefix: cfg.Prefix, Nodes: make([]*Proc, cfg.Nodes)}
	if c.prefix == "" {
		c.prefix = api.DefaultPrefix
	}
	extra := slices.Clone(cfg.Extra)
	if cfg.Prefix != "" {
		extra = append(extra, "--api-prefix", cfg.Prefix)
	}
	var err error
	if c.nc, err = Connect(cfg.URL, "timerd cluster watch"); err != nil {
		return nil, err
	}
	logs := make([]io.Writer, cfg.Nodes)
	for i := range logs {
		logs[i] = io.Discard
		if cfg.LogDir == "" {
			continue
		}
		f, err := os.Create(filepath.Join(cfg.LogDir, cfg.LogName+"-"+nodeName(i)+".log"))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.logs = append(c.logs, f)
		logs[i] = f
	}
	// Side by side, as an operator starts a cluster: the nodes register and
	// share the shards while they come up, not one after the other.
	errs := make([]error, cfg.Nodes)
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Nodes[i], errs[i] = StartNodeProc(ctx, cfg.Bin, cfg.URL, nodeName(i), logs[i], extra...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.WaitWhole(ctx, 2*time.Minute); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func nodeName(i int) string { return "n" + strconv.Itoa(i+1) }

// Names are the nodes' names, n1 .. nN.
func (c *Cluster) Names() []string {
	names := make([]string, len(c.Nodes))
	for i := range names {
		names[i] = nodeName(i)
	}
	return names
}

// Stats asks timerd.stats: the answering node's view of the registry and
// the sum over the nodes that answered.
func (c *Cluster) Stats(ctx context.Context) (api.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.prefix+"."+api.EndpointStats, nil)
	if err != nil {
		return api.Stats{}, fmt.Errorf("%s.%s: %w", c.prefix, api.EndpointStats, err)
	}
	if code := m.Header.Get(api.HeaderErrorCode); code != "" {
		return api.Stats{}, fmt.Errorf("%s.%s: %s %s", c.prefix, api.EndpointStats, code, m.Header.Get(api.HeaderError))
	}
	var st api.Stats
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return api.Stats{}, fmt.Errorf("%s.%s answered %q: %w", c.prefix, api.EndpointStats, m.Data, err)
	}
	return st, nil
}

// Whole says (nil) that every node of the cluster is registered normal,
// answered the stats, and that together they hold every shard; otherwise
// the error says what is missing.
func (c *Cluster) Whole(ctx context.Context) error {
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	held := 0
	var normal, view []string
	for _, n := range st.Nodes {
		view = append(view, fmt.Sprintf("%s %s %d shards", n.Name, n.Health, n.Shards))
		if n.Health == "normal" {
			normal = append(normal, n.Name)
			held += n.Shards
		}
	}
	slices.Sort(normal)
	want := c.Names()
	slices.Sort(want)
	switch {
	case !slices.Equal(normal, want):
		return fmt.Errorf("registry (as %s sees it): %s; want %s normal", st.Node, strings.Join(view, ", "), strings.Join(want, ", "))
	case held != st.Shards:
		return fmt.Errorf("registry (as %s sees it): %s; %d of %d shards held", st.Node, strings.Join(view, ", "), held, st.Shards)
	case st.Cluster == nil || st.Cluster.Nodes != len(want) || len(st.Cluster.Missing) > 0:
		return fmt.Errorf("stats answered by %+v of %d nodes", st.Cluster, len(want))
	}
	return nil
}

// WaitWhole polls Whole until it holds, ctx ends or total passes.
func (c *Cluster) WaitWhole(ctx context.Context, total time.Duration) error {
	return WaitFor(ctx, total, 50*time.Millisecond, func() error { return c.Whole(ctx) })
}

// Close stops every node cleanly (SIGTERM, side by side, each bounded by
// Proc.Stop) and closes the logs; the NATS system is left running.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, p := range c.Nodes {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop()
		}()
	}
	wg.Wait()
	for _, f := range c.logs {
		f.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
}
