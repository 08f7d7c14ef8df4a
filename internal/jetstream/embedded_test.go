package jetstream

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/tlstest"
)

func startEmbedded(t *testing.T, cfg EmbeddedConfig) *server.Server {
	t.Helper()
	if cfg.Listen == "" && cfg.ConfigFile == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.DataDir = t.TempDir()
	ns, err := StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// connectErr connects, closes at once, and answers the connect error.
func connectErr(url string, opts ...nats.Option) error {
	nc, err := nats.Connect(url, opts...)
	if err == nil {
		nc.Close()
	}
	return err
}

// inProcessErr is connectErr through ConnectInProcess.
func inProcessErr(ns *server.Server, opts ...nats.Option) error {
	nc, err := ConnectInProcess(ns, opts...)
	if err == nil {
		nc.Close()
	}
	return err
}

// nats-server 2.15.2 treats an in-process connection like any other as to
// authentication (createClientEx sets expectConnect from AuthRequired alone),
// so timerd's own connection must bring the token: this test pins that.
func TestEmbeddedTokenAppliesInProcessToo(t *testing.T) {
	ns := startEmbedded(t, EmbeddedConfig{Token: "s3cret"})
	if reply := tlstest.PlainPing(t, ns.ClientURL()); reply == "PONG" {
		t.Error("plain client without a token was answered PONG")
	}
	for _, tt := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"tcp without token", connectErr(ns.ClientURL()), false},
		{"tcp wrong token", connectErr(ns.ClientURL(), nats.Token("guess")), false},
		{"tcp with token", connectErr(ns.ClientURL(), nats.Token("s3cret")), true},
		{"in-process with token", inProcessErr(ns, nats.Token("s3cret")), true},
	} {
		if tt.ok && tt.err != nil || !tt.ok && !errors.Is(tt.err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want ok=%v (else an authorization violation)", tt.name, tt.err, tt.ok)
		}
	}
	// Refused too, though nats.go v1.55 reports it only as a closed pipe,
	// seconds later: hence NeedsCredentials, to say so before connecting.
	if err := inProcessErr(ns, nats.Timeout(time.Second)); err == nil {
		t.Error("in-process connection without the token was let in")
	}
}

// TLS on the client listener: TCP clients must use it (and with TLSCA show
// a certificate), while an in-process connection is let through without
// TLS (createClientEx turns tls_required into tls_available for it).
func TestEmbeddedTLS(t *testing.T) {
	certs := tlstest.Write(t, t.TempDir())
	t.Run("server certificate", func(t *testing.T) {
		ns := startEmbedded(t, EmbeddedConfig{TLSCert: certs.Cert, TLSKey: certs.Key})
		if reply := tlstest.PlainPing(t, ns.ClientURL()); reply == "PONG" {
			t.Error("plain TCP client was answered PONG")
		}
		// nats.go switches to TLS when the server asks; it still has to
		// trust the server's certificate.
		if err := connectErr(ns.ClientURL()); err == nil {
			t.Error("client without the CA connected")
		}
		if err := connectErr(ns.ClientURL(), nats.RootCAs(certs.CA)); err != nil {
			t.Errorf("TLS client: %v", err)
		}
		if err := inProcessErr(ns); err != nil {
			t.Errorf("in-process client: %v", err)
		}
	})
	t.Run("client certificates", func(t *testing.T) {
		ns := startEmbedded(t, EmbeddedConfig{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA})
		if err := connectErr(ns.ClientURL(), nats.RootCAs(certs.CA)); err == nil {
			t.Error("TLS client without a certificate connected")
		}
		if err := connectErr(ns.ClientURL(), nats.RootCAs(certs.CA), nats.ClientCert(certs.ClientCert, certs.ClientKey)); err != nil {
			t.Errorf("TLS client with a certificate: %v", err)
		}
		if err := inProcessErr(ns); err != nil {
			t.Errorf("in-process client: %v", err)
		}
	})
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// optionsWith answers EmbeddedServerOptions for cfg, with the configuration
// file text (if any) written to a file, and /data as the default store.
func optionsWith(t *testing.T, cfg EmbeddedConfig, file string) (*server.Options, error) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = "/data"
	}
	if file != "" {
		cfg.ConfigFile = writeConfig(t, file)
	}
	return EmbeddedServerOptions(cfg)
}

// Where the client listener and the storage end up, from the flags and the file.
func TestEmbeddedOptionsPrecedence(t *testing.T) {
	tests := []struct {
		name, file, listen string
		host               string
		port               int
		storeDir           string
		err                string
	}{
		{name: "defaults", host: "127.0.0.1", port: 4222, storeDir: "/data"},
		{name: "listen flag", listen: "127.0.0.2:5000", host: "127.0.0.2", port: 5000, storeDir: "/data"},
		{name: "port 0 is random", listen: "127.0.0.1:0", host: "127.0.0.1", port: server.RANDOM_PORT, storeDir: "/data"},
		{name: "file listen", file: "listen: 127.0.0.3:4333", host: "127.0.0.3", port: 4333, storeDir: "/data"},
		{name: "file port keeps loopback", file: "port: 4333", host: "127.0.0.1", port: 4333, storeDir: "/data"},
		{name: "file host keeps default port", file: "host: 127.0.0.4", host: "127.0.0.4", port: 4222, storeDir: "/data"},
		{name: "file store_dir", file: "jetstream { store_dir: /js }", host: "127.0.0.1", port: 4222, storeDir: "/js"},
		{name: "both", file: "port: 4333", listen: "127.0.0.1:4222", err: "--listen"},
		{name: "bad listen", listen: "4222", err: "want host:port"},
		{name: "bad file", file: "port: [", err: "--nats-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := optionsWith(t, EmbeddedConfig{Listen: tt.listen, Name: "n"}, tt.file)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.Host != tt.host || opts.Port != tt.port || opts.StoreDir != tt.storeDir || !opts.JetStream || !opts.NoSigs {
				t.Fatalf("host %q port %d store %q jetstream %v nosigs %v, want %q %d %q true true",
					opts.Host, opts.Port, opts.StoreDir, opts.JetStream, opts.NoSigs, tt.host, tt.port, tt.storeDir)
			}
		})
	}
}

// A listener beyond loopback needs authentication or Insecure.
func TestEmbeddedRefusesOpenListener(t *testing.T) {
	certs := tlstest.Write(t, t.TempDir())
	users := `authorization { users = [ {user: a, password: b} ] }`
	tests := []struct {
		name   string
		cfg    EmbeddedConfig
		file   string
		refuse bool
	}{
		{name: "loopback v4", cfg: EmbeddedConfig{Listen: "127.0.0.1:4222"}},
		{name: "loopback 127/8", cfg: EmbeddedConfig{Listen: "127.1.2.3:4222"}},
		{name: "loopback v6", cfg: EmbeddedConfig{Listen: "[::1]:4222"}},
		{name: "localhost", cfg: EmbeddedConfig{Listen: "localhost:4222"}},
		{name: "all interfaces", cfg: EmbeddedConfig{Listen: "0.0.0.0:4222"}, refuse: true},
		{name: "empty host", cfg: EmbeddedConfig{Listen: ":4222"}, refuse: true},
		{name: "v6 any", cfg: EmbeddedConfig{Listen: "[::]:4222"}, refuse: true},
		{name: "a name", cfg: EmbeddedConfig{Listen: "timerd.example:4222"}, refuse: true},
		{name: "insecure", cfg: EmbeddedConfig{Listen: "0.0.0.0:4222", Insecure: true}},
		{name: "token", cfg: EmbeddedConfig{Listen: "0.0.0.0:4222", Token: "t"}},
		{name: "TLS alone authenticates nobody", cfg: EmbeddedConfig{Listen: "0.0.0.0:4222", TLSCert: certs.Cert, TLSKey: certs.Key}, refuse: true},
		{name: "client certificates", cfg: EmbeddedConfig{Listen: "0.0.0.0:4222", TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA}},
		{name: "file users", file: "listen: 0.0.0.0:4222\n" + users},
		{name: "file without auth", file: "listen: 0.0.0.0:4222", refuse: true},
		{name: "file no_auth_user", file: "listen: 0.0.0.0:4222\nno_auth_user: a\n" + users, refuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := optionsWith(t, tt.cfg, tt.file)
			var open *OpenListenerError
			if refused := errors.As(err, &open); refused != tt.refuse || err != nil && !refused {
				t.Fatalf("error %v, want refused=%v", err, tt.refuse)
			}
			if tt.refuse && !strings.Contains(err.Error(), "--insecure") {
				t.Fatalf("refusal %q does not name --insecure", err)
			}
		})
	}
}

// The token and TLS flags cannot be merged into a file that already says
// who may connect, or how TLS works.
func TestEmbeddedFlagsConflictWithFile(t *testing.T) {
	certs := tlstest.Write(t, t.TempDir())
	tls := "tls { cert_file: " + certs.Cert + ", key_file: " + certs.Key + " }"
	tests := []struct {
		name, file string
		cfg        EmbeddedConfig
		err        string
	}{
		{"token and users", `authorization { users = [ {user: a, password: b} ] }`, EmbeddedConfig{Token: "t"}, "--auth-token-file"},
		{"token and token", `authorization { token: x }`, EmbeddedConfig{Token: "t"}, "--auth-token-file"},
		{"tls and tls", tls, EmbeddedConfig{TLSCert: certs.Cert, TLSKey: certs.Key}, "tls block"},
		{"cert without key", "", EmbeddedConfig{TLSCert: certs.Cert}, "give both"},
		{"ca alone", "", EmbeddedConfig{TLSCA: certs.CA}, "give both"},
		{"missing cert", "", EmbeddedConfig{TLSCert: "/nonexistent.pem", TLSKey: certs.Key}, "/nonexistent.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := optionsWith(t, tt.cfg, tt.file); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one naming %q", err, tt.err)
			}
		})
	}
}

func TestNeedsCredentials(t *testing.T) {
	certs := tlstest.Write(t, t.TempDir())
	users := "authorization { users = [ {user: a, password: b} ] }\n"
	for _, tt := range []struct {
		name string
		cfg  EmbeddedConfig
		file string
		want bool
	}{
		{name: "nothing"},
		{name: "token", cfg: EmbeddedConfig{Token: "t"}, want: true},
		{name: "users", file: users, want: true},
		{name: "no_auth_user", file: users + "no_auth_user: a", want: false},
		{name: "client certificates only", cfg: EmbeddedConfig{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA}},
	} {
		opts, err := optionsWith(t, tt.cfg, tt.file)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := NeedsCredentials(opts); got != tt.want {
			t.Errorf("%s: NeedsCredentials %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A port already taken is refused at once, naming it, instead of being
// waited on: the wait for the server has no time limit of its own (its
// JetStream may take minutes to recover a large store after a crash).
func TestEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	begin := time.Now()
	ns, err := StartEmbedded(context.Background(), EmbeddedConfig{Listen: l.Addr().String(), DataDir: t.TempDir(), Name: "taken"})
	if err == nil {
		ns.Shutdown()
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), l.Addr().String()) || time.Since(begin) > 5*time.Second {
		t.Fatalf("after %v: %v; want an error naming %s at once", time.Since(begin), err, l.Addr())
	}
}
