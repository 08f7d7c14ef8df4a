package main

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/statuspage"
)

// startStatusPage starts the status page served at / on --http, and
// answers the logger the node should use from now on: the same as log,
// and its warnings are kept for the page. The page reads the cluster
// through the public API over the node's own connection, so it shows every
// node whichever one serves it; the registry, the shard owners and the
// warnings are this node's views. The caller closes the page after the
// HTTP server has stopped.
func startStatusPage(c *serveConfig, nc *nats.Conn, reg prometheus.Gatherer, nd *atomic.Pointer[node.Node], log *slog.Logger) (*statuspage.Page, *slog.Logger, error) {
	warnings := statuspage.NewWarnings()
	page, err := statuspage.Start(statuspage.Config{
		Client:  client.New(nc, client.WithPrefix(c.prefix), client.WithTimeout(3*time.Second)),
		Node:    c.nodeName,
		Metrics: reg,
		Owners: func() []string {
			n := nd.Load()
			if n == nil {
				return nil
			}
			return n.Owners()
		},
		Warnings: warnings,
		Logger:   log,
	})
	if err != nil {
		return nil, nil, err
	}
	return page, warnings.Logger(log), nil
}
