package node

import (
	"log/slog"
	"sync"
	"time"
)

// noise rate-limits repeated warnings: the first of a kind is logged, the
// rest within a window are counted and reported in one line with the
// count, so an outage gives a few lines, not one per fire.
type noise struct {
	mu    sync.Mutex
	kinds map[string]*noiseKind
}

type noiseKind struct {
	last       time.Time
	suppressed int
}

const noiseWindow = 10 * time.Second

func (z *noise) warn(log *slog.Logger, kind, msg string, args ...any) {
	z.mu.Lock()
	if z.kinds == nil {
		z.kinds = make(map[string]*noiseKind)
	}
	k := z.kinds[kind]
	if k == nil {
		k = &noiseKind{}
		z.kinds[kind] = k
	}
	now := time.Now()
	if now.Sub(k.last) < noiseWindow {
		k.suppressed++
		z.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	z.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "repeated", suppressed)
	}
	log.Warn(msg, args...)
}
