package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A warning repeated many times within the window is one line; the next
// one after the window says how many were held back.
func TestNoiseRateLimitsRepeatedWarnings(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var z noise
	for range 2398 {
		z.warn(log, "fire", "fires not stored, retrying", "shard", 3)
	}
	z.warn(log, "purge", "purge failed")
	if lines := strings.Count(buf.String(), "\n"); lines != 2 {
		t.Fatalf("%d lines for 2398 warnings of one kind and one of another, want 2:\n%s", lines, buf.String())
	}
	z.kinds["fire"].last = time.Now().Add(-noiseWindow)
	buf.Reset()
	z.warn(log, "fire", "fires not stored, retrying", "shard", 3)
	if !strings.Contains(buf.String(), "repeated=2397") {
		t.Fatalf("after the window: %q, want the count of the held-back warnings", buf.String())
	}
}
