package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/tlstest"
)

// startServe starts `timerd serve args...` and waits until its API answers
// ready over a connection to url made with opts.
func startServe(t *testing.T, url string, opts []nats.Option, args ...string) *process {
	t.Helper()
	p := &process{t: t, url: url, opts: opts,
		args: append([]string{"serve", "--mark-interval", "100ms", "--log-level", "warn"}, args...)}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// refused connects with opts and fails the test unless the server refuses.
func refused(t *testing.T, what, url string, opts ...nats.Option) error {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err == nil {
		nc.Close()
		t.Fatalf("%s: connected, want refused", what)
	}
	return err
}

// scheduleAndSee schedules a one-shot on subject through timerd's API over
// nc and waits for its fire: timerd's own connection works.
func scheduleAndSee(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := client.New(nc).Schedule(ctx, client.Timer{Subject: subject, In: 200 * time.Millisecond, Data: []byte("due")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no fire of %s on %s: %v", got.ID, subject, err)
	}
	if m.Header.Get("Timer-Id") != got.ID || string(m.Data) != "due" {
		t.Fatalf("fire %q %v, want timer %s", m.Data, m.Header, got.ID)
	}
}

func TestServeAuthToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	tokenFile := writeFile(t, "token", "s3cret\n") // a trailing newline, as echo writes it
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	startServe(t, url, []nats.Option{nats.Token("s3cret")},
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(), "--auth-token-file", tokenFile)

	if err := refused(t, "no token", url); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("no token: %v, want %v", err, nats.ErrAuthorization)
	}
	if err := refused(t, "wrong token", url, nats.Token("s3cret\n")); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong token: %v, want %v", err, nats.ErrAuthorization)
	}
	if reply := tlstest.PlainPing(t, url); reply == "PONG" {
		t.Fatal("a bare CONNECT without a token was answered PONG")
	}
	scheduleAndSee(t, connect(t, url, nats.Token("s3cret")), "auth.token")

	// The client subcommands: refused without the token, fine with it from
	// a file or from the environment.
	if code, _, errOut := cliExec(t, "", "stats", "-s", url, "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "Authorization Violation") {
		t.Fatalf("stats without token: exit %d, %q", code, errOut)
	}
	if code, out, errOut := cliExec(t, "", "schedule", "--in", "1h", "--subject", "auth.cli", "--id", "tok-1", "-s", url, "--token-file", tokenFile); code != 0 {
		t.Fatalf("schedule --token-file: exit %d, %q %q", code, out, errOut)
	}
	t.Setenv("TIMERD_TOKEN", "s3cret")
	t.Setenv("TIMERD_SERVER", url)
	if code, out, errOut := cliExec(t, "", "get", "tok-1"); code != 0 || !strings.Contains(out, "auth.cli") {
		t.Fatalf("get with TIMERD_TOKEN: exit %d, %q %q", code, out, errOut)
	}
}

func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	certs := tlstest.Write(t, t.TempDir())
	t.Run("server certificate", func(t *testing.T) {
		port := freePort(t)
		url := fmt.Sprintf("nats://127.0.0.1:%d", port)
		startServe(t, url, []nats.Option{nats.RootCAs(certs.CA)},
			"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(), "--tls-cert", certs.Cert, "--tls-key", certs.Key)
		if reply := tlstest.PlainPing(t, url); reply == "PONG" {
			t.Fatal("a plain TCP client was answered PONG")
		}
		refused(t, "TLS client that does not trust the CA", url)
		scheduleAndSee(t, connect(t, url, nats.RootCAs(certs.CA)), "tls.server")
		if code, out, errOut := cliExec(t, "", "stats", "-s", url, "--tls-ca", certs.CA); code != 0 {
			t.Fatalf("stats --tls-ca: exit %d, %q %q", code, out, errOut)
		}
	})
	t.Run("client certificates", func(t *testing.T) {
		port := freePort(t)
		url := fmt.Sprintf("nats://127.0.0.1:%d", port)
		withCert := []nats.Option{nats.RootCAs(certs.CA), nats.ClientCert(certs.ClientCert, certs.ClientKey)}
		startServe(t, url, withCert, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(),
			"--tls-cert", certs.Cert, "--tls-key", certs.Key, "--tls-ca", certs.CA)
		refused(t, "TLS client without a certificate", url, nats.RootCAs(certs.CA))
		scheduleAndSee(t, connect(t, url, withCert...), "tls.client")
		if code, out, errOut := cliExec(t, "", "stats", "-s", url, "--tls-ca", certs.CA,
			"--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey); code != 0 {
			t.Fatalf("stats with a client certificate: exit %d, %q %q", code, out, errOut)
		}
	})
}

// runToExit runs the binary with args and env, which must exit on its own.
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, timerdBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// An embedded server on every interface with no authentication is refused
// before anything starts; --insecure accepts it.
func TestServeRefusesOpenListen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	port := freePort(t)
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	data := filepath.Join(t.TempDir(), "data")
	code, out := runToExit(t, nil, "serve", "--listen", listen, "--data", data)
	if code != 2 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "refusing to listen on "+listen) {
		t.Fatalf("exit %d, output %q: want 2 and one line refusing %s", code, out, listen)
	}
	for _, flag := range []string{"--auth-token-file", "--tls-ca", "--nats-config", "--insecure"} {
		if !strings.Contains(out, flag) {
			t.Errorf("refusal %q does not name %s", out, flag)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("--data %s exists after the refusal (%v): something started", data, err)
	}

	startServe(t, fmt.Sprintf("nats://127.0.0.1:%d", port), nil, "--listen", listen, "--data", data, "--insecure")
}

// A nats-server configuration file with two users in one account: timerd
// connects as one, applications as the other, which may use the API and
// its fire subjects but not the JetStream API, so not the bucket.
func TestServeNatsConfigTwoUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	conf := writeFile(t, "nats.conf", fmt.Sprintf(`
listen: 127.0.0.1:%d
accounts {
  TIMERD {
    jetstream: enabled
    users = [
      { user: timerd, password: timerd-pw }
      { user: app, password: app-pw,
        permissions: { publish: ["timerd.>"], subscribe: ["_INBOX.>", "app.>"] } }
    ]
  }
}
`, port))
	data := t.TempDir()

	code, out := runToExit(t, nil, "serve", "--nats-config", conf, "--data", data)
	if code != 2 || !strings.Contains(out, "--password-file") {
		t.Fatalf("no credentials for timerd itself: exit %d, %q: want 2 naming --password-file", code, out)
	}
	app := []nats.Option{nats.UserInfo("app", "app-pw")}
	startServe(t, url, app, "--nats-config", conf, "--data", data, "--user", "timerd",
		"--password-file", writeFile(t, "timerd-pw", "timerd-pw\n"))

	if err := refused(t, "anonymous", url); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous: %v, want %v", err, nats.ErrAuthorization)
	}
	nc := connect(t, url, app...)
	scheduleAndSee(t, nc, "app.reminder")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "KV_timerd"); err == nil {
		t.Fatal("the app user deleted timerd's stream")
	}
	admin, err := jetstream.New(connect(t, url, nats.UserInfo("timerd", "timerd-pw")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Stream(context.Background(), "KV_timerd"); err != nil {
		t.Fatalf("timerd's stream after the app user tried to delete it: %v", err)
	}
}
