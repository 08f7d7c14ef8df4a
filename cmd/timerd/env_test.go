package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeEnv is an environment and a file system for parseServe and the client.
type fakeEnv struct {
	vars  map[string]string
	files map[string]string
}

func (e fakeEnv) getenv(name string) string { return e.vars[name] }

func (e fakeEnv) readFile(name string) ([]byte, error) {
	text, ok := e.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(text), nil
}

func parseServeIn(e fakeEnv, args ...string) (*serveConfig, int, string) {
	var stderr bytes.Buffer
	c, _, code := parseServe(args, &stderr, e.getenv, e.readFile)
	return c, code, stderr.String()
}

func TestEnvSetsServeFlags(t *testing.T) {
	e := fakeEnv{vars: map[string]string{
		"TIMERD_HTTP": "127.0.0.1:9", "TIMERD_API_PREFIX": "from-env", "TIMERD_TICK": "5ms",
		"TIMERD_PPROF": "true", "TIMERD_LISTEN": "127.0.0.1:0", "TIMERD_MAX_BATCH": "7", "TIMERD_NODE": "",
	}}
	c, code, errOut := parseServeIn(e, "--api-prefix", "from-flag", "--max-batch=9")
	if c == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if c.httpAddr != "127.0.0.1:9" || c.tick != 5*time.Millisecond || !c.pprof || c.listen != "127.0.0.1:0" || !c.listenGiven {
		t.Errorf("from the environment: http %q tick %v pprof %v listen %q (given %v)", c.httpAddr, c.tick, c.pprof, c.listen, c.listenGiven)
	}
	if c.prefix != "from-flag" || c.maxBatch != 9 {
		t.Errorf("the command line must win: api-prefix %q, max-batch %d", c.prefix, c.maxBatch)
	}
	if c.nodeName != "" {
		t.Errorf("an empty TIMERD_NODE set --node to %q", c.nodeName)
	}
	if c, _, _ := parseServeIn(fakeEnv{}); c == nil || c.listenGiven {
		t.Error("--listen counted as given with neither the flag nor TIMERD_LISTEN")
	}
}

func TestEnvBadValueNamesTheVariable(t *testing.T) {
	e := fakeEnv{vars: map[string]string{"TIMERD_TICK": "soon", "TIMERD_SHARDS": "many"}}
	c, code, errOut := parseServeIn(e)
	if c != nil || code != 2 || !strings.Contains(errOut, `TIMERD_TICK="soon"`) || !strings.Contains(errOut, `TIMERD_SHARDS="many"`) {
		t.Fatalf("exit %d, %q: want 2 naming TIMERD_TICK and TIMERD_SHARDS with their values", code, errOut)
	}
	// Given on the command line, the variable is not even read.
	if c, code, errOut := parseServeIn(e, "--tick", "2ms", "--shards", "8"); c == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestEnvSecretsFromFilesAndVariables(t *testing.T) {
	files := map[string]string{"/pw": "from-file\n", "/pw-crlf": "crlf\r\n", "/empty": "\n", "/tok": "tok-file"}
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		password string
		token    string
		err      string
	}{
		{name: "flag", args: []string{"--password", "on-argv"}, password: "on-argv"},
		{name: "file flag", args: []string{"--password-file", "/pw"}, password: "from-file"},
		{name: "crlf", args: []string{"--password-file", "/pw-crlf"}, password: "crlf"},
		{name: "variable", vars: map[string]string{"TIMERD_PASSWORD": "from-env"}, password: "from-env"},
		{name: "file variable", vars: map[string]string{"TIMERD_PASSWORD_FILE": "/pw"}, password: "from-file"},
		{name: "command line file beats variable", vars: map[string]string{"TIMERD_PASSWORD": "from-env"},
			args: []string{"--password-file", "/pw"}, password: "from-file"},
		{name: "command line beats file variable", vars: map[string]string{"TIMERD_PASSWORD_FILE": "/pw"},
			args: []string{"--password", "on-argv"}, password: "on-argv"},
		{name: "auth token file", args: []string{"--auth-token-file", "/tok"}, token: "tok-file"},
		{name: "auth token variable", vars: map[string]string{"TIMERD_AUTH_TOKEN": "tok-env"}, token: "tok-env"},
		{name: "both flags", args: []string{"--password", "x", "--password-file", "/pw"}, err: "--password and --password-file"},
		{name: "both variables", vars: map[string]string{"TIMERD_PASSWORD": "x", "TIMERD_PASSWORD_FILE": "/pw"}, err: "TIMERD_PASSWORD_FILE"},
		{name: "empty file", args: []string{"--password-file", "/empty"}, err: "empty"},
		{name: "missing file", args: []string{"--token-file", "/nope"}, err: "/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, code, errOut := parseServeIn(fakeEnv{vars: tt.vars, files: files}, tt.args...)
			if tt.err != "" {
				if c != nil || code != 2 || !strings.Contains(errOut, tt.err) {
					t.Fatalf("exit %d, %q: want 2 naming %q", code, errOut, tt.err)
				}
				return
			}
			if c == nil {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if c.password != tt.password || c.authToken != tt.token {
				t.Fatalf("password %q, auth token %q; want %q, %q", c.password, c.authToken, tt.password, tt.token)
			}
		})
	}
}

func TestServeFlagCombinations(t *testing.T) {
	files := map[string]string{"/tok": "t"}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		err  string
	}{
		{name: "nats-config with --nats", args: []string{"--nats", "nats://x:4222", "--nats-config", "/x.conf"}, err: "--nats-config"},
		{name: "auth token with --nats", args: []string{"--nats", "nats://x:4222", "--auth-token-file", "/tok"}, err: "--auth-token"},
		{name: "insecure from the environment with --nats", vars: map[string]string{"TIMERD_INSECURE": "1"}, args: []string{"--nats", "nats://x:4222"}, err: "--insecure"},
		{name: "pprof without http", args: []string{"--pprof"}, err: "--http"},
		{name: "log format", args: []string{"--log-format", "xml"}, err: "--log-format"},
		{name: "log level", args: []string{"--log-level", "loud"}, err: "--log-level"},
		{name: "open listen", args: []string{"--listen", "0.0.0.0:4222"}, err: "--insecure"},
		{name: "open listen from the environment", vars: map[string]string{"TIMERD_LISTEN": "[::]:4222"}, err: "refusing"},
		{name: "token secures it", args: []string{"--listen", "0.0.0.0:4222", "--auth-token-file", "/tok"}},
		{name: "insecure", args: []string{"--listen", "0.0.0.0:4222", "--insecure"}},
		{name: "auth token and timerd's own user", args: []string{"--auth-token-file", "/tok", "--user", "u"}, err: "--auth-token-file is the only credential"},
		{name: "tls flags with --nats are the client's", args: []string{"--nats", "nats://x:4222", "--tls-ca", "/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, code, errOut := parseServeIn(fakeEnv{vars: tt.vars, files: files}, tt.args...)
			if tt.err == "" {
				if c == nil {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				return
			}
			if c != nil || code != 2 || !strings.Contains(errOut, tt.err) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, %q: want 2 and one line naming %q", code, errOut, tt.err)
			}
		})
	}
}

// The client subcommands take their connection flags, and only those, from
// the environment; the command line wins, -s as much as --server.
func TestEnvClientConnectionFlags(t *testing.T) {
	e := fakeEnv{
		vars: map[string]string{"TIMERD_SERVER": "nats://env:4222", "TIMERD_USER": "u", "TIMERD_PASSWORD_FILE": "/pw",
			"TIMERD_TLS_CA": "/ca.pem", "TIMERD_TIMEOUT": "3s", "TIMERD_DATA": "not a payload", "TIMERD_ID": "not-an-id"},
		files: map[string]string{"/pw": "pw\n"},
	}
	run := func(args ...string) *cliRun {
		t.Helper()
		r := &cliRun{cmd: cliLookup("schedule"), getenv: e.getenv, readFile: e.readFile}
		if _, err := r.parse(args); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run("--subject", "a.b", "--in", "1s")
	if r.server != "nats://env:4222" || r.auth.user != "u" || r.auth.password != "pw" || r.auth.tlsCA != "/ca.pem" || r.timeout != 3*time.Second {
		t.Errorf("from the environment: server %q user %q password %q tls-ca %q timeout %v", r.server, r.auth.user, r.auth.password, r.auth.tlsCA, r.timeout)
	}
	for _, server := range []string{"-s", "--server"} {
		if r := run(server, "nats://flag:4222", "--subject", "a.b", "--in", "1s"); r.server != "nats://flag:4222" {
			t.Errorf("%s on the command line: server %q", server, r.server)
		}
	}
	var bad *cliUsageError
	e.vars["TIMERD_TIMEOUT"] = "a while"
	r = &cliRun{cmd: cliLookup("stats"), getenv: e.getenv, readFile: e.readFile}
	if _, err := r.parse(nil); !errors.As(err, &bad) || !strings.Contains(err.Error(), "TIMERD_TIMEOUT") {
		t.Errorf("bad TIMERD_TIMEOUT: %v, want a usage error naming it", err)
	}
}

func TestServeHTTPPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		stop, err := serveHTTP(addr, prometheus.NewRegistry(), func() bool { return true }, on, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		code, body := httpGet("http://" + addr + "/debug/pprof/")
		stop()
		if on && (code != http.StatusOK || !strings.Contains(body, "goroutine")) || !on && code != http.StatusNotFound {
			t.Errorf("--pprof %v: GET /debug/pprof/ answered %d", on, code)
		}
	}
}
