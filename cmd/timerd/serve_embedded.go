package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/jetstream"
)

// embeddedConfig is the embedded server's configuration from the flags.
// --listen is passed on only when given or when there is no configuration
// file: its default must not collide with the file's own address.
func (c *serveConfig) embeddedConfig(log *slog.Logger) jetstream.EmbeddedConfig {
	cfg := jetstream.EmbeddedConfig{
		DataDir: c.data, Name: c.nodeName, Logger: log, ConfigFile: c.natsConfig,
		Token: c.authToken, TLSCert: c.tlsCert, TLSKey: c.tlsKey, TLSCA: c.tlsCA, Insecure: c.insecure,
	}
	if c.listenGiven || c.natsConfig == "" {
		cfg.Listen = c.listen
	}
	return cfg
}

// checkEmbedded refuses flags that configure the embedded server when there
// is none, and, when there is, everything the server itself would refuse
// (a bad configuration file, an open listener), plus a server that asks for
// credentials timerd was not given: that way all of it is one line on
// stderr before anything starts.
func (c *serveConfig) checkEmbedded() error {
	if c.natsURL != "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--nats-config", c.natsConfig != ""}, {"--auth-token/--auth-token-file", c.authToken != ""}, {"--insecure", c.insecure}} {
			if f.set {
				return fmt.Errorf("%s configures the embedded NATS server, and with --nats there is none: drop one of them", f.name)
			}
		}
		return nil
	}
	opts, err := jetstream.EmbeddedServerOptions(c.embeddedConfig(nil))
	if err != nil {
		return err
	}
	if c.authToken != "" && c.hasCredentials() {
		// The token is then the only credential the server accepts, and
		// timerd connects with it: anything else would be refused.
		return errors.New("--auth-token-file is the only credential the embedded server accepts, and timerd connects with it: drop --creds, --nkey, --user and --token")
	}
	if jetstream.NeedsCredentials(opts) && !c.hasCredentials() && c.authToken == "" {
		return fmt.Errorf("--nats-config %q asks clients for credentials: give the ones timerd itself connects with (--user with --password-file, --creds, --nkey or --token-file)", c.natsConfig)
	}
	return nil
}

// connectEmbedded opens timerd's own connection to its embedded server. It
// is in-process (no TCP, no TLS), but nats-server authenticates it like any
// client, so it brings what timerd was given: --creds, --nkey, --user or
// --token, else the server's own --auth-token.
func connectEmbedded(c *serveConfig, ns *server.Server) (*nats.Conn, error) {
	opts, err := c.credentials()
	if err != nil {
		return nil, err
	}
	if len(opts) == 0 && c.authToken != "" {
		opts = append(opts, nats.Token(c.authToken))
	}
	nc, err := jetstream.ConnectInProcess(ns, append(opts, nats.Name("timerd "+c.nodeName))...)
	if err != nil && c.hasCredentials() {
		// A refused in-process connection surfaces in nats.go 1.55 as a
		// closed pipe, ten seconds later (both ends block writing on the
		// pipe until nats-server's write deadline), not as an authorization
		// error: say what the likely cause is.
		return nil, fmt.Errorf("timerd's own connection to the embedded server failed; if the server logged an authentication error, check --user/--password-file, --creds, --nkey or --token-file: %w", err)
	}
	return nc, err
}
