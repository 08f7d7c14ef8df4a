package main

// Seeing when timers fire: get -n (the server's upcoming occurrences of a
// stored timer), schedule --dry-run (the server's verdict on a timer not
// stored), and next (a spec's occurrences computed here, with no server).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/cronfeed"
)

// cliMaxUpcoming is the most occurrences get -n asks for: the server's
// limit for Timer-Upcoming (PROTOCOL.md).
const cliMaxUpcoming = 100

// cliMaxNext bounds `next -n`: enough for a year of a daily spec, and a
// bound on the work of a spec like "* * * * * *".
const cliMaxNext = 1000

func cliSetupGet(r *cliRun, fs *flag.FlagSet) cliPrepare {
	upcoming := -1 // not given: the server's default
	fs.IntVar(&upcoming, "n", -1, "")
	return func(args []string) (cliAction, error) {
		id := args[0]
		var opts []client.CallOption
		if upcoming != -1 {
			if upcoming < 0 || upcoming > cliMaxUpcoming {
				return nil, cliUsagef("-n %d: give 0 to %d occurrences", upcoming, cliMaxUpcoming)
			}
			opts = append(opts, client.Upcoming(upcoming))
		}
		return func(ctx context.Context, c *client.Client) error {
			t, err := c.Get(ctx, id, opts...)
			if err != nil {
				return err
			}
			return r.print(t, func(w io.Writer) { cliPrintTimer(w, t) })
		}, nil
	}
}

// dryRun is schedule --dry-run: timerd validates t as a create would and
// answers the timer, storing nothing.
func (r *cliRun) dryRun(t client.Timer) cliAction {
	return func(ctx context.Context, c *client.Client) error {
		preview, err := c.DryRun(ctx, t)
		if err != nil {
			return err
		}
		return r.print(preview, func(w io.Writer) { cliPrintPreview(w, preview) })
	}
}

// cliNextReply is what `next --json` prints.
type cliNextReply struct {
	Kind     string   `json:"kind"` // cron or repeat
	Spec     string   `json:"spec"`
	Dialect  string   `json:"cron_dialect,omitempty"`
	TimeZone string   `json:"time_zone,omitempty"`
	Upcoming []string `json:"upcoming"`
}

func cliSetupNext(r *cliRun, fs *flag.FlagSet) cliPrepare {
	var (
		count       int
		zone        string
		dialect     string
		start, end  cliTime
		nowOverride cliTime // tests and "what would it have done": occurrences after this instant
	)
	fs.IntVar(&count, "n", 10, "")
	fs.StringVar(&zone, "tz", "", "")
	fs.StringVar(&dialect, "dialect", "", "")
	fs.StringVar(&dialect, "cron-dialect", "", "")
	fs.Var(&start, "start", "")
	fs.Var(&end, "end", "")
	fs.Var(&nowOverride, "after", "")
	return func(args []string) (cliAction, error) {
		if count < 1 || count > cliMaxNext {
			return nil, cliUsagef("-n %d: give 1 to %d occurrences", count, cliMaxNext)
		}
		now := time.Now()
		if nowOverride.set {
			now = nowOverride.t
		}
		spec, kind := cliNextSpec(args[0], dialect, zone, now)
		if kind == api.KindRepeat && dialect != "" {
			return nil, cliUsagef("--dialect applies to cron specs; %q is an ISO 8601 repeating interval", args[0])
		}
		spec.Start, spec.End = start.t, end.t
		sched, err := cronfeed.Compile(spec)
		if err != nil {
			return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "cronfeed: ")) // the message names the spec
		}
		reply := cliNextReply{Kind: kind, Spec: args[0], Dialect: sched.Dialect(), TimeZone: zone, Upcoming: []string{}}
		occurrences := sched.Upcoming(now, count)
		for _, at := range occurrences {
			reply.Upcoming = append(reply.Upcoming, api.FormatTime(at))
		}
		return func(context.Context, *client.Client) error {
			if err := r.print(reply, func(w io.Writer) { cliPrintOccurrences(w, occurrences, sched.Location()) }); err != nil {
				return err
			}
			if !r.jsonOut && len(occurrences) < count {
				fmt.Fprintf(r.stderr, "%d of %d: the schedule has no occurrence after these\n", len(occurrences), count)
			}
			return nil
		}, nil
	}
}

// cliNextSpec reads a spec as `next` decides: one that starts with R is an
// ISO 8601 repeating interval (R[n]/...), anything else a cron spec. No cron
// spec can start with R (its first field is a number, *, ?, @, a CRON_TZ=
// or TZ= prefix, or cron(...)), so the rule never guesses. The timer is
// taken as created at now: @every and R/duration/... count from it, as they
// would for a timer scheduled now.
func cliNextSpec(text, dialect, zone string, now time.Time) (cronfeed.Spec, string) {
	spec := cronfeed.Spec{Zone: zone, Created: now}
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(strings.ToUpper(trimmed), "R") {
		spec.Repeat = trimmed
		return spec, api.KindRepeat
	}
	spec.Cron, spec.Dialect = trimmed, dialect
	return spec, api.KindCron
}

// cliPrintOccurrences writes each instant in UTC, as timerd writes due
// times, and beside it the wall clock of loc, weekday first: what a person
// checks a schedule against.
func cliPrintOccurrences(w io.Writer, occurrences []time.Time, loc *time.Location) {
	for _, at := range occurrences {
		fmt.Fprintf(w, "%-30s  %s\n", api.FormatTime(at), at.In(loc).Format("Mon 2006-01-02 15:04:05 MST"))
	}
}

const cliHelpNext = `
Prints the next occurrences of a cron spec or an ISO 8601 repeating interval,
computed here exactly as timerd computes them, without a server: each one in
UTC (as Timer-Due carries it) and in the zone's wall clock.

SPEC is a repeating interval when it starts with R (R5/2030-01-01T09:00:00/P1D,
R/PT15M/2030-12-31T00:00:00Z), otherwise a cron spec (0 9 * * MON-FRI, @daily,
@every 90m, cron(0 9 ? * 6#3 *), CRON_TZ=Europe/Paris 0 9 * * *). The spec is
taken as scheduled now: @every and R/duration count from now.

  -n N                 how many occurrences (default 10, at most 1000)
  --tz ZONE            IANA zone of the spec's local times (default UTC)
  --dialect D          how to read a cron spec: standard (default), quartz,
                       eventbridge; cron(...) is eventbridge's
  --cron-dialect D     the same as --dialect, named as on schedule
  --start TIME         no occurrence before this RFC 3339 time
  --end TIME           no occurrence after this RFC 3339 time
  --after TIME         list occurrences after this instant instead of now

Examples:
  timerd next '30 9 * * MON-FRI' --tz Europe/Berlin
  timerd next 'cron(0 9 ? * 6#3 *)' -n 12
  timerd next '0 0 0 L * ?' --dialect quartz
  timerd next 'R5/2030-01-31T00:00:00Z/P1M'
`
