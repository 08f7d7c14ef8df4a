package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

// Against a real timerd: a dry run answers the timer it would make, with
// its upcoming occurrences, and the bucket holds as many messages after it
// as before; a bad spec fails as a create would.
func TestDryRunStoresNothing(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	c := New(n.Connect())
	ctx := context.Background()
	before, err := n.Store.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The third Friday of every month at 09:00 UTC, as AWS writes it.
	preview, err := c.DryRun(ctx, Timer{ID: "third-friday", Subject: "reports.run", Cron: "cron(0 9 ? * 6#3 *)", CronDialect: "eventbridge"})
	if err != nil {
		t.Fatal(err)
	}
	if preview.ID != "third-friday" || preview.Kind != api.KindCron || len(preview.Upcoming) != 5 {
		t.Fatalf("dry run = %+v, want the cron timer with 5 upcoming times", preview)
	}
	for _, s := range preview.Upcoming {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || at.Weekday() != time.Friday || at.Day() < 15 || at.Day() > 21 || at.Hour() != 9 {
			t.Errorf("upcoming %q is not a third Friday at 09:00 UTC (%v)", s, err)
		}
	}
	after, err := n.Store.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Records != before.Records {
		t.Errorf("bucket records %d -> %d: a dry run stored something", before.Records, after.Records)
	}
	if _, err := c.Get(ctx, "third-friday"); !IsNotFound(err) {
		t.Errorf("get after a dry run: %v, want 404", err)
	}

	if p, err := c.DryRun(ctx, Timer{Subject: "reports.run", Cron: "0 9 * * *"}, Upcoming(12)); err != nil || len(p.Upcoming) != 12 {
		t.Errorf("dry run with Upcoming(12): %d upcoming, %v; want 12", len(p.Upcoming), err)
	}
	if _, err := c.DryRun(ctx, Timer{Subject: "reports.run", Cron: "0 9 * * *"}, Upcoming(101)); !hasCode(err, api.CodeBadRequest) {
		t.Errorf("dry run with Upcoming(101): %v, want a 400", err)
	}

	msg := nats.NewMsg(c.Subject(api.EndpointSchedule))
	msg.Header.Set(api.HeaderSubject, "reports.run")
	msg.Header.Set(api.HeaderIn, "1h")
	msg.Header.Set(api.HeaderUpcoming, "3")
	if reply, err := n.Connect().RequestMsg(msg, 5*time.Second); err != nil || reply.Header.Get("Nats-Service-Error-Code") != "400" ||
		!strings.Contains(reply.Header.Get("Nats-Service-Error"), "Timer-Upcoming") {
		t.Errorf("a create with Timer-Upcoming: %v %v, want a 400 naming Timer-Upcoming", err, reply)
	}

	_, dryErr := c.DryRun(ctx, Timer{Subject: "reports.run", Cron: "0 0 30 2 *"})
	_, createErr := c.Schedule(ctx, Timer{Subject: "reports.run", Cron: "0 0 30 2 *"})
	var d, e *Error
	if !errors.As(dryErr, &d) || !errors.As(createErr, &e) || d.Code != api.CodeBadRequest || d.Code != e.Code || d.Message != e.Message {
		t.Errorf("impossible spec: dry run %v, create %v: want the same 400", dryErr, createErr)
	}
}

// Get with Upcoming(n) answers n occurrences, honouring the timer's end.
func TestGetUpcoming(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	c := New(n.Connect())
	ctx := context.Background()
	if _, err := c.Schedule(ctx, Timer{ID: "hourly", Subject: "demo.x", Repeat: "R3/2030-01-01T00:00:00Z/PT1H"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schedule(ctx, Timer{ID: "minutely", Subject: "demo.x", Cron: "* * * * *"}); err != nil {
		t.Fatal(err)
	}
	tm, err := c.Get(ctx, "hourly", Upcoming(10))
	want := []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}
	if err != nil || len(tm.Upcoming) != len(want) {
		t.Fatalf("get hourly = %+v, %v; want upcoming %v", tm, err, want)
	}
	for i := range want {
		if tm.Upcoming[i] != want[i] {
			t.Errorf("upcoming[%d] = %s, want %s", i, tm.Upcoming[i], want[i])
		}
	}
	if tm, err := c.Get(ctx, "minutely", Upcoming(10)); err != nil || len(tm.Upcoming) != 10 {
		t.Errorf("get minutely: %d upcoming, %v; want 10", len(tm.Upcoming), err)
	}
	if _, err := c.Get(ctx, "minutely", Upcoming(101)); !hasCode(err, api.CodeBadRequest) {
		t.Errorf("Upcoming(101): %v, want a 400", err)
	}
}
