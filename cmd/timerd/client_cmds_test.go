package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
)

// cliRunNATS starts an in-process NATS server on a random 127.0.0.1 port
// and answers its URL and a connection to it.
func cliRunNATS(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return srv.ClientURL(), nc
}

// cliRequest is one request the fake timerd received.
type cliRequest struct {
	endpoint string
	header   nats.Header
	data     []byte
}

// cliFakeTimerd serves the timerd endpoints under prefix, records requests
// and answers each endpoint with the canned reply in replies (an
// *api.ErrorReply answers as an error).
func cliFakeTimerd(t *testing.T, nc *nats.Conn, prefix string, replies map[string]any) <-chan cliRequest {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: api.ServiceName, Version: "0.0.0", QueueGroup: "timerd"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	got := make(chan cliRequest, 100)
	group := svc.AddGroup(prefix)
	for ep, reply := range replies {
		err := group.AddEndpoint(ep, micro.HandlerFunc(func(req micro.Request) {
			got <- cliRequest{endpoint: ep, header: nats.Header(req.Headers()), data: append([]byte(nil), req.Data()...)}
			var err error
			if e, ok := reply.(*api.ErrorReply); ok {
				body, _ := json.Marshal(e)
				err = req.Error(strconv.Itoa(e.Code), e.Error, body)
			} else {
				err = req.RespondJSON(reply)
			}
			if err != nil {
				t.Error(err)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	// The endpoints must be known to the server before another connection
	// sends to them.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

func cliNext(t *testing.T, got <-chan cliRequest) cliRequest {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the fake timerd received no request")
		return cliRequest{}
	}
}

// cliExec runs a client subcommand and answers its exit code and output.
func cliExec(t *testing.T, stdin string, name string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code, ok := runClient(name, args, strings.NewReader(stdin), &stdout, &stderr)
	if !ok {
		t.Fatalf("%s is not a client command", name)
	}
	return code, stdout.String(), stderr.String()
}

func TestCliScheduleSendsEveryFlag(t *testing.T) {
	url, nc := cliRunNATS(t)
	got := cliFakeTimerd(t, nc, "jobs", map[string]any{
		api.EndpointSchedule: api.ScheduleReply{ID: "daily", Next: "2030-01-01T05:00:00Z", Revision: 7, Created: true},
	})
	code, stdout, stderr := cliExec(t, "", "schedule",
		"--subject", "reports.run", "--id", "daily", "--cron", "0 6 * * *", "--tz", "Europe/Paris",
		"--start", "2030-01-01T00:00:00+01:00", "--end", "2031-01-01T00:00:00Z", "--max-fires", "10",
		"--misfire", "all", "--jitter", "90s", "--replace", "--expect-revision", "6",
		"--header", "X-Tenant=acme", "--header", "X-Tenant=beta", "--data", "hello",
		"-s", url, "--api-prefix", "jobs")
	if code != 0 || stdout != "scheduled daily at 2030-01-01T05:00:00Z (revision 7)\n" || stderr != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	req := cliNext(t, got)
	want := nats.Header{
		"Timer-Subject": {"reports.run"}, "Timer-Id": {"daily"}, "Timer-Cron": {"0 6 * * *"},
		"Timer-Time-Zone": {"Europe/Paris"}, "Timer-Start": {"2029-12-31T23:00:00Z"}, "Timer-End": {"2031-01-01T00:00:00Z"},
		"Timer-Max-Fires": {"10"}, "Timer-Misfire": {"all"}, "Timer-Jitter": {"1m30s"}, "Timer-Replace": {"true"},
		"Timer-Expected-Revision": {"6"}, "X-Tenant": {"acme", "beta"},
	}
	if len(req.header) != len(want) {
		t.Errorf("headers %v\nwant %v", req.header, want)
	}
	for k, v := range want {
		if strings.Join(req.header.Values(k), "|") != strings.Join(v, "|") {
			t.Errorf("%s = %q, want %q", k, req.header.Values(k), v)
		}
	}
	if string(req.data) != "hello" {
		t.Errorf("payload %q", req.data)
	}
}

func TestCliScheduleInAndDataFromStdin(t *testing.T) {
	url, nc := cliRunNATS(t)
	t.Setenv("TIMERD_SERVER", url)
	got := cliFakeTimerd(t, nc, "timerd", map[string]any{
		api.EndpointSchedule: api.ScheduleReply{ID: "x1", Next: "2030-01-01T00:00:00Z", Revision: 1},
	})
	code, stdout, stderr := cliExec(t, "from stdin\x00", "schedule", "--subject", "demo.x", "--in", "P1DT2H", "--data-file", "-", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep api.ScheduleReply
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.ID != "x1" {
		t.Errorf("--json printed %q (%v)", stdout, err)
	}
	req := cliNext(t, got)
	if req.header.Get(api.HeaderIn) != "P1DT2H" || req.header.Get(api.HeaderID) != "" || string(req.data) != "from stdin\x00" {
		t.Errorf("request %v %q", req.header, req.data)
	}
}

func TestCliScheduleDataFile(t *testing.T) {
	url, nc := cliRunNATS(t)
	got := cliFakeTimerd(t, nc, "timerd", map[string]any{api.EndpointSchedule: api.ScheduleReply{ID: "a", Revision: 1}})
	path := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(path, []byte{0xff, 0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cliExec(t, "", "schedule", "-s", url, "--subject", "demo.x", "--at", "2030-01-02T15:00:00Z", "--data-file", path); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	req := cliNext(t, got)
	if req.header.Get(api.HeaderAt) != "2030-01-02T15:00:00Z" || !bytes.Equal(req.data, []byte{0xff, 0, 1}) {
		t.Errorf("request %v %q", req.header, req.data)
	}
}

func TestCliUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"schedule", "--in", "5s"}, "--subject is required"},
		{[]string{"schedule", "--subject", "x"}, "say when"},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "--cron", "@daily"}, "--in and --cron: give only one"},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "--data", "a", "--data-file", "b"}, "not both"},
		{[]string{"schedule", "--subject", "x", "--at", "tomorrow"}, "RFC 3339"},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "--header", "Timer-Id=y"}, "reserved"},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "--jitter", "soon"}, "-jitter"},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "extra"}, `unexpected argument "extra"`},
		{[]string{"schedule", "--subject", "x", "--in", "5s", "--expect-revision", "3"}, "add --replace"},
		{[]string{"cancel"}, "missing ID"},
		{[]string{"get", "a", "b"}, "too many arguments: a b"},
		{[]string{"ls", "--limit", "20000"}, "--limit 20000"},
		{[]string{"stats", "--timeout", "0s"}, "--timeout"},
		{[]string{"trigger", "a", "--expect-revision", "3"}, "-expect-revision"},
		{[]string{"batch", "a.json", "b.json"}, "too many arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			// No server: a usage error must be found before connecting.
			code, stdout, stderr := cliExec(t, "", tt.args[0], append(tt.args[1:], "-s", "nats://127.0.0.1:1")...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "timerd "+tt.args[0]+" -h") {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestCliHelp(t *testing.T) {
	code, stdout, stderr := cliExec(t, "", "schedule", "-h")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: timerd schedule [flags]\n") {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, _ = cliExec(t, "", "cancel", "--help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: timerd cancel [flags] ID\n") {
		t.Errorf("exit %d\nstdout %q", code, stdout)
	}
	if _, ok := runClient("serve", nil, nil, nil, nil); ok {
		t.Error("serve is not a client command")
	}
}

func TestCliServerErrors(t *testing.T) {
	url, nc := cliRunNATS(t)
	cliFakeTimerd(t, nc, "timerd", map[string]any{
		api.EndpointCancel: &api.ErrorReply{Error: "no timer order-9", Code: 404},
	})
	code, stdout, stderr := cliExec(t, "", "cancel", "order-9", "--server", url)
	if code != 1 || stdout != "" || stderr != "timerd: no timer order-9 (code 404)\n" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, _, stderr = cliExec(t, "", "get", "order-9", "--server", url)
	if code != 1 || stderr != "timerd: no timerd is serving timerd.get on this NATS\n" {
		t.Errorf("no responders: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = cliExec(t, "", "stats", "-s", "nats://127.0.0.1:1", "--timeout", "1s")
	if code != 1 || !strings.HasPrefix(stderr, "timerd: cannot connect to NATS at nats://127.0.0.1:1: ") {
		t.Errorf("no NATS: exit %d, stderr %q", code, stderr)
	}
}

func TestCliIDCommands(t *testing.T) {
	url, nc := cliRunNATS(t)
	timer := api.Timer{ID: "a", Subject: "demo.x", Kind: "cron", Spec: "@daily", State: api.StateScheduled, Next: "2030-01-02T00:00:00Z", Revision: 5}
	got := cliFakeTimerd(t, nc, "timerd", map[string]any{
		api.EndpointCancel:  api.CancelReply{ID: "a", Cancelled: true},
		api.EndpointGet:     timer,
		api.EndpointPause:   timer,
		api.EndpointResume:  timer,
		api.EndpointTrigger: api.TriggerReply{ID: "a", Due: "2030-01-01T00:00:00Z", Fire: 4, Next: "2030-01-02T00:00:00Z"},
	})
	tests := []struct {
		args     []string
		endpoint string
		revision string
		stdout   string
	}{
		{[]string{"cancel", "a", "--expect-revision", "5"}, api.EndpointCancel, "5", "cancelled a\n"},
		{[]string{"resume", "--expect-revision=4", "a"}, api.EndpointResume, "4", "resumed a, next 2030-01-02T00:00:00Z (revision 5)\n"},
		{[]string{"pause", "a"}, api.EndpointPause, "", "paused a, next 2030-01-02T00:00:00Z (revision 5)\n"},
		{[]string{"trigger", "a"}, api.EndpointTrigger, "", "fired a now: fire 4, due 2030-01-01T00:00:00Z; next 2030-01-02T00:00:00Z\n"},
		{[]string{"get", "--", "a"}, api.EndpointGet, "", ""},
	}
	for _, tt := range tests {
		code, stdout, stderr := cliExec(t, "", tt.args[0], append([]string{"-s", url}, tt.args[1:]...)...)
		if code != 0 || stderr != "" || (tt.stdout != "" && stdout != tt.stdout) {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", tt.args, code, stdout, stderr)
		}
		req := cliNext(t, got)
		if req.endpoint != tt.endpoint || req.header.Get(api.HeaderID) != "a" || req.header.Get(api.HeaderExpectedRevision) != tt.revision {
			t.Errorf("%v: request %s %v", tt.args, req.endpoint, req.header)
		}
	}
}
