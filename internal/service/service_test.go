package service_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call sends a request the way any NATS client would: headers and a body.
func call(t *testing.T, nc *nats.Conn, endpoint string, headers map[string]string, body string) *nats.Msg {
	t.Helper()
	m := nats.NewMsg("timerd." + endpoint)
	for k, v := range headers {
		m.Header[k] = []string{v} // as sent, no canonicalization
	}
	m.Data = []byte(body)
	reply, err := nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return reply
}

func ok(t *testing.T, m *nats.Msg, into any) {
	t.Helper()
	if code := m.Header.Get(api.HeaderErrorCode); code != "" {
		t.Fatalf("want success, got %s: %s", code, m.Header.Get(api.HeaderError))
	}
	if err := json.Unmarshal(m.Data, into); err != nil {
		t.Fatalf("reply %q: %v", m.Data, err)
	}
}

// fails checks an error reply: the code header, a message naming what was
// wrong, and the JSON body carrying both.
func fails(t *testing.T, m *nats.Msg, code int, mentions ...string) {
	t.Helper()
	if got := m.Header.Get(api.HeaderErrorCode); got != strconv.Itoa(code) {
		t.Fatalf("want code %d, got %q (%s) body %s", code, got, m.Header.Get(api.HeaderError), m.Data)
	}
	msg := m.Header.Get(api.HeaderError)
	for _, s := range mentions {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not mention %q", msg, s)
		}
	}
	var body api.ErrorReply
	if err := json.Unmarshal(m.Data, &body); err != nil || body.Code != code || body.Error != msg {
		t.Errorf("error body %s: want {\"error\": %q, \"code\": %d} (%v)", m.Data, msg, code, err)
	}
}

func schedule(t *testing.T, nc *nats.Conn, headers map[string]string, body string) api.ScheduleReply {
	t.Helper()
	var r api.ScheduleReply
	ok(t, call(t, nc, "schedule", headers, body), &r)
	return r
}

func subscribe(t *testing.T, nc *nats.Conn, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

func receive(t *testing.T, ch chan *nats.Msg, within time.Duration) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(within):
		t.Fatalf("no fire within %v", within)
		return nil
	}
}

func TestOneShotFiresWithContractHeaders(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "demo.>")

	r := schedule(t, nc, map[string]string{"Timer-In": "300ms", "Timer-Subject": "demo.x", "Timer-Id": "order-1",
		"X-Order": "7", "Nats-Expected-Stream": "dropped"}, "hello")
	if r.ID != "order-1" || !r.Created || r.Revision == 0 || r.Next == "" {
		t.Fatalf("reply %+v", r)
	}
	due, err := time.Parse(time.RFC3339Nano, r.Next)
	if err != nil || !strings.HasSuffix(r.Next, "Z") {
		t.Fatalf("next %q: want RFC 3339 UTC (%v)", r.Next, err)
	}
	m := receive(t, fires, 5*time.Second)
	got := time.Now()
	if got.Before(due) {
		t.Fatalf("fired %v before its due time %v", due.Sub(got), due)
	}
	if string(m.Data) != "hello" || m.Subject != "demo.x" {
		t.Fatalf("fire %s %q", m.Subject, m.Data)
	}
	want := map[string]string{
		"X-Order": "7", "Timer-Id": "order-1", "Timer-Due": r.Next, "Timer-Fire": "1",
		"Nats-Msg-Id": "timerd.order-1." + strconv.FormatInt(due.UnixNano(), 10),
	}
	for k, v := range want {
		if m.Header.Get(k) != v {
			t.Errorf("fire header %s = %q, want %q", k, m.Header.Get(k), v)
		}
	}
	if m.Header.Get("Nats-Expected-Stream") != "" || m.Header.Get("Timer-In") != "" {
		t.Errorf("Nats-* and Timer-* request headers must not be kept: %v", m.Header)
	}
	// Fired: the one-shot is gone.
	fails(t, call(t, nc, "get", map[string]string{"Timer-Id": "order-1"}, ""), 404, "order-1")
	fails(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "order-1"}, ""), 404, "order-1")
}

func TestHeadersAreCaseInsensitiveAndTrimmed(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "lower.case")
	r := schedule(t, nc, map[string]string{"timer-in": " 10ms ", "TIMER-SUBJECT": "lower.case", "timer-id": "lc"}, "x")
	if r.ID != "lc" {
		t.Fatalf("id %q", r.ID)
	}
	if m := receive(t, fires, 5*time.Second); m.Header.Get("Timer-Id") != "lc" {
		t.Fatalf("fire %v", m.Header)
	}
}

func TestPastAndZeroTimesFireAtOnce(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "late.>")
	schedule(t, nc, map[string]string{"Timer-At": "2001-02-03T04:05:06.5+01:00", "Timer-Subject": "late.at", "Timer-Id": "past"}, "a")
	schedule(t, nc, map[string]string{"Timer-In": "0s", "Timer-Subject": "late.in", "Timer-Id": "zero"}, "b")
	seen := map[string]string{}
	for range 2 {
		m := receive(t, fires, 5*time.Second)
		seen[m.Header.Get("Timer-Id")] = m.Header.Get("Timer-Due")
	}
	if seen["past"] != "2001-02-03T03:05:06.5Z" {
		t.Errorf("past timer Timer-Due %q, want the nominal time in UTC", seen["past"])
	}
	if _, ok := seen["zero"]; !ok {
		t.Errorf("Timer-In 0s did not fire: %v", seen)
	}
}

func TestISODurationIn(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	before := time.Now()
	r := schedule(t, nc, map[string]string{"Timer-In": "P1DT2H", "Timer-Subject": "iso.x"}, "")
	next, _ := time.Parse(time.RFC3339Nano, r.Next)
	if d := next.Sub(before); d < 26*time.Hour || d > 26*time.Hour+5*time.Second {
		t.Fatalf("P1DT2H from %v gave %v (%v)", before, next, d)
	}
	if len(r.ID) == 0 {
		t.Fatal("no server-made id")
	}
}

func TestBadRequestsAreRefusedAndStoreNothing(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{MaxPayload: 1024, AllowSubjects: []string{"demo.>", "orders.*"}})
	nc := n.Connect()
	base := func(extra map[string]string) map[string]string {
		h := map[string]string{"Timer-In": "1h", "Timer-Subject": "demo.x"}
		for k, v := range extra {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	cases := []struct {
		name    string
		headers map[string]string
		body    string
		code    int
		mention []string
	}{
		{"missing subject", base(map[string]string{"Timer-Subject": ""}), "", 400, []string{"Timer-Subject"}},
		{"wildcard subject", base(map[string]string{"Timer-Subject": "demo.*"}), "", 400, []string{"Timer-Subject", "demo.*"}},
		{"full wildcard", base(map[string]string{"Timer-Subject": "demo.>"}), "", 400, []string{"demo.>"}},
		{"empty token", base(map[string]string{"Timer-Subject": "demo..x"}), "", 400, []string{"demo..x"}},
		{"reserved $", base(map[string]string{"Timer-Subject": "$JS.API.INFO"}), "", 403, []string{"$JS.API.INFO"}},
		{"inbox", base(map[string]string{"Timer-Subject": "_INBOX.abc"}), "", 403, []string{"_INBOX.abc"}},
		{"own API", base(map[string]string{"Timer-Subject": "timerd.schedule"}), "", 403, []string{"timerd.schedule"}},
		{"outside allow-list", base(map[string]string{"Timer-Subject": "billing.x"}), "", 403, []string{"billing.x", "allow"}},
		{"no when", base(map[string]string{"Timer-In": ""}), "", 400, []string{"Timer-In", "Timer-At"}},
		{"two whens", base(map[string]string{"Timer-At": "2030-01-01T00:00:00Z"}), "", 400, []string{"Timer-In", "Timer-At"}},
		{"bad duration", base(map[string]string{"Timer-In": "soon"}), "", 400, []string{"Timer-In", "soon"}},
		{"negative duration", base(map[string]string{"Timer-In": "-5s"}), "", 400, []string{"Timer-In", "-5s", "negative"}},
		{"negative ISO", base(map[string]string{"Timer-In": "-PT5S"}), "", 400, []string{"Timer-In"}},
		{"bad ISO", base(map[string]string{"Timer-In": "P1Q"}), "", 400, []string{"Timer-In", "P1Q"}},
		{"bad time", base(map[string]string{"Timer-In": "", "Timer-At": "tomorrow"}), "", 400, []string{"Timer-At", "tomorrow"}},
		{"time without zone", base(map[string]string{"Timer-In": "", "Timer-At": "2030-01-01T00:00:00"}), "", 400, []string{"Timer-At"}},
		{"id with space", base(map[string]string{"Timer-Id": "a b"}), "", 400, []string{"Timer-Id", "space"}},
		{"id with star", base(map[string]string{"Timer-Id": "a*"}), "", 400, []string{"Timer-Id"}},
		{"id too long", base(map[string]string{"Timer-Id": strings.Repeat("x", 257)}), "", 400, []string{"Timer-Id", "257", "256"}},
		{"payload too large", base(nil), strings.Repeat("p", 1025), 413, []string{"1025", "1024"}},
		{"unknown Timer header", base(map[string]string{"Timer-Max-Fire": "3"}), "", 400, []string{"Timer-Max-Fire"}},
		{"recurring option on one-shot", base(map[string]string{"Timer-Max-Fires": "3"}), "", 400, []string{"Timer-Max-Fires"}},
		{"bad replace", base(map[string]string{"Timer-Replace": "yes"}), "", 400, []string{"Timer-Replace", "yes"}},
		{"revision without replace", base(map[string]string{"Timer-Expected-Revision": "3"}), "", 400, []string{"Timer-Expected-Revision"}},
		{"bad jitter", base(map[string]string{"Timer-Jitter": "lots"}), "", 400, []string{"Timer-Jitter", "lots"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fails(t, call(t, nc, "schedule", c.headers, c.body), c.code, c.mention...)
		})
	}
	for _, ep := range []string{"get", "cancel", "pause", "resume", "trigger"} {
		fails(t, call(t, nc, ep, nil, ""), 400, "Timer-Id")
		fails(t, call(t, nc, ep, map[string]string{"Timer-Id": "nope"}, ""), 404, "nope")
	}
	fails(t, call(t, nc, "list", map[string]string{"Timer-Limit": "0"}, ""), 400, "Timer-Limit")
	fails(t, call(t, nc, "list", map[string]string{"Timer-Limit": "10001"}, ""), 400, "Timer-Limit")
	fails(t, call(t, nc, "list", map[string]string{"Timer-Cursor": "!!"}, ""), 400, "Timer-Cursor")
	var page api.ListReply
	ok(t, call(t, nc, "list", nil, ""), &page)
	if len(page.Timers) != 0 {
		t.Fatalf("refused requests stored timers: %+v", page.Timers)
	}
}

func TestIdempotencyReplaceAndRevisions(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	h := map[string]string{"Timer-In": "30s", "Timer-Subject": "demo.x", "Timer-Id": "retry-me"}
	first := schedule(t, nc, h, "p")
	again := schedule(t, nc, h, "p") // a client retry after a timeout
	if again.Created || again.Next != first.Next || again.Revision != first.Revision {
		t.Fatalf("retry changed the timer: first %+v, again %+v", first, again)
	}
	fails(t, call(t, nc, "schedule", h, "other payload"), 409, "retry-me", "Timer-Replace")

	h2 := map[string]string{"Timer-In": "1h", "Timer-Subject": "demo.y", "Timer-Id": "retry-me", "Timer-Replace": "true"}
	replaced := schedule(t, nc, h2, "q")
	if replaced.Created || replaced.Revision <= first.Revision || replaced.Next == first.Next {
		t.Fatalf("replace: %+v after %+v", replaced, first)
	}
	h3 := map[string]string{"Timer-In": "2h", "Timer-Subject": "demo.y", "Timer-Id": "retry-me", "Timer-Replace": "true",
		"Timer-Expected-Revision": strconv.FormatUint(first.Revision, 10)}
	fails(t, call(t, nc, "schedule", h3, ""), 409, "revision")
	h3["Timer-Expected-Revision"] = strconv.FormatUint(replaced.Revision, 10)
	cas := schedule(t, nc, h3, "")
	var got api.Timer
	ok(t, call(t, nc, "get", map[string]string{"Timer-Id": "retry-me"}, ""), &got)
	if got.Revision != cas.Revision || got.Subject != "demo.y" || got.Spec != "2h" || got.Kind != "in" || got.Next != cas.Next {
		t.Fatalf("get after CAS replace: %+v, reply %+v", got, cas)
	}
	fails(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "retry-me", "Timer-Expected-Revision": "1"}, ""), 409, "revision")
	var c api.CancelReply
	ok(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "retry-me", "Timer-Expected-Revision": strconv.FormatUint(cas.Revision, 10)}, ""), &c)
	if !c.Cancelled || c.ID != "retry-me" {
		t.Fatalf("cancel reply %+v", c)
	}
}

func TestCancelledAndPausedTimersDoNotFire(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "cp.>")
	schedule(t, nc, map[string]string{"Timer-In": "200ms", "Timer-Subject": "cp.x", "Timer-Id": "cancel-me"}, "")
	schedule(t, nc, map[string]string{"Timer-In": "200ms", "Timer-Subject": "cp.x", "Timer-Id": "pause-me"}, "")
	// The sentinel is due after both: once it fires, they would have.
	schedule(t, nc, map[string]string{"Timer-In": "600ms", "Timer-Subject": "cp.x", "Timer-Id": "sentinel"}, "")
	var c api.CancelReply
	ok(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "cancel-me"}, ""), &c)
	var p api.Timer
	ok(t, call(t, nc, "pause", map[string]string{"Timer-Id": "pause-me"}, ""), &p)
	if p.State != "paused" || p.ID != "pause-me" {
		t.Fatalf("pause answered %+v", p)
	}
	if m := receive(t, fires, 5*time.Second); m.Header.Get("Timer-Id") != "sentinel" {
		t.Fatalf("%s fired after its cancel or pause was answered", m.Header.Get("Timer-Id"))
	}
	fails(t, call(t, nc, "cancel", map[string]string{"Timer-Id": "cancel-me"}, ""), 404, "cancel-me")
	var r api.Timer
	ok(t, call(t, nc, "resume", map[string]string{"Timer-Id": "pause-me"}, ""), &r)
	if r.State != "scheduled" || r.Revision <= p.Revision {
		t.Fatalf("resume answered %+v after %+v", r, p)
	}
	if m := receive(t, fires, 5*time.Second); m.Header.Get("Timer-Id") != "pause-me" {
		t.Fatalf("resumed past-due one-shot did not fire at once; got %v", m.Header)
	}
}

func TestTriggerFiresNominalOccurrenceNow(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "trig.>")
	r := schedule(t, nc, map[string]string{"Timer-In": "1h", "Timer-Subject": "trig.x", "Timer-Id": "t1"}, "now please")
	var tr api.TriggerReply
	ok(t, call(t, nc, "trigger", map[string]string{"Timer-Id": "t1"}, ""), &tr)
	if tr.Due != r.Next || tr.Fire != 1 {
		t.Fatalf("trigger reply %+v, schedule reply %+v", tr, r)
	}
	m := receive(t, fires, 5*time.Second)
	if m.Header.Get("Timer-Due") != r.Next || string(m.Data) != "now please" {
		t.Fatalf("triggered fire %v %q", m.Header, m.Data)
	}
	fails(t, call(t, nc, "get", map[string]string{"Timer-Id": "t1"}, ""), 404, "t1")
}

func TestListPagesInIDOrder(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	var items []api.BatchItem
	for i := range 25 {
		items = append(items, api.BatchItem{ID: fmt.Sprintf("order-%02d", 24-i), Subject: "demo.x", In: "1h"})
	}
	items = append(items, api.BatchItem{ID: "other-1", Subject: "demo.x", In: "1h"})
	body, _ := json.Marshal(items)
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, string(body)), &res)
	var ids []string
	cursor := ""
	pages := 0
	for {
		h := map[string]string{"Timer-Prefix": "order-", "Timer-Limit": "10"}
		if cursor != "" {
			h["Timer-Cursor"] = cursor
		}
		var page api.ListReply
		ok(t, call(t, nc, "list", h, ""), &page)
		pages++
		for _, tm := range page.Timers {
			ids = append(ids, tm.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if pages != 3 || len(ids) != 25 {
		t.Fatalf("%d pages, %d ids: %v", pages, len(ids), ids)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("order-%02d", i); id != want {
			t.Fatalf("ids[%d] = %s, want %s (ordered by id)", i, id, want)
		}
	}
}

func TestBatchElementsSucceedOrFailAlone(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{MaxBatch: 5})
	nc := n.Connect()
	fires := subscribe(t, nc, "b.>")
	body := `[
		{"id": "b1", "subject": "b.x", "in": "10ms", "data": "one", "headers": {"X-K": "v"}},
		{"id": "b2", "subject": "b.x", "in": "nope"},
		{"id": "b3", "subject": "b.x", "at": "2001-01-01T00:00:00Z", "data_b64": "dHdv"},
		{"subject": "b.*", "in": "1s"},
		{"id": "b5", "subject": "b.x", "in": "1s", "data": "a", "data_b64": "YQ=="}
	]`
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, body), &res)
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Error != "" || !res[0].Created || res[2].Error != "" {
		t.Fatalf("valid elements failed: %+v", res)
	}
	for i, id := range map[int]string{1: "b2", 3: "", 4: "b5"} {
		if res[i].Code != 400 || res[i].Error == "" || res[i].ID != id || res[i].Created || res[i].Revision != 0 {
			t.Errorf("element %d: %+v, want a 400 of its own with id %q", i, res[i], id)
		}
	}
	if !strings.Contains(res[1].Error, "in") || !strings.Contains(res[1].Error, "nope") {
		t.Errorf("element 1 error %q should name the field and value", res[1].Error)
	}
	got := map[string]string{}
	for range 2 {
		m := receive(t, fires, 5*time.Second)
		got[m.Header.Get("Timer-Id")] = string(m.Data) + "|" + m.Header.Get("X-K")
	}
	if got["b1"] != "one|v" || got["b3"] != "two|" {
		t.Fatalf("batch fires: %v", got)
	}
	fails(t, call(t, nc, "batch", nil, `{"id": "x"}`), 400, "array")
	fails(t, call(t, nc, "batch", nil, `[{"id": "x",`), 400, "JSON")
	fails(t, call(t, nc, "batch", nil, `[{"id": "x", "subjekt": "a"}]`), 400, "subjekt")
	fails(t, call(t, nc, "batch", nil, `[]`), 400, "empty")
	fails(t, call(t, nc, "batch", nil, `[{},{},{},{},{},{}]`), 413, "6", "5")
}

func TestMicroServiceDiscovery(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	reply, err := nc.Request("$SRV.INFO.timerd", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Name      string `json:"name"`
		Endpoints []struct {
			Subject    string `json:"subject"`
			QueueGroup string `json:"queue_group"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(reply.Data, &info); err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	for _, e := range info.Endpoints {
		subjects[e.Subject] = true
		if e.QueueGroup == "" {
			t.Errorf("endpoint %s has no queue group", e.Subject)
		}
	}
	for _, s := range []string{"schedule", "batch", "cancel", "get", "list", "pause", "resume", "trigger", "stats"} {
		if !subjects["timerd."+s] {
			t.Errorf("endpoint timerd.%s missing: %v", s, subjects)
		}
	}
	var st api.Stats
	ok(t, call(t, nc, "stats", nil, ""), &st)
	if !st.Ready || st.Shards != 64 || len(st.OwnedShards) != 64 {
		t.Fatalf("stats %+v", st)
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
