package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// serveExtras are the flags of `timerd serve` beyond the node's own: who may
// connect to the embedded server, and how the process reports.
type serveExtras struct {
	natsConfig, authToken, authTokenFile string
	insecure                             bool
	logFormat                            string
	pprof                                bool
	listenGiven                          bool // --listen or TIMERD_LISTEN was given, not defaulted
}

// serveAuthHelp is the usage of the natsAuth flags on serve, where they
// say how timerd connects (to --nats, or to its embedded server) and, for
// TLS without --nats, what the embedded server presents and requires.
var serveAuthHelp = map[string]string{
	"creds":         "NATS credentials file timerd connects with (to --nats, or to the embedded server when --nats-config asks for credentials)",
	"nkey":          "NATS nkey seed file timerd connects with (as --creds)",
	"user":          "NATS user timerd connects as (as --creds)",
	"password":      "password of --user (visible in ps: prefer --password-file or TIMERD_PASSWORD)",
	"password-file": "file holding the password of --user",
	"token":         "NATS token timerd connects with (as --creds; visible in ps: prefer --token-file or TIMERD_TOKEN)",
	"token-file":    "file holding --token",
	"tls-cert":      "with --nats: TLS client certificate; without: the embedded server's certificate, and its clients must use TLS",
	"tls-key":       "with --nats: key of the TLS client certificate; without: key of the embedded server's certificate",
	"tls-ca":        "with --nats: CA that verifies the NATS servers; without: the embedded server requires client certificates signed by this CA",
}

// registerServeExtras adds the flags of serveExtras and natsAuth to fs.
func registerServeExtras(fs *flag.FlagSet, c *serveConfig) {
	c.natsAuth.register(fs, serveAuthHelp)
	fs.StringVar(&c.natsConfig, "nats-config", "", "embedded NATS: nats-server configuration file (accounts, users, TLS, cluster, limits); "+
		"JetStream is always on, its store_dir wins over --data, its listen/host/port over the default of --listen (both: error)")
	fs.StringVar(&c.authToken, "auth-token", "", "embedded NATS: token every client must send, timerd's own connection included (visible in ps: prefer --auth-token-file or TIMERD_AUTH_TOKEN)")
	fs.StringVar(&c.authTokenFile, "auth-token-file", "", "embedded NATS: file holding the token every client must send")
	fs.BoolVar(&c.insecure, "insecure", false, "embedded NATS: allow a non-loopback --listen with no authentication (anyone who reaches it can delete every timer)")
	fs.StringVar(&c.logFormat, "log-format", "text", "text (key=value lines) or json (one JSON object a line)")
	fs.BoolVar(&c.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on --http (exposes stacks, heap and command line: keep --http private)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: timerd [serve] [flags]\n\n"+
			"Every flag can also be set in the environment as TIMERD_ and its name in upper\n"+
			"case with _ for - (--api-prefix: TIMERD_API_PREFIX); the command line wins.\n\n")
		fs.PrintDefaults()
	}
}

// parseServe reads serve's command line, then the TIMERD_* environment for
// the flags it did not set, then the secret files, and checks the whole
// before anything starts. A nil config means exit with code.
func parseServe(args []string, stderr io.Writer, getenv func(string) string, readFile func(string) ([]byte, error)) (*serveConfig, *slog.Logger, int) {
	fs, c := serveFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0
		}
		return nil, nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "timerd serve: unexpected argument %q\n", fs.Arg(0))
		return nil, nil, 2
	}
	log, err := c.complete(fs, getenv, readFile, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "timerd serve: %v\n", err)
		return nil, nil, 2
	}
	return c, log, 0
}

// complete applies the environment and the secret files to the parsed fs,
// checks the combination, and answers the logger.
func (c *serveConfig) complete(fs *flag.FlagSet, getenv func(string) string, readFile func(string) ([]byte, error), stderr io.Writer) (*slog.Logger, error) {
	if err := applyEnv(fs, getenv, nil); err != nil {
		return nil, err
	}
	if err := resolveSecretFiles(fs, readFile); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { c.listenGiven = c.listenGiven || f.Name == "listen" })
	log, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return nil, err
	}
	if c.pprof && c.httpAddr == "" {
		return nil, errors.New("--pprof serves on the --http address: give --http too")
	}
	if err := c.checkEmbedded(); err != nil {
		return nil, err
	}
	return log, nil
}

// newLogger is the process's logger: slog text or JSON on w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// mountPprof serves net/http/pprof's handlers under /debug/pprof/ on mux.
// They are registered one by one because the package's init puts them on
// http.DefaultServeMux, which timerd does not serve.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
