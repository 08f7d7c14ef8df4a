package api_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// fire builds a fire as the node does, with the given Timer-Due, fire
// number and nominal nanoseconds.
func fire(id string, kept map[string]string, payload []byte, due string, number, nanos int64) *nats.Msg {
	m := &nats.Msg{Subject: "demo.x", Data: payload, Header: nats.Header{}}
	for k, v := range kept {
		m.Header[k] = []string{v}
	}
	m.Header[api.HeaderID] = []string{id}
	m.Header[api.HeaderDue] = []string{due}
	m.Header[api.HeaderFire] = []string{strconv.FormatInt(number, 10)}
	m.Header[api.HeaderMsgID] = []string{api.MsgIDPrefix + id + "." + strconv.FormatInt(nanos, 10)}
	return m
}

// FireSize is exact for the longest fire, as nats.go counts it against the
// server's max payload, and within 46 bytes of the shortest.
func TestFireSize(t *testing.T) {
	last := time.Unix(0, 1<<63-1).UTC()
	for _, c := range []struct {
		id      string
		kept    map[string]string
		payload int
	}{
		{"a", nil, 0},
		{"order-1", map[string]string{"X-Order": "7", "Content-Type": "application/json"}, 1000},
		{string(make([]byte, api.MaxIDLen)), map[string]string{"K": ""}, 1 << 20},
	} {
		bytes := 0
		for k, v := range c.kept {
			bytes += len(k) + len(v)
		}
		size := api.FireSize(c.id, len(c.kept), bytes, c.payload)
		longest := fire(c.id, c.kept, make([]byte, c.payload), api.FormatTime(last), 1<<63-1, last.UnixNano())
		if got := longest.Size() - len(longest.Subject); got != size {
			t.Errorf("id %q: FireSize %d, the longest fire is %d bytes", c.id, size, got)
		}
		shortest := fire(c.id, c.kept, make([]byte, c.payload), api.FormatTime(time.Unix(0, 0)), 1, 0)
		if got := shortest.Size() - len(shortest.Subject); got != size-46 {
			t.Errorf("id %q: FireSize %d, the shortest fire is %d bytes", c.id, size, got)
		}
	}
}

// A failed batch element is {"id", "error", "code"} alone; a success is
// the schedule reply. Both decode back into BatchResult.
func TestBatchResultJSON(t *testing.T) {
	for _, c := range []struct {
		r    api.BatchResult
		want string
	}{
		{api.BatchResult{ScheduleReply: api.ScheduleReply{ID: "a", Next: "2030-01-01T00:00:00Z", Revision: 3, Created: true}},
			`{"id":"a","next":"2030-01-01T00:00:00Z","revision":3,"created":true}`},
		{api.BatchResult{ScheduleReply: api.ScheduleReply{ID: "b"}, Error: "element 1: in \"soon\": bad", Code: 400},
			`{"id":"b","error":"element 1: in \"soon\": bad","code":400}`},
		{api.BatchResult{Error: "element 2: subject is required", Code: 400}, `{"error":"element 2: subject is required","code":400}`},
	} {
		b, err := json.Marshal(c.r)
		if err != nil || string(b) != c.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", c.r, b, err, c.want)
		}
		var back api.BatchResult
		if err := json.Unmarshal(b, &back); err != nil || back != c.r {
			t.Errorf("Unmarshal(%s) = %+v, %v", b, back, err)
		}
	}
	// In a slice too, as the reply carries them.
	b, _ := json.Marshal([]api.BatchResult{{Error: "x", Code: 413}})
	if string(b) != `[{"error":"x","code":413}]` {
		t.Errorf("slice: %s", b)
	}
}
