package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

// The CLI against a real node: every subcommand a user types in the README.
func TestCLIAgainstRealNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	url := n.URL()
	nc := n.Connect()
	fires := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("cli.>", fires)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.Flush()

	code, out, errOut := cliExec(t, "", "schedule", "--in", "300ms", "--subject", "cli.x", "--data", "hello", "--id", "order-1", "--header", "X-K=v", "-s", url)
	if code != 0 || !strings.Contains(out, "scheduled order-1") {
		t.Fatalf("schedule: %d %q %q", code, out, errOut)
	}
	code, out, _ = cliExec(t, "", "get", "order-1", "-s", url, "--json")
	var tm api.Timer
	if code != 0 || json.Unmarshal([]byte(out), &tm) != nil || tm.Subject != "cli.x" || tm.Headers["X-K"] != "v" {
		t.Fatalf("get: %d %q", code, out)
	}
	select {
	case m := <-fires:
		if string(m.Data) != "hello" || m.Header.Get("Timer-Id") != "order-1" || m.Header.Get("X-K") != "v" {
			t.Fatalf("fire %q %v", m.Data, m.Header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no fire")
	}

	for _, id := range []string{"order-2", "order-3", "other-1"} {
		if code, _, e := cliExec(t, "", "schedule", "--in", "1h", "--subject", "cli.y", "--id", id, "-s", url); code != 0 {
			t.Fatalf("schedule %s: %s", id, e)
		}
	}
	code, out, _ = cliExec(t, "", "ls", "--prefix", "order-", "-s", url)
	if code != 0 || !strings.Contains(out, "order-2") || !strings.Contains(out, "order-3") || strings.Contains(out, "other-1") {
		t.Fatalf("ls --prefix order-: %d\n%s", code, out)
	}
	for _, c := range [][]string{{"pause", "order-2"}, {"resume", "order-2"}, {"cancel", "order-3"}, {"stats"}} {
		if code, out, e := cliExec(t, "", c[0], append(c[1:], "-s", url)...); code != 0 {
			t.Fatalf("%v: %d %q %q", c, code, out, e)
		}
	}
	code, _, errOut = cliExec(t, "", "cancel", "order-3", "-s", url)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("second cancel: %d %q, want exit 1 naming code 404", code, errOut)
	}
	code, out, _ = cliExec(t, "", "trigger", "order-2", "-s", url)
	if code != 0 {
		t.Fatalf("trigger: %d %q", code, out)
	}
	select {
	case m := <-fires:
		if m.Header.Get("Timer-Id") != "order-2" {
			t.Fatalf("triggered fire %v", m.Header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("trigger did not fire")
	}
	batch := `[{"id": "b-1", "subject": "cli.b", "in": "1h"}, {"id": "b-2", "subject": "cli.*", "in": "1h"}]`
	code, out, errOut = cliExec(t, batch, "batch", "-", "-s", url)
	if code != 1 || !strings.Contains(out+errOut, "b-1") {
		t.Fatalf("batch with one bad element: exit %d, out %q, err %q", code, out, errOut)
	}
}
