package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

func stats(t *testing.T, n *nodetest.Node) api.Stats {
	t.Helper()
	var s api.Stats
	ok(t, call(t, n.Connect(), "stats", nil, ""), &s)
	return s
}

// One-shots due beyond the horizon are kept as compact entries (no wheel
// entry), answered by get and list from their records, changed by every
// operation as loaded ones are, brought back before they are due, and
// fire on time, once, never early; across a restart too.
func TestFarTimers(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Horizon: time.Second, MarkInterval: 100 * time.Millisecond})
	nc := n.Connect()
	fires := subscribe(t, nc, "far.>")
	const count = 40
	due := time.Now().Add(6 * time.Second).Truncate(time.Second)
	for i := range count {
		schedule(t, nc, map[string]string{"Timer-At": api.FormatTime(due.Add(time.Duration(i) * 10 * time.Millisecond)),
			"Timer-Subject": "far.x", "Timer-Id": fmt.Sprintf("far-%02d", i), "X-Kind": "far"}, fmt.Sprintf("payload %d", i))
	}
	if s := stats(t, n); s.Scheduled != count || s.InWheel != 0 {
		t.Fatalf("stats %+v: want %d scheduled, none in the wheel", s, count)
	}

	// Get and list read far timers back without loading them.
	var got api.Timer
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "far-03"}, ""), &got)
	if got.Subject != "far.x" || got.Headers["X-Kind"] != "far" || got.PayloadSize != len("payload 3") ||
		got.Next != api.FormatTime(due.Add(30*time.Millisecond)) || got.State != api.StateScheduled {
		t.Fatalf("get far-03: %+v", got)
	}
	var page api.ListReply
	ok(t, call(t, nc, "list", map[string]string{"Timer-Prefix": "far-1", "Timer-Limit": "4"}, ""), &page)
	if len(page.Timers) != 4 || page.Timers[0].ID != "far-10" || page.Timers[3].ID != "far-13" || page.NextCursor == "" ||
		page.Timers[2].Subject != "far.x" {
		t.Fatalf("list: %+v", page)
	}

	// An identical retry answers the timer; a different request conflicts.
	h := map[string]string{"Timer-At": api.FormatTime(due), "Timer-Subject": "far.x", "Timer-Id": "far-00", "X-Kind": "far"}
	var again api.ScheduleReply
	ok(t, call(t, nc, "schedule", h, "payload 0"), &again)
	if again.Created || again.Revision == 0 {
		t.Fatalf("retry of a far timer: %+v", again)
	}
	fails(t, call(t, nc, "schedule", h, "other payload"), 409, "far-00")

	// Cancel, replace, pause and resume read the timer back first.
	ok(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "far-01"}, ""), &api.CancelReply{})
	schedule(t, nc, map[string]string{"Timer-At": api.FormatTime(due.Add(20 * time.Millisecond)), "Timer-Subject": "far.replaced",
		"Timer-Id": "far-02", "Timer-Replace": "true"}, "new")
	var paused api.Timer
	ok(t, call(t, nc, "pause", map[string]string{"Timer-Id": "far-04"}, ""), &paused)
	if paused.State != api.StatePaused || paused.Subject != "far.x" {
		t.Fatalf("pause: %+v", paused)
	}
	ok(t, call(t, nc, "pause", map[string]string{"Timer-Id": "far-05"}, ""), &paused)
	ok(t, call(t, nc, "resume", map[string]string{"Timer-Id": "far-05"}, ""), &paused)

	n.Restart()
	nc = n.Connect()
	fires = subscribe(t, nc, "far.>")
	if s := stats(t, n); s.Scheduled != count-2 || s.Paused != 1 || s.InWheel != 0 {
		t.Fatalf("after restart: %+v", s)
	}

	seen := map[string]int{}
	deadline := time.After(due.Add(5 * time.Second).Sub(time.Now()))
	for len(seen) < count-2 {
		select {
		case m := <-fires:
			id := m.Header.Get(api.HeaderID)
			at, err := time.Parse(time.RFC3339Nano, m.Header.Get(api.HeaderDue))
			if err != nil || time.Now().Before(at) {
				t.Fatalf("%s fired early or without Timer-Due: %v", id, m.Header)
			}
			if lag := time.Since(at); lag > 500*time.Millisecond {
				t.Fatalf("%s fired %v late: not read back ahead of its time", id, lag)
			}
			switch id {
			case "far-01", "far-04":
				t.Fatalf("%s fired (cancelled or paused)", id)
			case "far-02":
				if m.Subject != "far.replaced" || string(m.Data) != "new" {
					t.Fatalf("replaced timer fired as %s %q", m.Subject, m.Data)
				}
			default:
				if m.Subject != "far.x" || m.Header.Get("X-Kind") != "far" {
					t.Fatalf("%s fired as %s %v", id, m.Subject, m.Header)
				}
			}
			seen[id]++
			if seen[id] > 1 {
				t.Fatalf("%s fired twice", id)
			}
		case <-deadline:
			t.Fatalf("%d of %d fired by 5 s after their due time", len(seen), count-2)
		}
	}
}

// A fired one-shot is remembered for --keep-fired: an identical retry is
// answered (created false, no second fire); after that the id is free and
// the same request schedules a new timer.
func TestFiredOneShotRememberedForKeepFired(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{KeepFired: 400 * time.Millisecond, MarkInterval: 50 * time.Millisecond})
	nc := n.Connect()
	fires := subscribe(t, nc, "kept.>")
	h := map[string]string{"Timer-In": "50ms", "Timer-Subject": "kept.x", "Timer-Id": "kept"}
	first := schedule(t, nc, h, "")
	receive(t, fires, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // the fire's ack completes the timer
	retry := schedule(t, nc, h, "")
	if retry.Created || retry.Revision != first.Revision {
		t.Fatalf("retry within keep-fired: %+v, first %+v", retry, first)
	}
	fails(t, call(t, nc, "get", map[string]string{"Timer-Id": "kept"}, ""), 404, "already fired")
	select {
	case m := <-fires:
		t.Fatalf("the retry fired again: %v", m.Header)
	case <-time.After(300 * time.Millisecond):
	}
	time.Sleep(time.Second) // past twice keep-fired: forgotten
	fails(t, call(t, nc, "get", map[string]string{"Timer-Id": "kept"}, ""), 404, "no timer")
	if again := schedule(t, nc, h, ""); !again.Created || again.Revision == first.Revision {
		t.Fatalf("after keep-fired: %+v", again)
	}
	receive(t, fires, 5*time.Second)
}
