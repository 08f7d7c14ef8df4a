package service

import (
	"reflect"
	"strings"
	"testing"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// The request hash is stored with every timer, and an identical retry, even
// one sent to a newer timerd, must match it: these values may never change.
func TestRequestHashIsStable(t *testing.T) {
	for _, c := range []struct {
		f    fields
		want uint64
	}{
		{fields{id: "a", subject: "demo.x", in: "5s", misfire: "ONCE", replace: "True", maxFires: "3",
			headers: []record.Header{{Key: "X-A", Value: "1"}, {Key: "X-B", Value: ""}}, payload: []byte("hi")}, 0x34de03a398d69b2a},
		{fields{id: strings.Repeat("i", 256), subject: strings.Repeat("s.", 200) + "x", cron: "0 * * * *",
			headers: []record.Header{{Key: "K", Value: strings.Repeat("v", 300)}}, payload: make([]byte, 1000)}, 0xb5fb52836c14adde},
		{fields{}, 0x92e8d4a7f7f25fa1},
	} {
		if got := c.f.hash(); got != c.want {
			t.Errorf("hash of %.60q...: %#x, want %#x", c.f.id, got, c.want)
		}
	}
}

// Errors about a batch element name its fields as the element spells them.
func TestBatchFieldNamesAreJSONNames(t *testing.T) {
	names := map[string]bool{}
	for f := range reflect.TypeFor[api.BatchItem]().Fields() {
		names[strings.Split(f.Tag.Get("json"), ",")[0]] = true
	}
	for lower := range scheduleHeaders {
		header := canonicalHeader(lower)
		if name := batchFieldName(header); !names[name] && header != api.HeaderExpectedRevision && header != api.HeaderDryRun && header != api.HeaderUpcoming {
			t.Errorf("%s is named %q, which is no field of api.BatchItem", header, name)
		}
	}
}
