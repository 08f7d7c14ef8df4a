// Package jetstream holds everything of timerd that touches NATS: the
// embedded server, the connection, the timer store (group records in a KV
// bucket), shard marks, and the fire publisher. The rest of timerd sees
// NATS only through this package.
package jetstream

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the NATS server timerd starts when no --nats is given.
type EmbeddedConfig struct {
	Listen  string // host:port for clients; port 0 picks a free port
	DataDir string // JetStream storage directory
	Name    string // server name
	Logger  *slog.Logger
}

// StartEmbedded starts a NATS server with JetStream (file storage) in this
// process and waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: want host:port, for example 127.0.0.1:4222: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("--listen %q: port must be a number from 0 to 65535", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("--data %q: %w", cfg.DataDir, err)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		NoSigs:     true,
		// The server's own per-connection limits stay at their defaults;
		// timerd's payload limit is enforced by timerd (--max-payload).
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(serverLogger{cfg.Logger.With("component", "nats-server")}, false, false, false)
	}
	go ns.Start() // the server owns this goroutine; Shutdown stops it
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server did not start listening on %s (is the port in use?)", cfg.Listen)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server: JetStream did not start (data dir %q)", cfg.DataDir)
	}
	return ns, nil
}

// serverLogger passes nats-server's log lines to slog, keeping its noise
// (notices) at debug level.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLogger) Tracef(format string, v ...any)  {}
