// Command timerd is the timerd node (serve, the default) and its client
// (schedule, batch, cancel, get, ls, pause, resume, trigger, stats, and
// next, which needs no server).
//
//	timerd                       # a node with an embedded NATS server on 127.0.0.1:4222
//	timerd serve --nats nats://a:4222,nats://b:4222 --http :8080
//	timerd schedule --in 5s --subject demo.x --data hello
//
// docs/operations.md describes every flag; docs/protocol.md the protocol.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	// Every node evaluates zones with the same rules, whatever its OS has.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return serve(args, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+"\n"+cliClientUsage())
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "timerd", version)
		return 0
	}
	if code, ok := runClient(args[0], args[1:], stdin, stdout, stderr); ok {
		return code
	}
	fmt.Fprintf(stderr, "timerd: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

const usage = `timerd publishes NATS messages later: after a delay, at a time, on a cron
spec or an ISO 8601 repeating interval.

Usage:
  timerd [serve] [flags]        run a node (default: embedded NATS on 127.0.0.1:4222)
  timerd schedule [flags]       create or replace a timer
  timerd batch [FILE|-]         create many timers from a JSON array or NDJSON
  timerd cancel ID              cancel a timer
  timerd get ID [-n N]          show a timer and its next N occurrences
  timerd ls [--prefix P]        list timers
  timerd pause ID | resume ID   stop / restart a timer's firing
  timerd trigger ID             fire a timer's next occurrence now
  timerd stats                  node counts and fire lag
  timerd next SPEC [-n N]       a cron or repeat spec's next occurrences, without a server
  timerd version

Run 'timerd serve -h' or 'timerd COMMAND -h' for the flags of each.
`
