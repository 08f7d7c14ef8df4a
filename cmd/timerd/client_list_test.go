package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
)

// cliReadAll reads a whole batch input as timerd batch does, in chunks.
func cliReadAll(input string) ([]api.BatchItem, error) {
	in, err := cliNewBatchInput(strings.NewReader(input), int64(len(input)))
	if err != nil {
		return nil, err
	}
	var items []api.BatchItem
	for {
		ch, err := in.chunk(2, 1<<20)
		if ch != nil {
			items = append(items, ch.items...)
		}
		if err != nil || ch == nil {
			return items, err
		}
	}
}

func TestCliDecodeBatch(t *testing.T) {
	first, b64, two := "first", "AAEC", int64(2)
	want := []api.BatchItem{
		{ID: "r-1", Subject: "reminders", In: "1h", Data: &first, MaxFires: &two},
		{Subject: "reminders", Cron: "@daily", TimeZone: "Europe/Paris", Headers: map[string]string{"X-A": "1"}, DataB64: &b64, Replace: true},
		{ID: "r-3", Subject: "reminders", Cron: "0 0 0 L * ?", CronDialect: "quartz"},
	}
	lines := []string{
		`{"id": "r-1", "subject": "reminders", "in": "1h", "data": "first", "max_fires": 2}`,
		`{"subject": "reminders", "cron": "@daily", "time_zone": "Europe/Paris", "headers": {"X-A": "1"}, "data_b64": "AAEC", "replace": true}`,
		`{"id": "r-3", "subject": "reminders", "cron": "0 0 0 L * ?", "cron_dialect": "quartz"}`,
	}
	for form, input := range map[string]string{
		"array":  "[\n" + strings.Join(lines, ",\n") + "\n]\n",
		"ndjson": strings.Join(lines, "\n") + "\n",
		"ndjson without a last line end, blank lines": "\n" + strings.Join(lines, "\n\n"),
	} {
		items, err := cliReadAll(input)
		if err != nil || !reflect.DeepEqual(items, want) {
			t.Errorf("%s: items %+v, %v", form, items, err)
		}
	}
	for input, wantErr := range map[string]string{
		`[{"subjet": "x"}]`:                         `timer 0: json: unknown field "subjet"`,
		"{\"subject\": \"x\"}\n{\"subjet\": \"x\"}": `timer 1: json: unknown field "subjet"`,
		`[]`:                            "no timers",
		``:                              "no timers: the input is empty",
		" \n ":                          "no timers: the input is empty",
		`[{"subject": "x"}] [{}]`:       "more after it",
		`[{"subject": "x", "in": 5}]`:   "timer 0: json: cannot unmarshal number",
		`"x"`:                           "want a JSON array of timers or NDJSON",
		`{"subject": "x"} [1]`:          "timer 1: json: cannot unmarshal array",
		`{"subject": "x"} {"subject": `: "timer 1: the input ends inside it",
		`[{"subject": "x"},`:            "timer 1:",
	} {
		if _, err := cliReadAll(input); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: err = %v, want %q", input, err, wantErr)
		}
	}
}

func TestCliBatch(t *testing.T) {
	url, nc := cliRunNATS(t)
	got := cliFakeTimerd(t, nc, "timerd", map[string]any{api.EndpointBatch: []api.BatchResult{
		{ScheduleReply: api.ScheduleReply{ID: "r-1", Next: "2030-01-01T01:00:00Z", Revision: 3, Created: true}},
		{Error: "Timer-Cron \"x\" is not a cron expression", Code: 400},
	}})
	input := `[{"id": "r-1", "subject": "reminders", "in": "1h"}, {"id": "r-2", "subject": "reminders", "cron": "x"}]`
	path := filepath.Join(t.TempDir(), "timers.json")
	if err := os.WriteFile(path, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := cliExec(t, "", "batch", path, "-s", url)
	wantOut := "scheduled r-1 at 2030-01-01T01:00:00Z (revision 3)\ntimer 1 (r-2) failed: Timer-Cron \"x\" is not a cron expression (code 400)\n"
	if code != 1 || stdout != wantOut || stderr != "timerd: 1 of 2 timers failed\n" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	var sent []api.BatchItem
	if err := json.Unmarshal(cliNext(t, got).data, &sent); err != nil || len(sent) != 2 || sent[1].Cron != "x" {
		t.Errorf("sent %+v (%v)", sent, err)
	}

	code, stdout, _ = cliExec(t, input, "batch", "--json", "-s", url, "-")
	var results []api.BatchResult
	if err := json.Unmarshal([]byte(stdout), &results); code != 1 || err != nil || len(results) != 2 {
		t.Errorf("stdin --json: exit %d, %q", code, stdout)
	}
	cliNext(t, got)

	code, _, stderr = cliExec(t, `[{"subjet": "x"}]`, "batch", "-s", url)
	if code != 1 || stderr != "timerd: batch from stdin: timer 0: json: unknown field \"subjet\"\n" {
		t.Errorf("bad input: exit %d, stderr %q", code, stderr)
	}
}

func TestCliLs(t *testing.T) {
	url, nc := cliRunNATS(t)
	pages := map[string]api.ListReply{
		"":   {Timers: []api.Timer{{ID: "o-1", Kind: "in", Spec: "30m", Next: "2030-01-01T00:30:00Z", State: "scheduled", Subject: "orders.expire"}}, NextCursor: "c1"},
		"c1": {Timers: []api.Timer{{ID: "o-2", Kind: "cron", Spec: "@daily", State: "paused", Fires: 3, Subject: "orders.daily"}}},
	}
	requests := make(chan nats.Header, 10)
	svc, err := micro.AddService(nc, micro.Config{Name: api.ServiceName, Version: "0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	err = svc.AddGroup("timerd").AddEndpoint(api.EndpointList, micro.HandlerFunc(func(req micro.Request) {
		requests <- nats.Header(req.Headers())
		if err := req.RespondJSON(pages[req.Headers().Get(api.HeaderCursor)]); err != nil {
			t.Error(err)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	drain := func() []nats.Header {
		var hs []nats.Header
		for len(requests) > 0 {
			hs = append(hs, <-requests)
		}
		return hs
	}

	code, stdout, stderr := cliExec(t, "", "ls", "--prefix", "o-", "--limit", "1", "-s", url)
	wantTable := "" +
		"ID   KIND  SPEC  NEXT                  STATE      FIRES  SUBJECT\n" +
		"o-1  in    30m   2030-01-01T00:30:00Z  scheduled  0      orders.expire\n"
	if code != 0 || stdout != wantTable || stderr != "more timers: add --cursor c1 (or use --all)\n" {
		t.Errorf("one page: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	if hs := drain(); len(hs) != 1 || hs[0].Get(api.HeaderPrefix) != "o-" || hs[0].Get(api.HeaderLimit) != "1" {
		t.Errorf("one page: requests %v", hs)
	}

	code, stdout, stderr = cliExec(t, "", "ls", "--all", "-s", url)
	wantTable = "" +
		"ID   KIND  SPEC    NEXT                  STATE      FIRES  SUBJECT\n" +
		"o-1  in    30m     2030-01-01T00:30:00Z  scheduled  0      orders.expire\n" +
		"o-2  cron  @daily  -                     paused     3      orders.daily\n"
	if code != 0 || stdout != wantTable || stderr != "" {
		t.Errorf("--all: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	if hs := drain(); len(hs) != 2 || hs[1].Get(api.HeaderCursor) != "c1" {
		t.Errorf("--all: requests %v", hs)
	}

	code, stdout, _ = cliExec(t, "", "ls", "--all", "--json", "-s", url)
	var all api.ListReply
	if err := json.Unmarshal([]byte(stdout), &all); code != 0 || err != nil || len(all.Timers) != 2 || all.Timers[1].ID != "o-2" || all.NextCursor != "" {
		t.Errorf("--all --json: exit %d, %v\n%s", code, err, stdout)
	}
	drain()

	code, stdout, _ = cliExec(t, "", "ls", "--cursor", "c1", "--json", "-s", url)
	var page api.ListReply
	if err := json.Unmarshal([]byte(stdout), &page); code != 0 || err != nil || len(page.Timers) != 1 || page.Timers[0].ID != "o-2" {
		t.Errorf("--json page: exit %d, %v\n%s", code, err, stdout)
	}
	drain()

	code, stdout, stderr = cliExec(t, "", "ls", "--cursor", "nowhere", "-s", url)
	if code != 0 || stdout != "" || stderr != "no timers\n" {
		t.Errorf("empty: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, _ = cliExec(t, "", "ls", "--all", "--cursor", "nowhere", "--json", "-s", url)
	if err := json.Unmarshal([]byte(stdout), &all); code != 0 || err != nil || len(all.Timers) != 0 {
		t.Errorf("empty --all --json: exit %d, %v\n%s", code, err, stdout)
	}
}

func TestCliStats(t *testing.T) {
	url, nc := cliRunNATS(t)
	cliFakeTimerd(t, nc, "timerd", map[string]any{api.EndpointStats: api.Stats{Node: "n1", Ready: true, Shards: 4, OwnedShards: []int{0, 1, 2, 3}}})
	code, stdout, stderr := cliExec(t, "", "stats", "-s", url)
	if code != 0 || stderr != "" || !strings.Contains(stdout, "shards     4 of 4 owned: 0,1,2,3\n") {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}
