package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/timerd/timerd/api"
)

// Human output of the client subcommands. --json bypasses all of it.

func cliPrintSchedule(w io.Writer, rep api.ScheduleReply) {
	when := " at " + rep.Next
	if rep.Next == "" {
		when = ", no occurrence left,"
	}
	if rep.Created {
		fmt.Fprintf(w, "scheduled %s%s (revision %d)\n", rep.ID, when, rep.Revision)
		return
	}
	fmt.Fprintf(w, "%s already scheduled%s (revision %d, unchanged)\n", rep.ID, when, rep.Revision)
}

// cliPrintBatch writes the results of a chunk of a batch whose first timer
// is number first of the input (numbers count from 0).
func cliPrintBatch(w io.Writer, first int, items []api.BatchItem, results []api.BatchResult) {
	for i, res := range results {
		if res.Error != "" || res.Code != 0 {
			id := ""
			if i < len(items) && items[i].ID != "" {
				id = " (" + items[i].ID + ")"
			}
			fmt.Fprintf(w, "timer %d%s failed: %s (code %d)\n", first+i, id, res.Error, res.Code)
			continue
		}
		cliPrintSchedule(w, res.ScheduleReply)
	}
}

func cliPrintCancel(w io.Writer, rep api.CancelReply) {
	fmt.Fprintf(w, "cancelled %s\n", rep.ID)
}

// cliPrintPaused reports a pause or resume; verb is "paused" or "resumed".
func cliPrintPaused(w io.Writer, verb string, t api.Timer) {
	next := ""
	if t.State == api.StateScheduled {
		next = ", next " + cliOr(t.Next, "none")
	}
	fmt.Fprintf(w, "%s %s%s (revision %d)\n", verb, t.ID, next, t.Revision)
}

func cliPrintTrigger(w io.Writer, rep api.TriggerReply) {
	next := "no occurrence left"
	if rep.Next != "" {
		next = "next " + rep.Next
	}
	fmt.Fprintf(w, "fired %s now: fire %d, due %s; %s\n", rep.ID, rep.Fire, rep.Due, next)
}

// cliPrintTimer writes one timer as aligned "name value" lines, leaving out
// options that are not set.
func cliPrintTimer(w io.Writer, t api.Timer) { cliPrintTimerLines(w, t, true) }

// cliPrintPreview writes the timer a dry run answered: what a create would
// store, without the state, fires, revision and creation it does not have.
func cliPrintPreview(w io.Writer, t api.Timer) {
	fmt.Fprintln(w, "dry run: valid; nothing was stored")
	cliPrintTimerLines(w, t, false)
}

func cliPrintTimerLines(w io.Writer, t api.Timer, stored bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	optional := func(name, value string) {
		if value != "" {
			line(name, value)
		}
	}
	list := func(name string, values []string) {
		for i, v := range values {
			if i > 0 {
				name = ""
			}
			line(name, v)
		}
	}
	optional("id", t.ID)
	line("subject", t.Subject)
	line("kind", t.Kind)
	line("spec", t.Spec)
	optional("cron dialect", t.CronDialect)
	optional("time zone", t.TimeZone)
	optional("start", t.Start)
	optional("end", t.End)
	if t.MaxFires > 0 {
		line("max fires", strconv.FormatInt(t.MaxFires, 10))
	}
	optional("misfire", t.Misfire)
	optional("jitter", t.Jitter)
	if stored {
		line("state", t.State)
		optional("failed", t.Failed)
	}
	line("next", cliOr(t.Next, "none"))
	list("upcoming", t.Upcoming)
	if stored {
		line("fires", strconv.FormatInt(t.Fires, 10))
		line("revision", strconv.FormatUint(t.Revision, 10))
		line("created", t.Created)
	}
	keys := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	headers := make([]string, len(keys))
	for i, k := range keys {
		headers[i] = k + ": " + t.Headers[k]
	}
	list("headers", headers)
	line("payload", fmt.Sprintf("%d bytes", t.PayloadSize))
	_ = tw.Flush()
}

// cliPrintTable writes timers as the ls table.
func cliPrintTable(w io.Writer, timers []api.Timer) {
	if len(timers) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSPEC\tNEXT\tSTATE\tFIRES\tSUBJECT")
	for _, t := range timers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			cliCell(t.ID), cliCell(t.Kind), cliCell(t.Spec), cliOr(t.Next, "-"), cliCell(t.State), t.Fires, cliCell(t.Subject))
	}
	_ = tw.Flush()
}

func cliPrintStats(w io.Writer, s api.Stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", name, fmt.Sprintf(format, args...))
	}
	owned := make([]string, len(s.OwnedShards))
	for i, shard := range s.OwnedShards {
		owned[i] = strconv.Itoa(shard)
	}
	line("node", "%s", s.Node)
	line("version", "%s", cliOr(s.Version, "-"))
	line("ready", "%t", s.Ready)
	line("shards", "%d of %d owned: %s", len(s.OwnedShards), s.Shards, cliOr(strings.Join(owned, ","), "none"))
	line("timers", "%d (%d scheduled, %d paused)", s.Timers, s.Scheduled, s.Paused)
	line("in wheel", "%d", s.InWheel)
	line("in flight", "%d", s.InFlight)
	line("fired", "%d", s.Fired)
	line("created", "%d", s.Created)
	line("cancelled", "%d", s.Cancelled)
	line("lag", "p50 %gms, p99 %gms, max %gms over %d fires", s.Lag.P50Ms, s.Lag.P99Ms, s.Lag.MaxMs, s.Lag.Count)
	line("store", "%s: %d records, %d bytes, %d writes", cliOr(s.Store.Bucket, "-"), s.Store.Records, s.Store.Bytes, s.Store.Writes)
	_ = tw.Flush()
}

func cliOr(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// cliCell keeps a table cell on one line and in its column: tabs and line
// breaks inside a value would break the alignment.
func cliCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
