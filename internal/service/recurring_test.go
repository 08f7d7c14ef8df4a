package service_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

func TestCronEvenSecondsStopsOnCancel(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "cron.>")
	r := schedule(t, nc, map[string]string{"Timer-Cron": "*/2 * * * * *", "Timer-Subject": "cron.even", "Timer-Id": "even"}, "tick")
	next, _ := time.Parse(time.RFC3339Nano, r.Next)
	if next.Second()%2 != 0 || next.Nanosecond() != 0 {
		t.Fatalf("first occurrence %v is not an even second", next)
	}
	for want := int64(1); want <= 3; want++ {
		m := receive(t, fires, 5*time.Second)
		due, err := time.Parse(time.RFC3339Nano, m.Header.Get("Timer-Due"))
		if err != nil || due.Second()%2 != 0 || due.Nanosecond() != 0 || time.Now().Before(due) {
			t.Fatalf("fire %d: Timer-Due %q (%v)", want, m.Header.Get("Timer-Due"), err)
		}
		if m.Header.Get("Timer-Fire") != strconv.FormatInt(want, 10) {
			t.Fatalf("fire %d carries Timer-Fire %q", want, m.Header.Get("Timer-Fire"))
		}
		if m.Header.Get("Nats-Msg-Id") != "timerd.even."+strconv.FormatInt(due.UnixNano(), 10) {
			t.Fatalf("Nats-Msg-Id %q", m.Header.Get("Nats-Msg-Id"))
		}
	}
	var got api.Timer
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "even"}, ""), &got)
	if got.Kind != "cron" || got.Fires < 3 || got.Next == "" {
		t.Fatalf("get %+v", got)
	}
	ok(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "even"}, ""), &api.CancelReply{})
	// Drain what was already in flight, then nothing more: a sentinel due
	// after the next two even seconds arrives alone.
	for len(fires) > 0 {
		<-fires
	}
	schedule(t, nc, map[string]string{"Timer-In": "4500ms", "Timer-Subject": "cron.sentinel", "Timer-Id": "sentinel"}, "")
	if m := receive(t, fires, 10*time.Second); m.Header.Get("Timer-Id") != "sentinel" {
		t.Fatalf("cancelled cron timer fired: %v", m.Header)
	}
}

func TestRepeatFiresExactlyThreeTimes(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "rep.>")
	start := time.Now().Add(time.Second).Truncate(time.Second)
	spec := "R3/" + start.UTC().Format(time.RFC3339) + "/PT1S"
	r := schedule(t, nc, map[string]string{"Timer-Repeat": spec, "Timer-Subject": "rep.x", "Timer-Id": "three"}, "")
	if r.Next != api.FormatTime(start) {
		t.Fatalf("next %s, want %s", r.Next, api.FormatTime(start))
	}
	for k := range 3 {
		m := receive(t, fires, 5*time.Second)
		want := api.FormatTime(start.Add(time.Duration(k) * time.Second))
		if m.Header.Get("Timer-Due") != want || m.Header.Get("Timer-Fire") != strconv.Itoa(k+1) {
			t.Fatalf("fire %d: due %s fire %s, want %s and %d", k+1, m.Header.Get("Timer-Due"), m.Header.Get("Timer-Fire"), want, k+1)
		}
	}
	schedule(t, nc, map[string]string{"Timer-In": "1500ms", "Timer-Subject": "rep.sentinel", "Timer-Id": "sentinel"}, "")
	if m := receive(t, fires, 5*time.Second); m.Header.Get("Timer-Id") != "sentinel" {
		t.Fatalf("a fourth fire: %v", m.Header)
	}
}

func TestRecurringStartIsHonouredAndBadSpecsRefused(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	r := schedule(t, nc, map[string]string{"Timer-Cron": "0 9 * * MON-FRI", "Timer-Time-Zone": "Europe/Berlin",
		"Timer-Start": "2030-01-01T00:00:00Z", "Timer-Subject": "r.x", "Timer-Id": "later"}, "")
	if r.Next != "2030-01-01T08:00:00Z" {
		t.Fatalf("next %s, want 2030-01-01T08:00:00Z (09:00 Berlin on the first weekday from start)", r.Next)
	}
	var got api.Timer
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "later"}, ""), &got)
	if got.Next != r.Next || got.TimeZone != "Europe/Berlin" || got.Start != "2030-01-01T00:00:00Z" {
		t.Fatalf("get %+v", got)
	}
	for _, c := range []struct {
		headers map[string]string
		mention string
	}{
		{map[string]string{"Timer-Cron": "0 0 30 2 *"}, "Timer-Cron"},
		{map[string]string{"Timer-Cron": "TZ=UTC"}, "Timer-Cron"},
		{map[string]string{"Timer-Cron": "61 * * * *"}, "Timer-Cron"},
		{map[string]string{"Timer-Cron": "@often"}, "Timer-Cron"},
		{map[string]string{"Timer-Repeat": "R3/2030-01-01T00:00:00Z"}, "Timer-Repeat"},
		{map[string]string{"Timer-Repeat": "R3/2030-01-01T00:00:00Z/PT0S"}, "Timer-Repeat"},
		{map[string]string{"Timer-Cron": "@daily", "Timer-Time-Zone": "Mars/Olympus"}, "Timer-Time-Zone"},
		{map[string]string{"Timer-Cron": "@daily", "Timer-Misfire": "sometimes"}, "Timer-Misfire"},
		{map[string]string{"Timer-Cron": "@daily", "Timer-Max-Fires": "0"}, "Timer-Max-Fires"},
		{map[string]string{"Timer-Cron": "@daily", "Timer-Start": "2030-01-02T00:00:00Z", "Timer-End": "2030-01-01T00:00:00Z"}, "Timer-End"},
	} {
		c.headers["Timer-Subject"] = "r.x"
		fails(t, call(t, nc, "schedule", c.headers, ""), 400, c.mention)
	}
}

func TestRecurringTriggerPauseResume(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "hourly.>")
	r := schedule(t, nc, map[string]string{"Timer-Cron": "0 * * * *", "Timer-Subject": "hourly.x", "Timer-Id": "hourly"}, "h")
	first, _ := time.Parse(time.RFC3339Nano, r.Next)

	// trigger fires the next occurrence now, as itself, and moves on.
	var tr api.TriggerReply
	ok(t, call(t, nc, "trigger", map[string]string{"Timer-Id": "hourly"}, ""), &tr)
	if tr.Due != r.Next || tr.Fire != 1 || tr.Next != api.FormatTime(first.Add(time.Hour)) {
		t.Fatalf("trigger %+v, first occurrence %s", tr, r.Next)
	}
	m := receive(t, fires, 5*time.Second)
	if m.Header.Get("Timer-Due") != r.Next || m.Header.Get("Timer-Fire") != "1" {
		t.Fatalf("triggered fire %v", m.Header)
	}
	ok(t, call(t, nc, "trigger", map[string]string{"Timer-Id": "hourly"}, ""), &tr)
	if tr.Fire != 2 || tr.Due != api.FormatTime(first.Add(time.Hour)) {
		t.Fatalf("second trigger %+v", tr)
	}
	receive(t, fires, 5*time.Second)

	var got api.Timer
	ok(t, call(t, nc, "pause", map[string]string{"Timer-Id": "hourly"}, ""), &got)
	if got.State != "paused" || got.Fires != 2 {
		t.Fatalf("paused %+v", got)
	}
	// A paused recurring timer can still be triggered; it stays paused.
	ok(t, call(t, nc, "trigger", map[string]string{"Timer-Id": "hourly"}, ""), &tr)
	if tr.Fire != 3 {
		t.Fatalf("trigger while paused %+v", tr)
	}
	receive(t, fires, 5*time.Second)
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "hourly"}, ""), &got)
	if got.State != "paused" {
		t.Fatalf("after a trigger while paused: %+v", got)
	}
	ok(t, call(t, nc, "resume", map[string]string{"Timer-Id": "hourly"}, ""), &got)
	if got.State != "scheduled" || got.Next == "" || got.Fires != 3 {
		t.Fatalf("resumed %+v", got)
	}
	n.Restart()
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "hourly"}, ""), &got)
	if got.Fires != 3 || got.State != "scheduled" {
		t.Fatalf("after restart %+v: the fire count and state must survive", got)
	}
}

// A retried create of a recurring timer whose occurrences have all passed
// since the first try is the same request: it answers the timer (created
// false, same revision), not a validation error.
func TestRetriedRepeatAfterItsStartPassed(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	start := time.Now().Add(time.Second).Truncate(time.Second)
	h := map[string]string{"Timer-Repeat": "R2/" + start.UTC().Format(time.RFC3339) + "/PT1S", "Timer-Subject": "rep.retry", "Timer-Id": "retry"}
	first := schedule(t, nc, h, "x")
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	var again api.ScheduleReply
	ok(t, call(t, nc, "schedule", h, "x"), &again)
	if again.Created || again.Revision != first.Revision {
		t.Fatalf("retry answered %+v; first answer %+v", again, first)
	}
	// A different request with the same id still gets the validation error.
	h["Timer-Subject"] = "rep.other"
	fails(t, call(t, nc, "schedule", h, "x"), 400, "no occurrence")
}
