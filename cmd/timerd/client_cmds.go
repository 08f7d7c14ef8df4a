package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// cliCommands lists the client subcommands in the order help shows them.
var cliCommands = []cliCommand{
	{name: "schedule", summary: "create or replace a timer", help: cliHelpSchedule, setup: cliSetupSchedule},
	{name: "batch", args: "[FILE|-]", maxArgs: 1, summary: "schedule many timers from a JSON array or NDJSON", help: cliHelpBatch, setup: cliSetupBatch},
	{name: "cancel", args: "ID", minArgs: 1, maxArgs: 1, summary: "cancel a timer", help: cliHelpCancel, setup: cliSetupCancel},
	{name: "get", args: "ID", minArgs: 1, maxArgs: 1, summary: "show a timer", help: cliHelpGet, setup: cliSetupGet},
	{name: "ls", summary: "list timers", help: cliHelpLs, setup: cliSetupLs},
	{name: "pause", args: "ID", minArgs: 1, maxArgs: 1, summary: "stop a timer firing, keeping it", help: cliHelpPause, setup: cliSetupPause},
	{name: "resume", args: "ID", minArgs: 1, maxArgs: 1, summary: "let a paused timer fire again", help: cliHelpResume, setup: cliSetupResume},
	{name: "trigger", args: "ID", minArgs: 1, maxArgs: 1, summary: "fire a timer's next occurrence now", help: cliHelpTrigger, setup: cliSetupTrigger},
	{name: "stats", summary: "show one node's counters", help: cliHelpStats, setup: cliSetupStats},
	{name: "next", args: "SPEC", minArgs: 1, maxArgs: 1, offline: true, summary: "print a cron or repeat spec's next occurrences (no server)", help: cliHelpNext, setup: cliSetupNext},
}

func cliSetupSchedule(r *cliRun, fs *flag.FlagSet) cliPrepare {
	var (
		t              client.Timer
		at, start, end cliTime
		headers        = cliHeaders{}
		data, dataFile string
		dataSet        bool
		dryRun         bool
	)
	fs.StringVar(&t.ID, "id", "", "")
	fs.StringVar(&t.Subject, "subject", "", "")
	fs.StringVar(&t.InSpec, "in", "", "") // sent as typed: Go or ISO 8601
	fs.Var(&at, "at", "")
	fs.StringVar(&t.Cron, "cron", "", "")
	fs.StringVar(&t.Repeat, "repeat", "", "")
	fs.StringVar(&t.TimeZone, "tz", "", "")
	fs.StringVar(&t.CronDialect, "cron-dialect", "", "")
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.Var(&start, "start", "")
	fs.Var(&end, "end", "")
	fs.Int64Var(&t.MaxFires, "max-fires", 0, "")
	fs.StringVar(&t.Misfire, "misfire", "", "")
	fs.DurationVar(&t.Jitter, "jitter", 0, "")
	fs.BoolVar(&t.Replace, "replace", false, "")
	fs.Uint64Var(&t.ExpectedRevision, "expect-revision", 0, "")
	fs.Var(headers, "header", "")
	fs.Func("data", "", func(s string) error { data, dataSet = s, true; return nil })
	fs.StringVar(&dataFile, "data-file", "", "")

	return func([]string) (cliAction, error) {
		if strings.TrimSpace(t.Subject) == "" {
			return nil, cliUsagef("--subject is required: the subject the timer publishes to")
		}
		var when []string
		for _, w := range []struct {
			flag string
			set  bool
		}{{"--in", t.InSpec != ""}, {"--at", at.set}, {"--cron", t.Cron != ""}, {"--repeat", t.Repeat != ""}} {
			if w.set {
				when = append(when, w.flag)
			}
		}
		switch len(when) {
		case 0:
			return nil, cliUsagef("say when: give one of --in, --at, --cron and --repeat")
		case 1:
		default:
			return nil, cliUsagef("%s: give only one of --in, --at, --cron and --repeat", strings.Join(when, " and "))
		}
		if dataSet && dataFile != "" {
			return nil, cliUsagef("give --data or --data-file, not both")
		}
		if t.MaxFires < 0 {
			return nil, cliUsagef("--max-fires %d: give a positive count", t.MaxFires)
		}
		if t.Jitter < 0 {
			return nil, cliUsagef("--jitter %s: give 0 or more", t.Jitter)
		}
		if t.ExpectedRevision > 0 && !t.Replace {
			return nil, cliUsagef("--expect-revision guards a replace: add --replace")
		}
		if t.CronDialect != "" && t.Cron == "" {
			return nil, cliUsagef("--cron-dialect says how to read --cron: add --cron")
		}
		t.At, t.Start, t.End = at.t, start.t, end.t
		if len(headers) > 0 {
			t.Headers = nats.Header(headers)
		}
		t.Data = []byte(data)
		if dataFile != "" {
			b, err := r.readInput(dataFile)
			if err != nil {
				return nil, err
			}
			t.Data = b
		}
		if dryRun {
			return r.dryRun(t), nil
		}
		return func(ctx context.Context, c *client.Client) error {
			rep, err := c.Schedule(ctx, t)
			if err != nil {
				return err
			}
			return r.print(rep, func(w io.Writer) { cliPrintSchedule(w, rep) })
		}, nil
	}
}

// cliIDCommand builds the setup of a command that takes one timer id and,
// when revisioned, --expect-revision.
func cliIDCommand(revisioned bool, call func(ctx context.Context, c *client.Client, id string, opts []client.CallOption) (any, error), human func(io.Writer, any)) func(*cliRun, *flag.FlagSet) cliPrepare {
	return func(r *cliRun, fs *flag.FlagSet) cliPrepare {
		var revision uint64
		if revisioned {
			fs.Uint64Var(&revision, "expect-revision", 0, "")
		}
		return func(args []string) (cliAction, error) {
			id := args[0]
			var opts []client.CallOption
			if revision > 0 {
				opts = append(opts, client.ExpectRevision(revision))
			}
			return func(ctx context.Context, c *client.Client) error {
				rep, err := call(ctx, c, id, opts)
				if err != nil {
					return err
				}
				return r.print(rep, func(w io.Writer) { human(w, rep) })
			}, nil
		}
	}
}

var (
	cliSetupCancel = cliIDCommand(true, func(ctx context.Context, c *client.Client, id string, opts []client.CallOption) (any, error) {
		return c.Cancel(ctx, id, opts...)
	}, func(w io.Writer, rep any) { cliPrintCancel(w, rep.(api.CancelReply)) })

	cliSetupPause = cliIDCommand(true, func(ctx context.Context, c *client.Client, id string, opts []client.CallOption) (any, error) {
		return c.Pause(ctx, id, opts...)
	}, func(w io.Writer, rep any) { cliPrintPaused(w, "paused", rep.(api.Timer)) })

	cliSetupResume = cliIDCommand(true, func(ctx context.Context, c *client.Client, id string, opts []client.CallOption) (any, error) {
		return c.Resume(ctx, id, opts...)
	}, func(w io.Writer, rep any) { cliPrintPaused(w, "resumed", rep.(api.Timer)) })

	cliSetupTrigger = cliIDCommand(false, func(ctx context.Context, c *client.Client, id string, _ []client.CallOption) (any, error) {
		return c.Trigger(ctx, id)
	}, func(w io.Writer, rep any) { cliPrintTrigger(w, rep.(api.TriggerReply)) })
)

func cliSetupLs(r *cliRun, fs *flag.FlagSet) cliPrepare {
	var opts client.ListOptions
	var all bool
	fs.StringVar(&opts.Prefix, "prefix", "", "")
	fs.IntVar(&opts.Limit, "limit", 0, "")
	fs.StringVar(&opts.Cursor, "cursor", "", "")
	fs.BoolVar(&all, "all", false, "")
	return func([]string) (cliAction, error) {
		if opts.Limit < 0 || opts.Limit > api.MaxLimit {
			return nil, cliUsagef("--limit %d: give 1 to %d", opts.Limit, api.MaxLimit)
		}
		if all {
			return func(ctx context.Context, c *client.Client) error { return r.listAll(ctx, c, opts) }, nil
		}
		return func(ctx context.Context, c *client.Client) error {
			page, err := c.List(ctx, opts)
			if err != nil {
				return err
			}
			if err := r.print(page, func(w io.Writer) { cliPrintTable(w, page.Timers) }); err != nil {
				return err
			}
			if !r.jsonOut {
				if len(page.Timers) == 0 {
					fmt.Fprintln(r.stderr, "no timers")
				}
				if page.NextCursor != "" {
					fmt.Fprintf(r.stderr, "more timers: add --cursor %s (or use --all)\n", page.NextCursor)
				}
			}
			return nil
		}, nil
	}
}

// listAll follows cursors from opts.Cursor to the last page. With --json
// it streams one {"timers": [...]} object, the shape of a last page.
func (r *cliRun) listAll(ctx context.Context, c *client.Client, opts client.ListOptions) error {
	var timers []api.Timer
	n := 0
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return err
		}
		for _, t := range page.Timers {
			if r.jsonOut {
				b, err := json.MarshalIndent(t, "    ", "  ")
				if err != nil {
					return err
				}
				sep := ",\n    "
				if n == 0 {
					sep = "{\n  \"timers\": [\n    "
				}
				fmt.Fprintf(r.stdout, "%s%s", sep, b)
			} else {
				timers = append(timers, t)
			}
			n++
		}
		if page.NextCursor == "" {
			break
		}
		if page.NextCursor == opts.Cursor {
			return fmt.Errorf("list cursor %q did not advance", page.NextCursor)
		}
		opts.Cursor = page.NextCursor
	}
	switch {
	case r.jsonOut && n == 0:
		fmt.Fprint(r.stdout, "{\n  \"timers\": []\n}\n")
	case r.jsonOut:
		fmt.Fprint(r.stdout, "\n  ]\n}\n")
	case n == 0:
		fmt.Fprintln(r.stderr, "no timers")
	default:
		cliPrintTable(r.stdout, timers)
	}
	return nil
}

func cliSetupStats(r *cliRun, _ *flag.FlagSet) cliPrepare {
	return func([]string) (cliAction, error) {
		return func(ctx context.Context, c *client.Client) error {
			st, err := c.Stats(ctx)
			if err != nil {
				return err
			}
			return r.print(st, func(w io.Writer) { cliPrintStats(w, st) })
		}, nil
	}
}

// print writes reply as indented JSON with --json, else as human writes it.
func (r *cliRun) print(reply any, human func(io.Writer)) error {
	if !r.jsonOut {
		human(r.stdout)
		return nil
	}
	b, err := json.MarshalIndent(reply, "", "  ")
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	_, err = fmt.Fprintf(r.stdout, "%s\n", b)
	return err
}

// readInput reads a file, or stdin for "-".
func (r *cliRun) readInput(path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(r.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	return r.readFile(path)
}
