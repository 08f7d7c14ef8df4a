// Package jetstream holds everything of timerd that touches NATS: the
// embedded server, the connection, the timer store (group records in a KV
// bucket), shard marks, and the fire publisher. The rest of timerd sees
// NATS only through this package.
package jetstream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultListen is where the embedded server takes clients when neither
// EmbeddedConfig.Listen nor the configuration file says: loopback only, so
// nothing is reachable from the network until an operator asks for it.
const DefaultListen = "127.0.0.1:4222"

// EmbeddedConfig configures the NATS server timerd starts when no --nats is
// given. The zero value of every security field keeps the old behaviour: no
// configuration file, no authentication, no TLS.
type EmbeddedConfig struct {
	// Listen is host:port for clients; port 0 picks a free port. Empty means
	// the host and port of ConfigFile, else DefaultListen; setting both Listen
	// and a host or port in ConfigFile is an error, so neither is silently
	// ignored.
	Listen  string
	DataDir string // JetStream storage directory, unless ConfigFile sets store_dir
	Name    string // server name, unless ConfigFile sets server_name
	Logger  *slog.Logger

	// ConfigFile is a nats-server configuration file (accounts, users,
	// authorization, TLS, cluster, limits), read by nats-server's own parser.
	// timerd overrides only JetStream (always on), signals (timerd handles
	// them) and what Listen, DataDir and Name fill in where the file is silent.
	ConfigFile string
	// Token is the token every client must send (nats-server's
	// authorization { token }). It cannot be combined with client
	// authentication in ConfigFile.
	Token string
	// TLSCert and TLSKey turn on TLS for the client listener; clients must
	// use it. TLSCA also requires each client to present a certificate signed
	// by that CA. They cannot be combined with a tls block in ConfigFile.
	TLSCert, TLSKey, TLSCA string
	// MaxPayload, when not 0, is the server's max_payload (tests of fires
	// a smaller server cannot take).
	MaxPayload int32
	// Insecure lets the client listener bind a non-loopback address while
	// the server authenticates nobody; without it that is an *OpenListenerError.
	Insecure bool
}

// StartEmbedded starts a NATS server with JetStream (file storage) in this
// process and waits until it accepts connections, however long JetStream
// takes to recover its streams (after a crash it reads every block of a
// large store again: minutes for millions of timers), logging its progress;
// it gives up when ctx ends or the server reports a fatal error. A port in
// use is refused at once.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*server.Server, error) {
	opts, err := EmbeddedServerOptions(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("JetStream storage %q: %w", opts.StoreDir, err)
	}
	addr := net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	if opts.Port > 0 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server cannot listen on %s: %w", addr, err)
		}
		_ = l.Close()
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fatal := make(chan string, 1)
	ns.SetLoggerV2(serverLogger{l: log.With("component", "nats-server"), fatal: fatal}, false, false, false)
	go ns.Start() // the server owns this goroutine; Shutdown stops it
	begin, told := time.Now(), time.Now()
	for !ns.ReadyForConnections(250 * time.Millisecond) {
		select {
		case msg := <-fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats-server did not start on %s: %s", addr, msg)
		case <-ctx.Done():
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats-server did not start on %s: %w", addr, ctx.Err())
		default:
		}
		if time.Since(told) >= 10*time.Second {
			told = time.Now()
			log.Info("embedded nats-server still starting: JetStream is recovering its streams (after a crash it reads the whole store again)",
				"waited", time.Since(begin).Round(time.Second), "storage", opts.StoreDir)
		}
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server: JetStream did not start (storage %q)", opts.StoreDir)
	}
	if d := time.Since(begin); d >= 10*time.Second {
		log.Info("embedded nats-server started", "took", d.Round(time.Second))
	}
	return ns, nil
}

// EmbeddedServerOptions answers the nats-server options StartEmbedded would
// start with, without starting anything: the configuration file read,
// timerd's overrides applied, and the listener checked (*OpenListenerError).
// timerd calls it before anything else so a bad configuration exits at once.
func EmbeddedServerOptions(cfg EmbeddedConfig) (*server.Options, error) {
	opts := &server.Options{}
	if cfg.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("--nats-config %q: %w", cfg.ConfigFile, err)
		}
	}
	if err := setListen(opts, cfg); err != nil {
		return nil, err
	}
	if opts.StoreDir == "" {
		opts.StoreDir = cfg.DataDir
	}
	if opts.ServerName == "" {
		opts.ServerName = cfg.Name
	}
	if cfg.MaxPayload > 0 {
		opts.MaxPayload = cfg.MaxPayload
	}
	// timerd keeps its timers in JetStream, so it is on whatever the file
	// says; and timerd, not the server, owns SIGINT and SIGTERM.
	opts.JetStream = true
	opts.NoSigs = true
	// The server's own per-connection limits stay at their defaults (or the
	// file's); timerd's payload limit is enforced by timerd (--max-payload).
	if err := setAuth(opts, cfg); err != nil {
		return nil, err
	}
	if err := checkExposure(opts, cfg.Insecure); err != nil {
		return nil, err
	}
	return opts, nil
}

// setListen fills in the client host and port: Listen if given, else the
// file's, else DefaultListen. A file that sets only a port keeps the loopback
// host of DefaultListen rather than nats-server's 0.0.0.0, so that writing
// `port: 4333` does not open the server to the network.
func setListen(opts *server.Options, cfg EmbeddedConfig) error {
	fileSets := opts.Host != "" || opts.Port != 0
	if cfg.Listen != "" && fileSets {
		return fmt.Errorf("--listen %q and listen/host/port in --nats-config %q: give the address in one of them", cfg.Listen, cfg.ConfigFile)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port, for example 127.0.0.1:4222: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("--listen %q: port must be a number from 0 to 65535", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if opts.Host == "" {
		opts.Host = host
	}
	if opts.Port == 0 {
		opts.Port = port
	}
	return nil
}

// ConnectInProcess connects to ns through an in-process pipe: no TCP, and no
// TLS even when the client listener requires it (nats-server 2.15 offers TLS
// to in-process connections without requiring it), but the same
// authentication as every client: opts must carry credentials when the
// server asks for them.
func ConnectInProcess(ns *server.Server, opts ...nats.Option) (*nats.Conn, error) {
	// ClientURL says tls:// when the listener has TLS, and that scheme alone
	// makes nats.go insist on a TLS handshake.
	url := strings.Replace(ns.ClientURL(), "tls://", "nats://", 1)
	return nats.Connect(url, append([]nats.Option{nats.InProcessServer(ns)}, opts...)...)
}

// serverLogger passes nats-server's log lines to slog, keeping its noise
// (notices) at debug level.
// A fatal error (the server cannot listen, JetStream cannot start) is also
// handed to fatal, once, for StartEmbedded.
type serverLogger struct {
	l     *slog.Logger
	fatal chan<- string
}

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error(msg)
	if s.fatal != nil {
		select {
		case s.fatal <- msg:
		default:
		}
	}
}
func (s serverLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLogger) Tracef(format string, v ...any) {}
