package service

import (
	"encoding/json"
	"testing"

	"github.com/timerd/timerd/api"
)

// Results handed back between nodes keep every field, in encoding/json's
// bytes for a struct embedding the reply with error and code omitempty.
func TestRawResultsAreEncodingJSON(t *testing.T) {
	type plain struct {
		api.ScheduleReply
		Error string `json:"error,omitempty"`
		Code  int    `json:"code,omitempty"`
	}
	rs := rawResults{
		{ScheduleReply: api.ScheduleReply{ID: "a<b>", Next: "2027-01-01T00:00:00Z", Revision: 7, Created: true}},
		{ScheduleReply: api.ScheduleReply{ID: "x"}, Error: "bad \"subject\"\n", Code: 400},
		{Error: "no code"},
		{Code: 503},
		{},
	}
	for _, in := range []rawResults{rs, {}, rs[1:2]} {
		want := make([]plain, len(in))
		for i, x := range in {
			want[i] = plain{x.ScheduleReply, x.Error, x.Code}
		}
		w, _ := json.Marshal(want)
		got, err := marshalReply(in)
		if err != nil || string(got) != string(w) {
			t.Fatalf("got %s (%v)\nwant %s", got, err, w)
		}
		var back []api.BatchResult
		if err := json.Unmarshal(got, &back); err != nil || len(back) != len(in) {
			t.Fatalf("decoding %s: %v", got, err)
		}
	}
}
