package main

// The client subcommands: timerd schedule|batch|cancel|get|ls|pause|resume|
// trigger|stats. Each one parses its flags, prepares its request without the
// network (so usage errors exit 2 before any connection), then connects,
// sends, and prints the reply for people or, with --json, as JSON.
//
// Every unexported name here starts with cli so that it cannot collide with
// the serve side of package main.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// Exit codes of the client subcommands.
const (
	cliExitOK    = 0
	cliExitError = 1 // the request failed, or timerd refused it
	cliExitUsage = 2 // bad flags or arguments; nothing was sent
)

// cliDefaultServer is where the client subcommands find NATS without -s or
// TIMERD_SERVER.
const cliDefaultServer = "nats://127.0.0.1:4222"

// cliCommand is one client subcommand.
type cliCommand struct {
	name    string
	args    string // positional arguments in the usage line, e.g. "ID"
	minArgs int
	maxArgs int
	summary string
	help    string // flags and examples, after the usage line
	// offline commands compute their answer locally: no connection is made.
	offline bool
	// setup registers the command's own flags on fs and answers the step
	// that turns positional arguments into an action.
	setup func(r *cliRun, fs *flag.FlagSet) cliPrepare
}

// cliPrepare checks the positional arguments and flags and builds the action
// without touching the network. A *cliUsageError means exit 2.
type cliPrepare func(args []string) (cliAction, error)

// cliAction sends the request and prints the reply.
type cliAction func(ctx context.Context, c *client.Client) error

// cliRun is the state of one client subcommand invocation.
type cliRun struct {
	cmd    *cliCommand
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	server  string
	prefix  string
	auth    natsAuth
	timeout time.Duration
	jsonOut bool
	// maxPayload is the NATS server's max payload, known once connected:
	// batch keeps each request under it.
	maxPayload int64
	getenv     func(string) string
	readFile   func(string) ([]byte, error)
}

// cliUsageError is a mistake in the command line: exit 2, nothing sent.
type cliUsageError struct{ msg string }

func (e *cliUsageError) Error() string { return e.msg }

func cliUsagef(format string, args ...any) error {
	return &cliUsageError{msg: fmt.Sprintf(format, args...)}
}

// runClient runs a client subcommand; ok is false when name is not one.
func runClient(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int, ok bool) {
	cmd := cliLookup(name)
	if cmd == nil {
		return 0, false
	}
	r := &cliRun{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, readFile: os.ReadFile}
	return r.main(args), true
}

func cliLookup(name string) *cliCommand {
	for i := range cliCommands {
		if cliCommands[i].name == name {
			return &cliCommands[i]
		}
	}
	return nil
}

func (r *cliRun) main(args []string) int {
	action, err := r.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		r.printHelp(r.stdout)
		return cliExitOK
	}
	if err != nil {
		return r.report(err)
	}
	if r.cmd.offline {
		return r.report(action(context.Background(), nil))
	}
	nc, err := r.connect()
	if err != nil {
		return r.report(err)
	}
	defer nc.Close()
	r.maxPayload = nc.MaxPayload()
	c := client.New(nc, client.WithPrefix(r.prefix), client.WithTimeout(r.timeout))
	return r.report(action(context.Background(), c))
}

// parse reads the command line into r and answers the action to run.
func (r *cliRun) parse(args []string) (cliAction, error) {
	fs, prepare := r.flagSet()
	positional, err := cliParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &cliUsageError{msg: err.Error()}
	}
	// Only the connection flags come from the environment: TIMERD_DATA is
	// serve's --data, not a payload.
	if err := applyEnv(fs, r.getenv, cliConnectionFlag); err != nil {
		return nil, &cliUsageError{msg: err.Error()}
	}
	if err := resolveSecretFiles(fs, r.readFile); err != nil {
		return nil, &cliUsageError{msg: err.Error()}
	}
	if r.timeout <= 0 {
		return nil, cliUsagef("--timeout %s: give a positive duration such as 5s", r.timeout)
	}
	if n := len(positional); n < r.cmd.minArgs || n > r.cmd.maxArgs {
		return nil, r.argCountError(positional)
	}
	return prepare(positional)
}

// flagSet registers the common flags and the command's own.
func (r *cliRun) flagSet() (*flag.FlagSet, cliPrepare) {
	fs := flag.NewFlagSet("timerd "+r.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by main
	fs.Usage = func() {}
	r.timeout = client.DefaultTimeout
	fs.BoolVar(&r.jsonOut, "json", false, "")
	if r.cmd.offline {
		return fs, r.cmd.setup(r, fs) // no server: no connection flags to take
	}
	fs.StringVar(&r.server, "s", cliDefaultServer, "")
	fs.StringVar(&r.server, "server", cliDefaultServer, "")
	fs.StringVar(&r.prefix, "api-prefix", api.DefaultPrefix, "")
	r.auth.register(fs, nil)
	fs.DurationVar(&r.timeout, "timeout", client.DefaultTimeout, "")
	return fs, r.cmd.setup(r, fs)
}

// cliConnectionFlag reports whether a client flag says how to reach and
// authenticate to NATS: those, and only those, come from TIMERD_* variables.
func cliConnectionFlag(name string) bool {
	switch name {
	case "server", "api-prefix", "timeout", "creds", "nkey", "user", "password", "password-file",
		"token", "token-file", "tls-cert", "tls-key", "tls-ca":
		return true
	}
	return false
}

func (r *cliRun) argCountError(positional []string) error {
	switch {
	case r.cmd.maxArgs == 0:
		return cliUsagef("unexpected argument %q", positional[0])
	case len(positional) < r.cmd.minArgs:
		return cliUsagef("missing %s", r.cmd.args)
	default:
		return cliUsagef("too many arguments: %s", strings.Join(positional, " "))
	}
}

func (r *cliRun) connect() (*nats.Conn, error) {
	auth, err := r.auth.options()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name("timerd " + r.cmd.name), nats.Timeout(r.timeout)}
	nc, err := nats.Connect(r.server, append(opts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", r.server, err)
	}
	return nc, nil
}

// report prints err as the CLI does and answers the exit code.
func (r *cliRun) report(err error) int {
	var usage *cliUsageError
	var refused *client.Error
	switch {
	case err == nil:
		return cliExitOK
	case errors.As(err, &usage):
		fmt.Fprintf(r.stderr, "timerd %s: %s\nRun 'timerd %s -h' for help.\n", r.cmd.name, usage.msg, r.cmd.name)
		return cliExitUsage
	case errors.As(err, &refused):
		fmt.Fprintln(r.stderr, refused.Error())
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "timerd: ") {
			msg = "timerd: " + msg
		}
		fmt.Fprintln(r.stderr, msg)
	}
	return cliExitError
}
