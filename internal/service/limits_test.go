package service_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

// The last instant a due time can have: int64 nanoseconds since 1970.
const lastInstant = "2262-04-11T23:47:16.854775807Z"

// callMsg sends a request whose headers are exactly h, as a client in any
// language could build them: several spellings of a name, several values.
func callMsg(t *testing.T, nc *nats.Conn, endpoint string, h nats.Header, body []byte) *nats.Msg {
	t.Helper()
	m := &nats.Msg{Subject: "timerd." + endpoint, Header: h, Data: body}
	reply, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return reply
}

// Due times are int64 nanoseconds: a time past 2262-04-11 would wrap to
// 1677 and fire at once, or fire in a tight loop. Every way of naming one
// is a 400 that says where the range ends.
func TestTimesBeyondTheRangeAreRefused(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	h := func(kv ...string) map[string]string {
		m := map[string]string{"Timer-Subject": "demo.x"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		headers map[string]string
		mention []string
	}{
		{h("Timer-In", "2100000h"), []string{"Timer-In", "2100000h", lastInstant}},
		{h("Timer-In", "2562047h47m16.854775807s"), []string{"Timer-In", lastInstant}},
		{h("Timer-In", "P300Y"), []string{"Timer-In", "P300Y", lastInstant}},
		{h("Timer-In", "P1000Y"), []string{"Timer-In", "P1000Y", lastInstant}},
		{h("Timer-At", "2262-04-11T23:47:16.854775808Z"), []string{"Timer-At", lastInstant}},
		{h("Timer-At", "2300-01-01T00:00:00Z"), []string{"Timer-At", "2300-01-01T00:00:00Z", lastInstant}},
		{h("Timer-At", "1969-12-31T23:59:59Z"), []string{"Timer-At", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"}},
		{h("Timer-Repeat", "R5/2300-01-01T00:00:00Z/PT1H"), []string{"Timer-Repeat", "2300-01-01T00:00:00Z", lastInstant}},
		{h("Timer-Repeat", "R/9999-12-31T00:00:00Z/PT1H"), []string{"Timer-Repeat", lastInstant}},
		{h("Timer-Cron", "0 0 29 2 *", "Timer-Start", "2261-03-01T00:00:00Z"), []string{"Timer-Cron", lastInstant}},
		{h("Timer-Cron", "* * * * *", "Timer-Start", "2262-04-11T23:47:16.854775808Z"), []string{"Timer-Start", lastInstant}},
		{h("Timer-Cron", "* * * * *", "Timer-End", "2300-01-01T00:00:00Z"), []string{"Timer-End", "2300-01-01T00:00:00Z", lastInstant}},
		{h("Timer-At", "2262-04-11T23:00:00Z", "Timer-Jitter", "1h"), []string{"Timer-Jitter", "1h", lastInstant}},
	} {
		t.Run(fmt.Sprint(c.headers), func(t *testing.T) {
			fails(t, call(t, nc, "schedule", c.headers, ""), 400, c.mention...)
		})
	}
	if r := schedule(t, nc, h("Timer-At", lastInstant), ""); r.Next != lastInstant {
		t.Errorf("Timer-At %s answered next %q", lastInstant, r.Next)
	}
	// The first instant is accepted and, being past, fires at once. (The
	// reply's next is left unchecked: the node takes a due time of 0 for
	// "none" and answers no next for it.)
	late := subscribe(t, nc, "late.x")
	schedule(t, nc, h("Timer-At", "1970-01-01T00:00:00Z", "Timer-Subject", "late.x"), "")
	if m := receive(t, late, 5*time.Second); m.Header.Get(api.HeaderDue) != "1970-01-01T00:00:00Z" {
		t.Errorf("fire of Timer-At 1970-01-01T00:00:00Z has Timer-Due %q", m.Header.Get(api.HeaderDue))
	}
	body := `[{"id":"far","subject":"demo.x","in":"2100000h"},{"id":"rep","subject":"demo.x","repeat":"R5/2300-01-01T00:00:00Z/PT1H"}]`
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, body), &res)
	for i, r := range res {
		if r.Code != 400 || !strings.Contains(r.Error, lastInstant) {
			t.Errorf("batch element %d: %+v, want a 400 naming %s", i, r, lastInstant)
		}
	}
}

// A recurring timer that runs into the end of the range has no occurrence
// after it: it does not wrap around and fire in a loop.
func TestRepeatEndsAtTheLastInstant(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	fires := subscribe(t, nc, "edge.>")
	r := schedule(t, nc, map[string]string{"Timer-Subject": "edge.x", "Timer-Id": "edge",
		"Timer-Repeat": "R/2262-04-11T23:47:15Z/PT1S"}, "")
	if r.Next != "2262-04-11T23:47:15Z" {
		t.Fatalf("next %q", r.Next)
	}
	for _, want := range []struct{ due, next string }{
		{"2262-04-11T23:47:15Z", "2262-04-11T23:47:16Z"},
		{"2262-04-11T23:47:16Z", ""},
	} {
		var tr api.TriggerReply
		ok(t, call(t, nc, "trigger", map[string]string{"Timer-Id": "edge"}, ""), &tr)
		if tr.Due != want.due || tr.Next != want.next {
			t.Fatalf("trigger answered due %q next %q; want due %q next %q", tr.Due, tr.Next, want.due, want.next)
		}
		if m := receive(t, fires, 5*time.Second); m.Header.Get(api.HeaderDue) != want.due {
			t.Fatalf("fire due %q, want %q", m.Header.Get(api.HeaderDue), want.due)
		}
	}
}

// A subject beyond the NATS control line (4 KiB) used to take the node's
// connection down on every fire. Subjects are bounded as the contract says.
func TestSubjectLimits(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	longest := strings.Repeat("abcdefg.", 127) + "abcdefgh" // 1024 bytes, 128 tokens
	for _, c := range []struct {
		subject string
		mention []string
	}{
		{longest + "x", []string{"Timer-Subject", "1025 bytes", "1024"}},
		{strings.Repeat("x", 5000), []string{"Timer-Subject", "5000 bytes", "1024"}},
		{strings.Repeat("a.", 128) + "a", []string{"Timer-Subject", "129 tokens", "128"}},
		{"demo.\x01x", []string{"Timer-Subject", "0x01", "printable ASCII"}},
		{"demo.\x7fx", []string{"Timer-Subject", "0x7f", "printable ASCII"}},
		{"demo.\u2028x", []string{"Timer-Subject", "U+2028", "printable ASCII"}},
		{"demo.\xffx", []string{"Timer-Subject", "0xff", "printable ASCII"}},
		{"demo. x", []string{"Timer-Subject", "space"}},
		{"demo.x.", []string{"Timer-Subject", "empty token"}},
		{".demo", []string{"Timer-Subject", "empty token"}},
		{"demo.*.x", []string{"Timer-Subject", "wildcard"}},
	} {
		t.Run(fmt.Sprintf("%.40q", c.subject), func(t *testing.T) {
			h := nats.Header{"Timer-Subject": {c.subject}, "Timer-In": {"1h"}}
			fails(t, callMsg(t, nc, "schedule", h, nil), 400, c.mention...)
		})
	}
	var res []api.BatchResult
	body, _ := json.Marshal([]api.BatchItem{{ID: "long", Subject: strings.Repeat("x", 5000), In: "1h"}})
	ok(t, call(t, nc, "batch", nil, string(body)), &res)
	if res[0].Code != 400 || !strings.Contains(res[0].Error, "subject") || !strings.Contains(res[0].Error, "1024") {
		t.Errorf("batch element with a 5000-byte subject: %+v", res[0])
	}
	// The longest subject allowed fires, and the node still does after it.
	fires := subscribe(t, nc, "abcdefg.>")
	schedule(t, nc, map[string]string{"Timer-Subject": longest, "Timer-In": "0s", "Timer-Id": "longest"}, "")
	if m := receive(t, fires, 5*time.Second); m.Subject != longest {
		t.Fatalf("fire on %.40q", m.Subject)
	}
}

// Kept headers are bounded in number and size, their names are ones a NATS
// client can publish, and the fire as it will be published must fit the
// server's max payload, whatever --max-payload says.
func TestKeptHeaderLimits(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	many := func(count, valueLen int) nats.Header {
		h := nats.Header{"Timer-Subject": {"demo.x"}, "Timer-In": {"1h"}}
		for i := range count {
			h[fmt.Sprintf("X-%05d", i)] = []string{strings.Repeat("v", valueLen)}
		}
		return h
	}
	schedule := func(h nats.Header) *nats.Msg { return callMsg(t, nc, "schedule", h, nil) }
	var r api.ScheduleReply
	ok(t, schedule(many(64, 0)), &r)
	fails(t, schedule(many(65, 0)), 413, "65", "64")
	fails(t, schedule(many(10000, 0)), 413, "10000", "64")
	// 16 KiB of names and values in all: 8 names of 7 bytes, 8 values of 2041.
	ok(t, schedule(many(8, 2041)), &r)
	fails(t, schedule(many(8, 2042)), 413, "16392", "16384")
	fails(t, schedule(nats.Header{"Timer-Subject": {"demo.x"}, "Timer-In": {"1h"}, "X-Big": {strings.Repeat("v", 120<<10)}}), 413, "122885", "16384")
	fails(t, schedule(nats.Header{"Timer-Subject": {"demo.x"}, "Timer-In": {"1h"}, "X-Big": {strings.Repeat("v", 900<<10)}}), 413, "921605", "16384")
	// A name nats.go refuses to publish would make a timer that never
	// fires. nats.go will not send one either, but other clients do.
	for _, name := range []string{"X/Y", "a@b", "x(1)", "k\x7f", "X Y"} {
		block := "NATS/1.0\r\nTimer-Subject: demo.x\r\nTimer-In: 1h\r\n" + name + ": 1\r\n\r\n"
		fails(t, rawRequest(t, n.URL(), "timerd.schedule", block, nil), 400, strconv.Quote(name)[1:len(strconv.Quote(name))-1])
	}
	body := `[{"id":"hb","subject":"demo.x","in":"1h","headers":{"X/Y":"1"}}]`
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, body), &res)
	if res[0].Code != 400 || !strings.Contains(res[0].Error, "X/Y") {
		t.Errorf("batch element with header X/Y: %+v", res[0])
	}
}

// The fire carries the kept headers and timerd's four beside the payload;
// all of it must fit the server's max payload (1 MiB here) even when
// --max-payload allows more.
func TestFireMustFitTheServerMaxPayload(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{MaxPayload: 2 << 20})
	nc := n.Connect()
	fires := subscribe(t, nc, "big.>")
	const limit = 1 << 20
	// The header block of the fire at its longest: Timer-Due with nine
	// digits of fraction, Timer-Fire and the nanoseconds of Nats-Msg-Id
	// with nineteen digits.
	id, kept := "big", "X-K: v\r\n"
	block := len("NATS/1.0\r\n") + len(kept) + len("Timer-Id: "+id+"\r\n") + len("Timer-Due: 2262-04-11T23:47:16.854775807Z\r\n") +
		len("Timer-Fire: 9223372036854775807\r\n") + len("Nats-Msg-Id: timerd."+id+".9223372036854775807\r\n") + len("\r\n")
	h := func(id string) nats.Header {
		return nats.Header{"Timer-Subject": {"big.x"}, "Timer-In": {"0s"}, "Timer-Id": {id}, "X-K": {"v"}}
	}
	fails(t, callMsg(t, nc, "schedule", h(id), make([]byte, limit-block+1)), 413,
		strconv.Itoa(limit+1), strconv.Itoa(limit), "max payload")
	// The record the timer is stored in carries a little more (its fields
	// and the store's fencing headers): the largest payload accepted is a
	// few hundred bytes below the fire's bound, and what is accepted fires.
	fails(t, callMsg(t, nc, "schedule", h("bix"), make([]byte, limit-block)), 413, "record", strconv.Itoa(limit))
	var r api.ScheduleReply
	size := limit - block - 512
	ok(t, callMsg(t, nc, "schedule", h(id), make([]byte, size)), &r)
	m := receive(t, fires, 10*time.Second)
	if len(m.Data) != size {
		t.Fatalf("fire of %d bytes, want %d", len(m.Data), size)
	}
	if size := m.Size() - len(m.Subject) - len(m.Reply); size > limit {
		t.Fatalf("fire of %d bytes over the limit %d", size, limit)
	}
}

// nats.go keeps header names as sent, so Timer-In and timer-in arrive as
// two headers; picking one at random would be a coin toss. A header sent
// twice, in any spelling, is a 400.
func TestHeaderSentTwiceInAnySpelling(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	base := func() nats.Header { return nats.Header{"Timer-Subject": {"demo.x"}, "Timer-In": {"1h"}} }
	for _, c := range []struct {
		add     nats.Header
		mention []string
	}{
		{nats.Header{"timer-in": {"2h"}}, []string{"Timer-In", "timer-in"}},
		{nats.Header{"TIMER-IN": {"1h"}}, []string{"Timer-In", "TIMER-IN"}},
		{nats.Header{"Timer-Id": {"a"}, "timer-id": {"a"}}, []string{"Timer-Id", "timer-id"}},
		{nats.Header{"Timer-Jitter": {"1s", "2s"}}, []string{"Timer-Jitter", "2"}},
		{nats.Header{"X-Order": {"1"}, "x-order": {"2"}}, []string{"X-Order", "x-order"}},
		{nats.Header{"X-Order": {"1", "1"}}, []string{"X-Order", "2"}},
	} {
		t.Run(fmt.Sprint(slices.Sorted(maps.Keys(c.add))), func(t *testing.T) {
			h := base()
			maps.Copy(h, c.add)
			fails(t, callMsg(t, nc, "schedule", h, nil), 400, c.mention...)
		})
	}
	schedule(t, nc, map[string]string{"Timer-Subject": "demo.x", "Timer-In": "1h", "Timer-Id": "once"}, "")
	for _, ep := range []string{"get", "cancel", "pause", "resume", "trigger"} {
		fails(t, callMsg(t, nc, ep, nats.Header{"Timer-Id": {"once"}, "timer-id": {"other"}}, nil), 400, "Timer-Id", "timer-id")
	}
	fails(t, callMsg(t, nc, "list", nats.Header{"Timer-Limit": {"5"}, "timer-limit": {"6"}}, nil), 400, "Timer-Limit", "timer-limit")
	body := `[{"id":"hh","subject":"demo.x","in":"1h","headers":{"X-A":"1","x-a":"2"}}]`
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, body), &res)
	if res[0].Code != 400 || !strings.Contains(res[0].Error, "X-A") || !strings.Contains(res[0].Error, "x-a") {
		t.Errorf("batch element with X-A and x-a: %+v", res[0])
	}
}

// Anything but white space after the batch's array is a 400: a body cut
// and pasted twice, or a second array, is not silently half read.
func TestBatchTrailingData(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	one := `[{"id":"t1","subject":"demo.x","in":"1h"}]`
	for _, body := range []string{one + "xyz", one + " " + one, one + "\n{", one + "]", one + "\x00"} {
		fails(t, call(t, nc, "batch", nil, body), 400, "after the array", "offset 42")
	}
	var res []api.BatchResult
	ok(t, call(t, nc, "batch", nil, one+" \r\n\t"), &res)
	if len(res) != 1 || res[0].ID != "t1" || res[0].Error != "" {
		t.Fatalf("batch with white space after the array: %+v", res)
	}
}

// A failed batch element carries the element's id (when it gave one), the
// error and the code, and nothing else; a success is a schedule reply.
func TestBatchErrorElementShape(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	nc := n.Connect()
	long := strings.Repeat("i", api.MaxIDLen+1) // invalid, and not echoed whole
	body := `[{"id":"good","subject":"demo.x","in":"1h"},{"id":"bad","subject":"demo.x","in":"soon"},{"subject":"demo.x"},` +
		`{"id":"` + long + `","subject":"demo.x","in":"1h"}]`
	m := call(t, nc, "batch", nil, body)
	var raw []map[string]any
	ok(t, m, &raw)
	keys := func(o map[string]any) string { return strings.Join(slices.Sorted(maps.Keys(o)), ",") }
	if len(raw) != 4 || keys(raw[0]) != "created,id,next,revision" || keys(raw[1]) != "code,error,id" || keys(raw[2]) != "code,error" ||
		keys(raw[3]) != "code,error" {
		t.Fatalf("batch reply %s", m.Data)
	}
	if raw[1]["id"] != "bad" || raw[1]["code"] != float64(400) || !strings.Contains(raw[1]["error"].(string), "soon") {
		t.Fatalf("error element %v", raw[1])
	}
	var res []api.BatchResult
	ok(t, m, &res)
	if res[1].ID != "bad" || res[1].Code != 400 || res[1].Created || res[2].ID != "" || res[2].Code != 400 {
		t.Fatalf("decoded %+v", res)
	}
}

// rawRequest sends a request over the bare NATS protocol with the header
// block exactly as given, as a client in another language may build it,
// and returns the reply.
func rawRequest(t *testing.T, url, subject, block string, body []byte) *nats.Msg {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"+
		"SUB _INBOX.raw 1\r\nHPUB %s _INBOX.raw %d %d\r\n%s%s\r\n", subject, len(block), len(block)+len(body), block, body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("raw request: %v", err)
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "PING":
			fmt.Fprint(conn, "PONG\r\n")
		case len(f) == 4 && f[0] == "MSG", len(f) == 5 && f[0] == "HMSG":
			// MSG subject sid size, HMSG subject sid hdrlen size: a
			// success has no headers.
			hdrLen, _ := strconv.Atoi(f[3])
			total, _ := strconv.Atoi(f[len(f)-1])
			if f[0] == "MSG" {
				hdrLen = 0
			}
			msg := make([]byte, total+2)
			if _, err := io.ReadFull(r, msg); err != nil {
				t.Fatalf("raw reply: %v", err)
			}
			reply := &nats.Msg{Subject: f[1], Header: nats.Header{}, Data: msg[hdrLen:total]}
			if hdrLen > 0 {
				if reply.Header, err = nats.DecodeHeadersMsg(msg[:hdrLen]); err != nil {
					t.Fatalf("raw reply headers %q: %v", msg[:hdrLen], err)
				}
			}
			return reply
		case len(f) > 0 && f[0] == "-ERR":
			t.Fatalf("raw request: %s", line)
		}
	}
}
