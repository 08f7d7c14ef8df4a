package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// cliProgressDelay is how long a batch runs before its progress line
// appears: a batch of a few chunks ends before it and prints as it always
// did; a file of a million timers shows where it is.
var cliProgressDelay = time.Second // a var: tests show the line at once

// cliProgressEvery bounds how often the line is redrawn.
const cliProgressEvery = 250 * time.Millisecond

// cliIsTerminal reports whether w is a terminal (a character device): a
// line redrawn in place with \r is for a person watching; in a pipe, a log
// or a file it would be noise, so none is written there. /dev/null is a
// character device too, where the line is harmlessly lost.
func cliIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// cliProgress is the progress line of `timerd batch` on stderr: timers
// answered, their rate, and with a known input size how much is read and
// about how long the rest takes. When off, every method does nothing.
type cliProgress struct {
	w    io.Writer
	on   bool
	size int64 // input bytes; <= 0 unknown: no percentage, no ETA
	now  func() time.Time

	// sharesScreen: stdout is the same terminal, so the line is taken off
	// before results are printed. Otherwise it stays, redrawn at its pace.
	sharesScreen bool

	start    time.Time
	lastDraw time.Time
	shown    bool // the line is on the screen now
	drawn    bool // it has been, so done writes a summary
	sent     int
	offset   int64
}

func newCliProgress(w io.Writer, on bool, size int64, now func() time.Time) *cliProgress {
	return &cliProgress{w: w, on: on, size: size, now: now, start: now()}
}

// update records that sent timers are answered, through input byte
// offset, and redraws the line when it is due.
func (p *cliProgress) update(sent int, offset int64) {
	if !p.on {
		return
	}
	p.sent, p.offset = sent, offset
	now := p.now()
	if now.Sub(p.start) < cliProgressDelay || p.shown && now.Sub(p.lastDraw) < cliProgressEvery {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", p.line(now))
	p.lastDraw, p.shown, p.drawn = now, true, true
}

// clear takes the line off the screen before results are printed, so the
// two do not mix when stdout is the same terminal; update redraws it.
func (p *cliProgress) clear() {
	if p.on && p.shown && p.sharesScreen {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// done replaces the line with a summary, if the line was ever shown.
func (p *cliProgress) done(sent, failed int) {
	if !p.on || !p.drawn {
		return
	}
	elapsed := p.now().Sub(p.start)
	fmt.Fprintf(p.w, "\r\x1b[Ktimerd batch: %d timers sent in %s (%s/s), %d failed\n",
		sent, elapsed.Round(100*time.Millisecond), cliRate(sent, elapsed), failed)
	p.shown = false
}

// line is the progress line at now.
func (p *cliProgress) line(now time.Time) string {
	elapsed := now.Sub(p.start)
	s := fmt.Sprintf("timerd batch: %d timers sent, %s/s", p.sent, cliRate(p.sent, elapsed))
	if p.size > 0 {
		done := min(float64(p.offset)/float64(p.size), 1)
		s += fmt.Sprintf(", %.0f%% of %s", done*100, cliBytes(p.size))
		if done > 0 && done < 1 {
			left := time.Duration(float64(elapsed) * (1 - done) / done)
			s += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	return s
}

func cliRate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

// cliBytes writes n bytes for people: 512 B, 1.5 MB, 2.1 GB (powers of 1000).
func cliBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, prefix := float64(n)/unit, "kMGTPE"
	i := 0
	for v >= unit && i < len(prefix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", v, prefix[i])
}
