package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// cliParseInterleaved parses flags wherever they are among the positional
// arguments (the flag package stops at the first positional one). After
// "--" everything is positional.
func cliParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" && (used < 2 || !cliTakesValue(fs, args[used-2])) {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// cliTakesValue reports whether arg is a flag that consumes the next
// argument as its value ("--data" does, "--json" and "--data=x" do not).
func cliTakesValue(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimPrefix(name, "-"))
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

// cliTime is a flag holding an RFC 3339 time.
type cliTime struct {
	t   time.Time
	set bool
}

func (v *cliTime) String() string {
	if v == nil || !v.set {
		return ""
	}
	return v.t.Format(time.RFC3339Nano)
}

func (v *cliTime) Set(s string) error {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2027-01-02T03:04:05Z or 2027-01-02T04:04:05.250+01:00")
	}
	v.t, v.set = t, true
	return nil
}

// cliHeaders is the repeatable --header K=V flag: headers kept on fires.
type cliHeaders map[string][]string

func (h cliHeaders) String() string {
	var parts []string
	for k, vs := range h {
		for _, v := range vs {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

func (h cliHeaders) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, such as X-Tenant=acme")
	}
	lower := strings.ToLower(key)
	if strings.HasPrefix(lower, "timer-") || strings.HasPrefix(lower, "nats-") {
		return fmt.Errorf("%s is reserved: Timer-* and Nats-* headers cannot be kept on fires; use the schedule flags instead", key)
	}
	if strings.ContainsAny(key, " \t:") {
		return fmt.Errorf("header name %q has a space or ':'", key)
	}
	h[key] = append(h[key], value)
	return nil
}
