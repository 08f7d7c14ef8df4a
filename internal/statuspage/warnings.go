package statuspage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxWarnings is how many recent warnings the page keeps and shows.
const maxWarnings = 20

// maxWarningLen bounds one kept warning's text: a log line may carry a
// request's data, and the page must stay small whatever is logged.
const maxWarningLen = 400

// Warning is one warning or error this node logged.
type Warning struct {
	At    time.Time
	Level string
	Text  string // message and attributes, key=value
}

// Warnings keeps the last warnings and errors logged through a logger made
// by Logger. The zero value is not usable; use NewWarnings.
type Warnings struct {
	mu   sync.Mutex
	ring [maxWarnings]Warning // guarded by mu
	next int                  // guarded by mu: where the next one goes
	n    int                  // guarded by mu: how many are kept
}

// NewWarnings answers an empty keeper of warnings.
func NewWarnings() *Warnings { return &Warnings{} }

// Logger answers a logger that logs as log does and also keeps each record
// at level warn or above here, for the page.
func (w *Warnings) Logger(log *slog.Logger) *slog.Logger {
	return slog.New(&teeHandler{next: log.Handler(), keep: w})
}

// Recent answers the kept warnings, newest first.
func (w *Warnings) Recent() []Warning {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Warning, 0, w.n)
	for i := 1; i <= w.n; i++ {
		out = append(out, w.ring[(w.next-i+maxWarnings)%maxWarnings])
	}
	return out
}

func (w *Warnings) add(x Warning) {
	w.mu.Lock()
	w.ring[w.next] = x
	w.next = (w.next + 1) % maxWarnings
	w.n = min(w.n+1, maxWarnings)
	w.mu.Unlock()
}

// teeHandler passes records on to next and keeps warnings in keep. It
// formats a kept record's attributes itself (they are few), so keeping one
// costs a string, and records below warn cost nothing more.
type teeHandler struct {
	next   slog.Handler
	keep   *Warnings
	prefix string // attributes added by With, formatted
	group  string // the open group, "a.b." form
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		b.WriteString(h.prefix)
		r.Attrs(func(a slog.Attr) bool {
			writeAttr(&b, h.group, a)
			return b.Len() < maxWarningLen
		})
		text := b.String()
		if len(text) > maxWarningLen {
			text = text[:maxWarningLen] + "…"
		}
		h.keep.add(Warning{At: r.Time, Level: r.Level.String(), Text: text})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	return &teeHandler{next: h.next.WithAttrs(attrs), keep: h.keep, prefix: b.String(), group: h.group}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &teeHandler{next: h.next.WithGroup(name), keep: h.keep, prefix: h.prefix, group: h.group + name + "."}
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			writeAttr(b, group+a.Key+".", g)
		}
		return
	}
	fmt.Fprintf(b, " %s%s=%v", group, a.Key, v.Any())
}
