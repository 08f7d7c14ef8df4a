package embed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ModuleRoot finds the directory holding go.mod, from the working
// directory up (the working directory itself when there is none).
func ModuleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// GoBuild builds pkg (a path inside this module, or a module the go.mod
// pins) into out with the go tool, from the module root, so the binary is
// exactly this tree's code; ctx bounds the build.
func GoBuild(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
