package jetstream

import (
	"encoding/json"
	"testing"
)

func TestFastAckAgreesWithJSON(t *testing.T) {
	for _, in := range []string{
		`{"stream":"KV_timerd","seq":1}`,
		`{"stream":"S","seq":18446744073709551615}`,
		`{"stream":"FIRES","seq":42,"duplicate":true}`,
		`{"stream":"S","seq":5,"domain":"hub"}`,
		`{"error":{"code":503,"err_code":10077,"description":"no stream"}}`,
		`{"stream":"S","seq":}`,
		`{"stream":"S","seq":12`,
		`{"stream":"","seq":1}`,
	} {
		var want PubAck
		jsonErr := json.Unmarshal([]byte(in), &want)
		got, ok := fastAck([]byte(in))
		if ok && (jsonErr != nil || got != want) {
			t.Errorf("fastAck(%s) = %+v, encoding/json says %+v (%v)", in, got, want, jsonErr)
		}
	}
	for _, in := range []string{`{"stream":"KV_timerd","seq":1}`, `{"stream":"FIRES","seq":42,"duplicate":true}`} {
		if _, ok := fastAck([]byte(in)); !ok {
			t.Errorf("fastAck(%s) fell back: the common shapes must take the fast path", in)
		}
	}
}

func FuzzFastAck(f *testing.F) {
	f.Add([]byte(`{"stream":"KV_timerd","seq":1}`))
	f.Add([]byte(`{"stream":"F","seq":42,"duplicate":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := fastAck(data)
		if !ok {
			return
		}
		var want PubAck
		if err := json.Unmarshal(data, &want); err != nil || got != want {
			t.Fatalf("fastAck(%q) = %+v; encoding/json: %+v, %v", data, got, want, err)
		}
	})
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		filter, subject string
		want            bool
	}{
		{"a.b", "a.b", true}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"a.>", "a.b.c", true},
		{"a.>", "a", false}, {">", "a", true}, {"*", "a.b", false}, {"a.*.c", "a.b.c", true},
		{"a.b", "a.b.c", false}, {"a.b.c", "a.b", false}, {"*.b", "a.b", true},
	} {
		if got := SubjectMatches(c.filter, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", c.filter, c.subject, got, c.want)
		}
	}
}
