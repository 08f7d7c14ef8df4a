package api

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// The hand encoding must be byte for byte encoding/json's: clients and
// tests compare replies, and any difference would be a change of contract.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	odd := []string{"", "a", `"`, `\`, "<script>&", "\u2028\u2029", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"\xff\xfe", "é🎉", "\xed\xa0\x80", "a\xc3", strings.Repeat("x", 300)}
	str := func() string {
		if rng.IntN(3) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	for i := 0; i < 20000; i++ {
		r := BatchResult{ScheduleReply: ScheduleReply{ID: str(), Revision: rng.Uint64() >> rng.IntN(64), Created: rng.IntN(2) == 0}}
		if rng.IntN(2) == 0 {
			r.Next = str()
		}
		switch rng.IntN(4) {
		case 0:
			r.Error, r.Code = str(), 400+rng.IntN(200)
		case 1:
			r.Error = str() // an error without a code still writes "code":0
		case 2:
			r.Code = -rng.IntN(1000)
		}
		want, err := json.Marshal(r.ScheduleReply)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ScheduleReply.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("ScheduleReply %+v:\n got %s\nwant %s", r.ScheduleReply, got, want)
		}
		// The element as the old MarshalJSON wrote it.
		var old any = r.ScheduleReply
		if r.Error != "" || r.Code != 0 {
			old = struct {
				ID string `json:"id,omitempty"`
				ErrorReply
			}{r.ID, ErrorReply{Error: r.Error, Code: r.Code}}
		}
		if want, _ = json.Marshal(old); string(r.AppendJSON(nil)) != string(want) {
			t.Fatalf("BatchResult %+v:\n got %s\nwant %s", r, r.AppendJSON(nil), want)
		}
		rs := []BatchResult{r, {ScheduleReply: ScheduleReply{ID: "b", Revision: 1}}}
		if want, _ = json.Marshal(rs); string(AppendBatchResults(nil, rs)) != string(want) {
			t.Fatalf("batch:\n got %s\nwant %s", AppendBatchResults(nil, rs), want)
		}
	}
	for _, rs := range [][]BatchResult{nil, {}} {
		want, _ := json.Marshal(rs)
		if got := AppendBatchResults(nil, rs); string(got) != string(want) {
			t.Fatalf("%#v: got %s, want %s", rs, got, want)
		}
	}
}
