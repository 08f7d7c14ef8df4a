package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/timerd/timerd/bench/embed"
)

// buildBinaries builds, with the go tool and into a temporary directory,
// the binaries the listed contenders run and the flags do not name: timerd
// from ./cmd/timerd, and nats-server from the version go.mod pins (the one
// timerd embeds, so the *-bin NATS contenders run the same server code).
// cleanup removes what it built.
func buildBinaries(ctx context.Context, list []Contender, o *Options) (cleanup func(), err error) {
	cleanup = func() {}
	targets := map[string]*string{"timerd": &o.TimerdBin, "nats-server": &o.NATSServerBin}
	pkgs := map[string]string{"timerd": "./cmd/timerd", "nats-server": "github.com/nats-io/nats-server/v2"}
	dir := ""
	for _, ct := range list {
		p, ok := ct.(placed)
		if !ok {
			continue
		}
		for _, name := range p.Binaries() {
			if *targets[name] != "" {
				continue
			}
			if dir == "" {
				if dir, err = os.MkdirTemp(o.WorkDir, "timerd-bench-bin-"); err != nil {
					return cleanup, err
				}
				cleanup = func() { os.RemoveAll(dir) }
			}
			out := filepath.Join(dir, name)
			logf(o, "building %s into %s", pkgs[name], out)
			if err := embed.GoBuild(ctx, pkgs[name], out); err != nil {
				return cleanup, err
			}
			*targets[name] = out
		}
	}
	return cleanup, nil
}
