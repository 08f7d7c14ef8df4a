package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/timerd/timerd/api"
)

func TestCliHumanOutput(t *testing.T) {
	tests := []struct {
		name  string
		print func(w io.Writer)
		want  string
	}{
		{"schedule created", func(w io.Writer) {
			cliPrintSchedule(w, api.ScheduleReply{ID: "order-1", Next: "2026-11-24T10:00:00Z", Revision: 7, Created: true})
		}, "scheduled order-1 at 2026-11-24T10:00:00Z (revision 7)\n"},
		{"schedule unchanged", func(w io.Writer) {
			cliPrintSchedule(w, api.ScheduleReply{ID: "order-1", Next: "2026-11-24T10:00:00Z", Revision: 7})
		}, "order-1 already scheduled at 2026-11-24T10:00:00Z (revision 7, unchanged)\n"},
		{"schedule with nothing left", func(w io.Writer) {
			cliPrintSchedule(w, api.ScheduleReply{ID: "r", Revision: 2, Created: true})
		}, "scheduled r, no occurrence left, (revision 2)\n"},
		{"batch", func(w io.Writer) {
			cliPrintBatch(w, 0, []api.BatchItem{{ID: "a"}, {ID: "b"}, {}}, []api.BatchResult{
				{ScheduleReply: api.ScheduleReply{ID: "a", Next: "2030-01-01T00:00:00Z", Revision: 1, Created: true}},
				{Error: "Timer-Cron \"x\" is not a cron expression", Code: 400},
				{Error: "over the limit", Code: 429},
			})
		}, "scheduled a at 2030-01-01T00:00:00Z (revision 1)\n" +
			"timer 1 (b) failed: Timer-Cron \"x\" is not a cron expression (code 400)\n" +
			"timer 2 failed: over the limit (code 429)\n"},
		{"cancel", func(w io.Writer) { cliPrintCancel(w, api.CancelReply{ID: "a", Cancelled: true}) }, "cancelled a\n"},
		{"pause", func(w io.Writer) {
			cliPrintPaused(w, "paused", api.Timer{ID: "a", State: api.StatePaused, Next: "2030-01-01T00:00:00Z", Revision: 8})
		}, "paused a (revision 8)\n"},
		{"resume", func(w io.Writer) {
			cliPrintPaused(w, "resumed", api.Timer{ID: "a", State: api.StateScheduled, Next: "2030-01-01T00:00:00Z", Revision: 9})
		}, "resumed a, next 2030-01-01T00:00:00Z (revision 9)\n"},
		{"trigger", func(w io.Writer) {
			cliPrintTrigger(w, api.TriggerReply{ID: "a", Due: "2030-01-01T00:00:00Z", Fire: 3, Next: "2030-01-02T00:00:00Z"})
		}, "fired a now: fire 3, due 2030-01-01T00:00:00Z; next 2030-01-02T00:00:00Z\n"},
		{"trigger last", func(w io.Writer) {
			cliPrintTrigger(w, api.TriggerReply{ID: "a", Due: "2030-01-01T00:00:00Z", Fire: 1})
		}, "fired a now: fire 1, due 2030-01-01T00:00:00Z; no occurrence left\n"},
		{"table", func(w io.Writer) {
			cliPrintTable(w, []api.Timer{
				{ID: "daily", Kind: "cron", Spec: "0 6 * * *", Next: "2030-01-01T06:00:00Z", State: "scheduled", Fires: 12, Subject: "reports.run"},
				{ID: "order-1", Kind: "in", Spec: "30m", State: "paused", Subject: "orders.expire"},
			})
		}, "" +
			"ID       KIND  SPEC       NEXT                  STATE      FIRES  SUBJECT\n" +
			"daily    cron  0 6 * * *  2030-01-01T06:00:00Z  scheduled  12     reports.run\n" +
			"order-1  in    30m        -                     paused     0      orders.expire\n"},
		{"empty table", func(w io.Writer) { cliPrintTable(w, nil) }, ""},
		{"timer", func(w io.Writer) {
			cliPrintTimer(w, api.Timer{
				ID: "daily", Subject: "reports.run", Kind: "cron", Spec: "0 6 * * *", TimeZone: "Europe/Paris",
				MaxFires: 5, State: "scheduled", Next: "2030-01-01T05:00:00Z", Fires: 2, Revision: 3,
				Created: "2029-12-30T10:00:00Z", Headers: map[string]string{"X-B": "2", "X-A": "1"}, PayloadSize: 11,
			})
		}, "" +
			"id         daily\n" +
			"subject    reports.run\n" +
			"kind       cron\n" +
			"spec       0 6 * * *\n" +
			"time zone  Europe/Paris\n" +
			"max fires  5\n" +
			"state      scheduled\n" +
			"next       2030-01-01T05:00:00Z\n" +
			"fires      2\n" +
			"revision   3\n" +
			"created    2029-12-30T10:00:00Z\n" +
			"headers    X-A: 1\n" +
			"           X-B: 2\n" +
			"payload    11 bytes\n"},
		{"stats", func(w io.Writer) {
			cliPrintStats(w, api.Stats{
				Node: "n1", Version: "0.1.0", Ready: true, Shards: 16, OwnedShards: []int{0, 5}, Timers: 5, Scheduled: 4, Paused: 1,
				InWheel: 4, Fired: 10, Created: 12, Cancelled: 2, Lag: api.LagStats{Count: 10, P50Ms: 0.4, P99Ms: 1.5, MaxMs: 3},
				Store: api.StoreStats{Bucket: "timerd", Records: 5, Bytes: 1234, Writes: 20},
			})
		}, "" +
			"node       n1\n" +
			"version    0.1.0\n" +
			"ready      true\n" +
			"shards     2 of 16 owned: 0,5\n" +
			"timers     5 (4 scheduled, 1 paused)\n" +
			"in wheel   4\n" +
			"in flight  0\n" +
			"fired      10\n" +
			"created    12\n" +
			"cancelled  2\n" +
			"lag        p50 0.4ms, p99 1.5ms, max 3ms over 10 fires\n" +
			"store      timerd: 5 records, 1234 bytes, 20 writes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.print(&b)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestCliCellKeepsTheTableAligned(t *testing.T) {
	var b bytes.Buffer
	cliPrintTable(&b, []api.Timer{{ID: "a\tb", Spec: "x\ny", Subject: "s"}})
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 2 {
		t.Errorf("table has %d lines:\n%s", len(lines), b.String())
	}
}

func TestCliHelpNamesEveryFlag(t *testing.T) {
	for _, cmd := range cliCommands {
		r := &cliRun{cmd: &cmd, getenv: func(string) string { return "" }}
		var help bytes.Buffer
		r.printHelp(&help)
		fs, _ := r.flagSet()
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(help.String(), "-"+f.Name+" ") && !strings.Contains(help.String(), "-"+f.Name+",") {
				t.Errorf("timerd %s -h does not mention --%s", cmd.name, f.Name)
			}
		})
		if !strings.Contains(help.String(), "Examples:\n  timerd "+cmd.name) {
			t.Errorf("timerd %s -h has no example", cmd.name)
		}
	}
	for _, cmd := range cliCommands {
		if !strings.Contains(cliClientUsage(), "  "+cmd.name+" ") {
			t.Errorf("client usage does not list %s", cmd.name)
		}
	}
}
