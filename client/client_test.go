package client

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
)

func TestScheduleSendsHeadersAndPayload(t *testing.T) {
	nc := runNATS(t)
	want := api.ScheduleReply{ID: "order-1", Next: "2026-11-24T10:00:00Z", Revision: 7, Created: true}
	got := fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) { respondJSON(t, req, want) })

	rep, err := New(nc).Schedule(context.Background(), Timer{
		ID: "order-1", Subject: "orders.expire", In: 30 * time.Second,
		Headers: nats.Header{"X-Tenant": {"acme"}}, Data: []byte("hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep != want {
		t.Errorf("reply %+v, want %+v", rep, want)
	}
	req := next(t, got)
	if req.endpoint != api.EndpointSchedule || string(req.data) != "hello" {
		t.Errorf("request %s %q", req.endpoint, req.data)
	}
	for k, v := range map[string]string{api.HeaderID: "order-1", api.HeaderSubject: "orders.expire", api.HeaderIn: "30s", "X-Tenant": "acme"} {
		if req.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, req.header.Get(k), v)
		}
	}
}

func TestScheduleInvalidTimerSendsNothing(t *testing.T) {
	nc := runNATS(t)
	got := fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) { respondJSON(t, req, api.ScheduleReply{}) })
	_, err := New(nc).Schedule(context.Background(), Timer{In: time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Code != api.CodeBadRequest {
		t.Fatalf("err = %v, want a 400 *Error", err)
	}
	// A request sent anyway would be answered before this flush returns.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		t.Errorf("an invalid timer was sent: %+v", r)
	default:
	}
}

func TestServerErrorsAreErrors(t *testing.T) {
	nc := runNATS(t)
	fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) {
		body, _ := json.Marshal(api.ErrorReply{Error: "no timer order-9", Code: api.CodeNotFound})
		if err := req.Error("404", "no timer order-9", body); err != nil {
			t.Error(err)
		}
	})
	_, err := New(nc).Get(context.Background(), "order-9")
	if !IsNotFound(err) {
		t.Fatalf("err = %v, want a 404", err)
	}
	if got, want := err.Error(), "timerd: no timer order-9 (code 404)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIDCalls(t *testing.T) {
	nc := runNATS(t)
	timer := api.Timer{ID: "a", Subject: "demo.x", Kind: api.KindCron, Spec: "@daily", State: api.StatePaused, Revision: 4}
	trigger := api.TriggerReply{ID: "a", Due: "2030-01-01T00:00:00Z", Fire: 3, Next: "2030-01-02T00:00:00Z"}
	got := fakeTimerd(t, nc, "jobs", func(ep string, req micro.Request) {
		switch ep {
		case api.EndpointCancel:
			respondJSON(t, req, api.CancelReply{ID: "a", Cancelled: true})
		case api.EndpointTrigger:
			respondJSON(t, req, trigger)
		default:
			respondJSON(t, req, timer)
		}
	})
	c := New(nc, WithPrefix("jobs"))
	ctx := context.Background()

	check := func(endpoint, revision string) {
		t.Helper()
		req := next(t, got)
		if req.endpoint != endpoint || req.header.Get(api.HeaderID) != "a" || req.header.Get(api.HeaderExpectedRevision) != revision {
			t.Errorf("request %s %v, want %s with revision %q", req.endpoint, req.header, endpoint, revision)
		}
	}
	if rep, err := c.Cancel(ctx, "a", ExpectRevision(4)); err != nil || !rep.Cancelled {
		t.Errorf("cancel = %+v, %v", rep, err)
	}
	check(api.EndpointCancel, "4")
	if rep, err := c.Get(ctx, "a"); err != nil || !reflect.DeepEqual(rep, timer) {
		t.Errorf("get = %+v, %v", rep, err)
	}
	check(api.EndpointGet, "")
	if rep, err := c.Pause(ctx, "a"); err != nil || rep.State != api.StatePaused {
		t.Errorf("pause = %+v, %v", rep, err)
	}
	check(api.EndpointPause, "")
	if rep, err := c.Resume(ctx, "a", ExpectRevision(5)); err != nil || rep.ID != "a" {
		t.Errorf("resume = %+v, %v", rep, err)
	}
	check(api.EndpointResume, "5")
	if rep, err := c.Trigger(ctx, "a"); err != nil || rep != trigger {
		t.Errorf("trigger = %+v, %v", rep, err)
	}
	check(api.EndpointTrigger, "")

	if _, err := c.Get(ctx, ""); err == nil || !strings.Contains(err.Error(), "needs a timer id") {
		t.Errorf("empty id: err = %v", err)
	}
}

func TestStats(t *testing.T) {
	nc := runNATS(t)
	want := api.Stats{Node: "n1", Ready: true, Shards: 16, OwnedShards: []int{1, 2}, Timers: 5, Lag: api.LagStats{Count: 3, P99Ms: 1.5}}
	fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) { respondJSON(t, req, want) })
	got, err := New(nc).Stats(context.Background())
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("stats = %+v, %v", got, err)
	}
}

func TestListAllFollowsCursors(t *testing.T) {
	nc := runNATS(t)
	pages := map[string]api.ListReply{
		"":   {Timers: []api.Timer{{ID: "o-1"}, {ID: "o-2"}}, NextCursor: "c1"},
		"c1": {Timers: []api.Timer{{ID: "o-3"}}, NextCursor: "c2"},
		"c2": {Timers: []api.Timer{{ID: "o-4"}}},
	}
	got := fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) {
		respondJSON(t, req, pages[req.Headers().Get(api.HeaderCursor)])
	})
	c := New(nc)

	var ids []string
	err := c.ListAll(context.Background(), "o-", func(tm api.Timer) error {
		ids = append(ids, tm.ID)
		return nil
	})
	if err != nil || strings.Join(ids, ",") != "o-1,o-2,o-3,o-4" {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	for _, cursor := range []string{"", "c1", "c2"} {
		req := next(t, got)
		if req.header.Get(api.HeaderPrefix) != "o-" || req.header.Get(api.HeaderCursor) != cursor || req.header.Get(api.HeaderLimit) != "" {
			t.Errorf("page request %v, want prefix o- and cursor %q", req.header, cursor)
		}
	}

	stop := errors.New("enough")
	err = c.ListAll(context.Background(), "", func(tm api.Timer) error {
		if tm.ID == "o-3" {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("err = %v, want fn's error as is", err)
	}

	page, err := c.List(context.Background(), ListOptions{Limit: 2, Cursor: "c1"})
	if err != nil || page.Timers[0].ID != "o-3" {
		t.Errorf("page = %+v, %v", page, err)
	}
	for range 3 { // the two pages of the stopped ListAll, then List
		req := next(t, got)
		if req.endpoint == api.EndpointList && req.header.Get(api.HeaderLimit) == "2" {
			return
		}
	}
	t.Error("List sent no Timer-Limit")
}

func TestListAllRefusesAStuckCursor(t *testing.T) {
	nc := runNATS(t)
	fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) {
		respondJSON(t, req, api.ListReply{Timers: []api.Timer{{ID: "a"}}, NextCursor: "same"})
	})
	err := New(nc).ListAll(context.Background(), "", func(api.Timer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "did not advance") {
		t.Errorf("err = %v", err)
	}
}

func TestBatch(t *testing.T) {
	nc := runNATS(t)
	results := []api.BatchResult{
		{ScheduleReply: api.ScheduleReply{ID: "a", Next: "2030-01-01T00:00:00Z", Revision: 1, Created: true}},
		{Error: "Timer-Cron \"x\" is not a cron expression", Code: 400},
	}
	got := fakeTimerd(t, nc, "timerd", func(_ string, req micro.Request) { respondJSON(t, req, results) })
	c := New(nc)

	rep, err := c.Batch(context.Background(), []Timer{
		{ID: "a", Subject: "demo.x", In: time.Minute, Data: []byte{0xfe, 0xff}},
		{ID: "b", Subject: "demo.x", Cron: "x"},
	})
	if err != nil || !reflect.DeepEqual(rep, results) {
		t.Fatalf("batch = %+v, %v", rep, err)
	}
	var items []api.BatchItem
	if err := json.Unmarshal(next(t, got).data, &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].In != "1m0s" || items[0].DataB64 == nil || *items[0].DataB64 != "/v8=" || items[1].Cron != "x" {
		t.Errorf("items %+v", items)
	}

	_, err = c.BatchItems(context.Background(), []api.BatchItem{{Subject: "demo.x", In: "1s"}})
	if err == nil || !strings.Contains(err.Error(), "2 results for 1 timers") {
		t.Errorf("short reply: err = %v", err)
	}
	next(t, got)

	_, err = c.Batch(context.Background(), []Timer{{Subject: "x"}, {In: time.Second}})
	var e *Error
	if !errors.As(err, &e) || e.Code != 400 || !strings.HasPrefix(e.Message, "batch item 1: Timer.Subject") {
		t.Errorf("invalid item: err = %v", err)
	}
}

func TestNoResponders(t *testing.T) {
	nc := runNATS(t)
	_, err := New(nc, WithPrefix("nobody")).Stats(context.Background())
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want nats.ErrNoResponders", err)
	}
	if !strings.Contains(err.Error(), "no timerd is serving nobody.stats") {
		t.Errorf("err = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	nc := runNATS(t)
	fakeTimerd(t, nc, "timerd", func(string, micro.Request) {}) // never answers
	c := New(nc, WithTimeout(50*time.Millisecond))

	_, err := c.Get(context.Background(), "a")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply on timerd.get") {
		t.Errorf("client timeout: err = %v", err)
	}

	// A context deadline wins over the client's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c = New(nc, WithTimeout(time.Hour))
	if _, err := c.Get(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: err = %v", err)
	}
}
