package statuspage

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFiresChart(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []sample{
		{at: at(0), ok: true, fired: 100},
		{at: at(2), ok: true, fired: 120}, // 10/s
		{at: at(4), ok: true, fired: 160}, // 20/s
		{at: at(6)},                       // stats did not answer: a gap
		{at: at(8), ok: true, fired: 200},
		{at: at(10), ok: true, fired: 210}, // 5/s
		{at: at(12), ok: true, fired: 3},   // a node restarted: a gap, not a negative rate
		{at: at(14), ok: true, fired: 13},  // 5/s
	}
	c := firesChart(samples, at(14), time.Minute)
	if c.Points != 4 || len(c.Paths) != 3 || c.Current != "5.00" || c.Peak != "20.0" {
		t.Fatalf("chart %+v: want 4 points in 3 runs, now 5.00, peak 20.0", c)
	}
	// The peak (20/s) reaches the axis top rounded up to 20, at plotTop.
	if !strings.Contains(c.Paths[0], fmt.Sprintf("%.1f", plotTop)) {
		t.Errorf("peak not at the top: %s", c.Paths[0])
	}
	for _, p := range c.Paths {
		for _, f := range strings.Fields(strings.NewReplacer("M", "", "L", "").Replace(p)) {
			var v float64
			if _, err := fmt.Sscan(f, &v); err != nil || v < 0 || v > chartW {
				t.Errorf("coordinate %q outside the chart in %s", f, p)
			}
		}
	}
	if c := firesChart(samples[:1], at(0), time.Minute); c.Empty == "" || c.Points != 0 {
		t.Errorf("one sample: %+v, want empty", c)
	}
	if c := firesChart([]sample{{at: at(0)}, {at: at(2)}}, at(2), time.Minute); c.Empty == "" {
		t.Errorf("no stats at all: %+v, want empty", c)
	}
}

func TestLagWindow(t *testing.T) {
	bounds := []float64{.001, .01, math.Inf(1)}
	from := lagSnapshot{bounds: bounds, counts: []uint64{5, 8, 9}}
	to := lagSnapshot{bounds: bounds, counts: []uint64{7, 12, 20}}
	if got := lagWindow(from, to); fmt.Sprint(got) != "[2 2 7]" {
		t.Errorf("window = %v, want [2 2 7]", got)
	}
	restarted := lagSnapshot{bounds: bounds, counts: []uint64{1, 1, 2}}
	if got := lagWindow(from, restarted); fmt.Sprint(got) != "[1 0 1]" {
		t.Errorf("after a restart = %v, want the new histogram [1 0 1]", got)
	}
	c := lagChart(bounds, []uint64{2, 0, 7})
	if c.Total != 9 || len(c.Bars) != 3 || c.Bars[1].H != 0 || c.Bars[2].Label != ">10ms" || c.Bars[0].Label != "1ms" {
		t.Errorf("chart %+v", c)
	}
	if c := lagChart(bounds, []uint64{0, 0, 0}); c.Empty == "" {
		t.Error("no fires: want the empty note")
	}
}

func TestFormats(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.1: 2, 7: 10, 20: 20, 21: 50, 999: 1000} {
		if got := niceCeil(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%g) = %g, want %g", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{10 * time.Minute: "10m", 2 * time.Hour: "2h", 90 * time.Second: "1m30s", 30 * time.Second: "30s", 5 * time.Minute: "5m"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[any]string{int64(0): "0", int64(999): "999", int64(1000): "1,000", int64(-1234567): "-1,234,567",
		uint64(12345678): "12,345,678", 3.0: "3", 2.5: "2.5", 7: "7"} {
		if got := groupDigits(v); got != want {
			t.Errorf("groupDigits(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{40 * time.Second: "in 40s", -2 * time.Minute: "2m0s ago",
		3*time.Hour + 12*time.Minute + 5*time.Second: "in 3h12m", 72 * time.Hour: "in 3d"} {
		if got := relative(d); got != want {
			t.Errorf("relative(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWarningsKeepsWarnAndAbove(t *testing.T) {
	var out bytes.Buffer
	w := NewWarnings()
	log := w.Logger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	log = log.With("node", "n1").WithGroup("g")
	log.Info("ignored")
	log.Warn("lease lost", "shard", 7)
	log.Error("publish failed", slog.Group("fire", "id", "a"))
	got := w.Recent()
	if len(got) != 2 || got[0].Text != "publish failed node=n1 g.fire.id=a" || got[1].Text != "lease lost node=n1 g.shard=7" || got[0].Level != "ERROR" {
		t.Fatalf("recent = %+v", got)
	}
	// The node's own handler still decides what it writes: error only here.
	if s := out.String(); strings.Contains(s, "lease lost") || !strings.Contains(s, "publish failed") {
		t.Errorf("the wrapped handler wrote %q", s)
	}
	for i := range maxWarnings + 5 {
		log.Warn("w", "i", i)
	}
	got = w.Recent()
	if len(got) != maxWarnings || got[0].Text != fmt.Sprintf("w node=n1 g.i=%d", maxWarnings+4) {
		t.Errorf("after wrapping: %d kept, newest %q", len(got), got[0].Text)
	}
	log.Warn(strings.Repeat("x", 2*maxWarningLen))
	if got := w.Recent()[0].Text; len(got) > maxWarningLen+len("…") {
		t.Errorf("a long warning kept %d bytes", len(got))
	}
	if (*Warnings)(nil).Recent() != nil {
		t.Error("nil Warnings must have none")
	}
}
