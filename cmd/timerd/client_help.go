package main

import (
	"fmt"
	"io"
	"strings"
)

// cliClientUsage lists the client subcommands, for the top-level help.
func cliClientUsage() string {
	var b strings.Builder
	b.WriteString("Client commands (run 'timerd COMMAND -h' for flags and examples):\n")
	for _, cmd := range cliCommands {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	return b.String()
}

func (r *cliRun) printHelp(w io.Writer) {
	usage := "timerd " + r.cmd.name + " [flags]"
	if r.cmd.args != "" {
		usage += " " + r.cmd.args
	}
	summary := strings.ToUpper(r.cmd.summary[:1]) + r.cmd.summary[1:]
	common := cliHelpCommon
	if r.cmd.offline {
		common = cliHelpOffline
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n\n%s\n%s", usage, summary, strings.TrimSpace(r.cmd.help), common)
}

// cliHelpOffline ends the help of a command that needs no server.
const cliHelpOffline = `
Output:
  --json               print the answer as JSON
  -h, --help           this help

Needs no server: the occurrences are computed here, by the same code as timerd's.
Exit status: 0 done, 1 failed, 2 bad command line.
`

const cliHelpCommon = `
Connection and output:
  -s, --server URL     NATS server (default nats://127.0.0.1:4222)
  --creds FILE         NATS credentials file
  --nkey FILE          NATS nkey seed file
  --user USER          NATS user, with --password-file FILE (or --password PASSWORD)
  --token-file FILE    NATS token read from FILE (or --token TOKEN)
  --tls-ca FILE        CA that verifies the server's TLS certificate
  --tls-cert FILE      TLS client certificate, with --tls-key FILE
  --api-prefix PREFIX  timerd's API subject prefix (default timerd)
  --timeout DURATION   connect and request timeout (default 5s)
  --json               print the reply as JSON
  -h, --help           this help

Each connection flag can also be set in the environment as TIMERD_ and its
name in upper case with _ for - (TIMERD_SERVER, TIMERD_TOKEN_FILE,
TIMERD_PASSWORD, TIMERD_TLS_CA, ...); the command line wins. Secrets given on
the command line are visible to every user of the machine: prefer the files
or the environment.

Flags may come before or after arguments; after "--" everything is an argument.
Exit status: 0 done, 1 failed or refused by timerd, 2 bad command line.
`

const cliHelpSchedule = `
When (exactly one):
  --in DURATION        after a delay: Go (1500ms, 2h45m) or ISO 8601 (PT30S, P1DT2H); 0s fires at once
  --at TIME            at an RFC 3339 time (2027-01-02T03:04:05.250+01:00)
  --cron EXPR          cron: 5 fields, 6 with seconds first, or @daily, @every 5m; CRON_TZ=Zone prefix allowed
  --repeat INTERVAL    ISO 8601 repeating interval: R5/2030-01-01T00:00:00Z/PT1H, R/P1D/2030-12-31T00:00:00Z

What:
  --subject SUBJECT    subject the fires are published to (required)
  --id ID              timer id (default: the server makes one and prints it)
  --header K=V         header copied onto every fire (repeatable; not Timer-* or Nats-*)
  --data STRING        payload of every fire
  --data-file PATH     payload read from a file ("-": stdin)

Recurring timers:
  --tz ZONE            IANA zone of the cron and repeat local times (default UTC)
  --cron-dialect D     how to read --cron: standard (default), quartz, eventbridge
                       (a cron(...) spec is eventbridge's; see docs/semantics.md)
  --start TIME         no occurrence before this RFC 3339 time
  --end TIME           no occurrence after this RFC 3339 time
  --max-fires N        stop after N fires
  --misfire POLICY     occurrences missed while no node ran: skip, once (default), all
  --jitter DURATION    add up to this much delay to each occurrence (Go duration)

Changing a timer:
  --replace            replace the timer with this id instead of failing with 409
  --expect-revision N  with --replace: only if the timer is at revision N (else 409)

Checking:
  --dry-run            validate as a create would and print the timer and its next
                       occurrences; nothing is stored (exit 1 with timerd's error if invalid)

Scheduling the same id with the same flags again is safe: timerd answers the
existing timer unchanged.

Examples:
  timerd schedule --subject orders.expire --id order-1 --in 30m --data '{"order":1}'
  timerd schedule --subject reports.run --id daily --cron '0 6 * * 1-5' --tz Europe/Paris
  timerd schedule --subject billing.trial.end --in P14D --header X-Tenant=acme --data-file body.json
  echo hello | timerd schedule --subject demo.x --at 2030-01-02T15:00:00Z --data-file -
  timerd schedule --subject reports.run --cron 'cron(0 9 ? * 6#3 *)' --dry-run
  timerd schedule --subject orders.expire --id order-1 --in 1h --replace --expect-revision 3
`

const cliHelpBatch = `
Reads timers from FILE, or from stdin with "-" or no FILE: a JSON array, or
NDJSON (one JSON object a line). Each timer has the schedule headers in snake
case, plus the kept headers and the payload as UTF-8 "data" or base64
"data_b64":

  [{"id": "r-1", "subject": "reminders", "in": "1h", "data": "first"},
   {"id": "r-2", "subject": "reminders", "cron": "@daily", "time_zone": "Europe/Paris",
    "headers": {"X-Tenant": "acme"}, "data_b64": "AAEC"}]

Fields: id subject in at cron cron_dialect repeat time_zone start end
max_fires misfire jitter replace headers data data_b64. Each timer succeeds or
fails on its own; the exit status is 1 if any failed.

Any size of input is streamed: timers go in requests of --max-batch timers
(and under the server's max payload), a few in flight, and the results print
in input order, numbered from 0. On a terminal, a progress line on stderr
shows the timers sent, their rate and, for a file, the time left; piped,
nothing but the results is written. Input that is malformed from the start
sends nothing; a malformed timer further on stops the run after the timers
before it were sent (scheduling them again is safe: ids make it idempotent).

  --max-batch N        timers per request (default 1000; at most the server's --max-batch)

Examples:
  timerd batch timers.json
  timerd batch timers.ndjson --max-batch 500
  generate-timers | timerd batch --json
`

const cliHelpCancel = `
No occurrence due after the reply fires. A one-shot that has already fired,
or an unknown id, fails with code 404.

  --expect-revision N  cancel only if the timer is at revision N (else 409)

Examples:
  timerd cancel order-1
  timerd cancel order-1 --expect-revision 3
`

const cliHelpGet = `
Shows the timer: its spec, next nominal fire time and the ones after it, fires
so far, state and revision. An unknown id, or a one-shot that has already
fired, fails with 404.

  -n N                 show the next N nominal occurrences (0 to 100; default:
                       the server's, 5)

Examples:
  timerd get order-1
  timerd get daily -n 10
  timerd get order-1 --json
`

const cliHelpLs = `
Lists timers ordered by id, one page at a time.

  --prefix PREFIX      only ids starting with PREFIX
  --limit N            page size (default 100, at most 10000)
  --cursor CURSOR      start at this page (printed after a page that has more)
  --all                follow pages to the end

Examples:
  timerd ls
  timerd ls --prefix order- --all
  timerd ls --limit 1000 --json
`

const cliHelpPause = `
A paused timer keeps its schedule but does not fire; occurrences due while it
is paused are missed (see --misfire of schedule). Prints the timer.

  --expect-revision N  pause only if the timer is at revision N (else 409)

Examples:
  timerd pause daily
`

const cliHelpResume = `
Lets a paused timer fire again from its next occurrence. Prints the timer.

  --expect-revision N  resume only if the timer is at revision N (else 409)

Examples:
  timerd resume daily
`

const cliHelpTrigger = `
Fires the timer's next occurrence now, with the Timer-Due and Nats-Msg-Id it
would have had on time. A one-shot is then done; a recurring timer goes on
with the occurrence after it.

Examples:
  timerd trigger daily
`

const cliHelpStats = `
Shows the counters of the node that answers: timers, shards owned, fires,
fire lag, store. Ask again to reach another node.

Examples:
  timerd stats
  timerd stats --json -s nats://nats.internal:4222
`
