package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

// next computes occurrences with no server: fixed instants, a zone's wall
// clock beside UTC, dialects, the repeat rule and its errors.
func TestCliNext(t *testing.T) {
	after := "2030-01-01T00:00:00Z"
	for _, tt := range []struct {
		args []string
		want string // stdout
	}{
		{[]string{"30 9 * * MON-FRI", "--tz", "Europe/Berlin", "-n", "3"},
			"2030-01-01T08:30:00Z            Tue 2030-01-01 09:30:00 CET\n" +
				"2030-01-02T08:30:00Z            Wed 2030-01-02 09:30:00 CET\n" +
				"2030-01-03T08:30:00Z            Thu 2030-01-03 09:30:00 CET\n"},
		// AWS: the third Friday at 09:00 (6 is Friday in EventBridge).
		{[]string{"cron(0 9 ? * 6#3 *)", "-n", "2"},
			"2030-01-18T09:00:00Z            Fri 2030-01-18 09:00:00 UTC\n" +
				"2030-02-15T09:00:00Z            Fri 2030-02-15 09:00:00 UTC\n"},
		// Quartz: the last day of the month, February included.
		{[]string{"0 0 0 L * ?", "--dialect", "quartz", "-n", "2"},
			"2030-01-31T00:00:00Z            Thu 2030-01-31 00:00:00 UTC\n" +
				"2030-02-28T00:00:00Z            Thu 2030-02-28 00:00:00 UTC\n"},
		// A repeat, month arithmetic clamped; --start leaves out January.
		{[]string{"R3/2030-01-31T00:00:00Z/P1M", "--start", "2030-02-01T00:00:00Z"},
			"2030-02-28T00:00:00Z            Thu 2030-02-28 00:00:00 UTC\n" +
				"2030-03-31T00:00:00Z            Sun 2030-03-31 00:00:00 UTC\n"},
		// Spring forward in Berlin: 02:30 does not exist on 31 March.
		{[]string{"30 2 * * *", "--tz", "Europe/Berlin", "-n", "2", "--start", "2030-03-30T12:00:00Z"},
			"2030-03-31T01:00:00Z            Sun 2030-03-31 03:00:00 CEST\n" +
				"2030-04-01T00:30:00Z            Mon 2030-04-01 02:30:00 CEST\n"},
	} {
		code, out, errOut := cliExec(t, "", "next", append(tt.args, "--after", after)...)
		if code != 0 || out != tt.want {
			t.Errorf("next %q: exit %d\n got %q\nwant %q\nstderr %q", tt.args, code, out, tt.want, errOut)
		}
	}

	code, out, errOut := cliExec(t, "", "next", "R3/2030-01-31T00:00:00Z/P1M", "--after", after, "-n", "5")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "3 of 5") {
		t.Errorf("a repeat that ends: exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, _ = cliExec(t, "", "next", "@daily", "--after", after, "-n", "2", "--json")
	var reply cliNextReply
	if code != 0 || json.Unmarshal([]byte(out), &reply) != nil || reply.Kind != api.KindCron ||
		strings.Join(reply.Upcoming, " ") != "2030-01-02T00:00:00Z 2030-01-03T00:00:00Z" {
		t.Errorf("--json: exit %d %q", code, out)
	}
	for _, tt := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"0 0 30 2 *"}, 1, "day 30 never occurs in February"},
		{[]string{"0 9 ? * 6#3 *"}, 1, "eventbridge"}, // an AWS line without cron(...) is not guessed
		{[]string{"R3/2030-01-31T00:00:00Z/P1M", "--dialect", "quartz"}, 2, "applies to cron specs"},
		{[]string{"@daily", "-n", "0"}, 2, "give 1 to 1000"},
		{[]string{"@daily", "--tz", "Mars/Olympus"}, 1, "Mars/Olympus"},
		{[]string{}, 2, "missing SPEC"},
	} {
		code, out, errOut := cliExec(t, "", "next", tt.args...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("next %q: exit %d, out %q, err %q; want exit %d naming %q", tt.args, code, out, errOut, tt.code, tt.wantErr)
		}
	}
}

// get -n and schedule --dry-run against a real node.
func TestCliGetUpcomingAndDryRun(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	url := n.URL()
	if code, _, e := cliExec(t, "", "schedule", "--subject", "rep.x", "--id", "daily", "--cron", "0 0 0 L * ?",
		"--cron-dialect", "quartz", "--start", "2040-01-01T00:00:00Z", "-s", url); code != 0 {
		t.Fatalf("schedule: %s", e)
	}
	code, out, errOut := cliExec(t, "", "get", "daily", "-n", "3", "-s", url)
	want := "upcoming      2040-01-31T00:00:00Z\n              2040-02-29T00:00:00Z\n              2040-03-31T00:00:00Z\n"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "cron dialect  quartz") {
		t.Errorf("get -n 3: exit %d\n%s\nwant it to contain\n%s\nstderr %q", code, out, want, errOut)
	}
	code, out, _ = cliExec(t, "", "get", "daily", "-n", "10", "--json", "-s", url)
	var tm api.Timer
	if code != 0 || json.Unmarshal([]byte(out), &tm) != nil || len(tm.Upcoming) != 10 || tm.Upcoming[9] != "2040-10-31T00:00:00Z" {
		t.Errorf("get -n 10 --json: exit %d %q", code, out)
	}
	if code, _, errOut := cliExec(t, "", "get", "daily", "-n", "101", "-s", url); code != 2 || !strings.Contains(errOut, "0 to 100") {
		t.Errorf("get -n 101: exit %d %q", code, errOut)
	}

	before, err := n.Store.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cliExec(t, "", "schedule", "--subject", "rep.y", "--id", "trial", "--cron", "cron(0 9 ? * 6#3 *)", "--dry-run", "-s", url)
	if code != 0 || !strings.HasPrefix(out, "dry run: valid; nothing was stored\n") || !strings.Contains(out, "upcoming") ||
		strings.Contains(out, "revision") {
		t.Errorf("--dry-run: exit %d\n%s\nstderr %q", code, out, errOut)
	}
	if code, _, _ := cliExec(t, "", "get", "trial", "-s", url); code != 1 {
		t.Errorf("get after --dry-run: exit %d, want 1 (404)", code)
	}
	code, _, errOut = cliExec(t, "", "schedule", "--subject", "rep.y", "--cron", "0 0 30 2 *", "--dry-run", "-s", url)
	if code != 1 || !strings.Contains(errOut, "code 400") || !strings.Contains(errOut, "February") {
		t.Errorf("--dry-run of an impossible spec: exit %d %q", code, errOut)
	}
	after, err := n.Store.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after.Records != before.Records {
		t.Errorf("bucket records %d -> %d across dry runs", before.Records, after.Records)
	}
	if code, _, errOut := cliExec(t, "", "schedule", "--subject", "x", "--in", "1s", "--cron-dialect", "quartz", "-s", url); code != 2 || !strings.Contains(errOut, "add --cron") {
		t.Errorf("--cron-dialect without --cron: exit %d %q", code, errOut)
	}
}
