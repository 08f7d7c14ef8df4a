package main

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// secretFlags name the flags whose values are secrets. Each has a NAME-file
// form, read by resolveSecretFiles, so that the secret need not be on the
// command line, where every user of the machine can read it (ps,
// /proc/PID/cmdline, and /debug/pprof/cmdline with --pprof).
var secretFlags = []string{"password", "token", "auth-token"}

// envName is the environment variable of a flag: TIMERD_ and its name in
// upper case with - as _ (--api-prefix: TIMERD_API_PREFIX).
func envName(flagName string) string {
	return "TIMERD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets each flag of fs from its environment variable (envName)
// unless the command line set it: the command line wins. only, when not
// nil, limits it to the flags it accepts. An empty variable counts as unset.
// A value the flag does not accept is an error naming the variable.
//
// Call it after fs.Parse. A flag and an alias of it (two names over the same
// variable, like -s and --server) are one setting, and so are a secret and
// its NAME-file form: if the command line gives one, the variables of all
// are ignored.
func applyEnv(fs *flag.FlagSet, getenv func(string) string, only func(name string) bool) error {
	var given []*flag.Flag
	fs.Visit(func(f *flag.Flag) { given = append(given, f) })
	onCommandLine := func(f *flag.Flag) bool {
		return slices.ContainsFunc(given, func(g *flag.Flag) bool {
			return g.Name == f.Name || sameVariable(g.Value, f.Value) || secretPair(g.Name, f.Name)
		})
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if only != nil && !only(f.Name) || onCommandLine(f) {
			return
		}
		name := envName(f.Name)
		value := getenv(name)
		if value == "" {
			return
		}
		if err := fs.Set(f.Name, value); err != nil {
			if slices.Contains(secretFlags, f.Name) {
				value = "..." // an error message is no place for a secret
			}
			errs = append(errs, fmt.Errorf("%s=%q: %v", name, value, err))
		}
	})
	return errors.Join(errs...)
}

// sameVariable reports whether two flag values write the same variable:
// flag.StringVar and its kin wrap the variable's pointer, so two of them
// over one variable are equal interface values.
func sameVariable(a, b flag.Value) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// secretPair reports whether a and b are a secret flag and its -file form.
func secretPair(a, b string) bool {
	for _, s := range secretFlags {
		if a == s && b == s+"-file" || a == s+"-file" && b == s {
			return true
		}
	}
	return false
}

// resolveSecretFiles reads every secret's NAME-file flag that is set into
// the flag NAME. The file holds the secret alone; one trailing line end is
// not part of it (echo adds one). Giving both NAME and NAME-file is an
// error: neither is obviously the one meant.
func resolveSecretFiles(fs *flag.FlagSet, readFile func(string) ([]byte, error)) error {
	for _, name := range secretFlags {
		value, file := fs.Lookup(name), fs.Lookup(name+"-file")
		if value == nil || file == nil || file.Value.String() == "" {
			continue
		}
		path := file.Value.String()
		if value.Value.String() != "" {
			return fmt.Errorf("--%s and --%s-file (or %s and %s): give one of them", name, name, envName(name), envName(name+"-file"))
		}
		b, err := readFile(path)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", name, err)
		}
		secret := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if secret == "" {
			return fmt.Errorf("--%s-file %q is empty", name, path)
		}
		if err := value.Value.Set(secret); err != nil {
			return fmt.Errorf("--%s-file %q: %w", name, path, err)
		}
	}
	return nil
}
