package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// Run it for longer with, for example:
//
//	go test ./internal/service -run '^$' -fuzz '^FuzzBatchDecode$' -fuzztime 5m
//
// Without -fuzz, go test runs the seeds below as unit tests.

// batchSeeds are bodies where a hand-written decoder could part ways with
// encoding/json.
var batchSeeds = []string{
	`[{"id":"a","subject":"demo.x","in":"5s","data":"hi"}]`,
	` [ {"id":"a"} , null ,{}] trailing garbage {`,
	`[{"ID":"a","Subject":"x","ſubject":"y","TIME_ZONE":"UTC","max_FIRES":3,"Data_B64":"aGk="}]`,
	`[{"\u0069d":"\ud83d\ude00 \ud83d \ude00 \ud83dx \u00e9\n\t\"\\\/\b\f\r","at":"\uDBFF\uDFFF"}]`,
	"[{\"id\":\"\xff\xe2\x82 \xed\xa0\x80 \xef\xbf\xbd é\"}]",
	`[{"id":"a","id":null,"replace":true,"replace":null,"max_fires":5,"max_fires":null,"data":"x","data":null}]`,
	`[{"headers":{"a":"1","b":null,"a":"2"},"headers":{"c":"3"}},{"headers":{"a":"1"},"headers":null,"headers":{}}]`,
	`[{"max_fires":-0},{"max_fires":9223372036854775807},{"max_fires":-9223372036854775808}]`,
	`[{"max_fires":9223372036854775808}]`, `[{"max_fires":1.0}]`, `[{"max_fires":1e2}]`, `[{"max_fires":01}]`,
	`[{"max_fires":"1"}]`, `[{"id":1}]`, `[{"replace":"true"}]`, `[{"headers":{"a":1}}]`, `[{"headers":[]}]`,
	`[{"subjekt":"a"}]`, `[{"id":"a",}]`, `[{"id":"a"},]`, `[{"id" "a"}]`, `[{"id":"\x"}]`, `[{"id":"\u12"}]`,
	"[{\"id\":\"a\tb\"}]", `[{"id":"a"}`, `[`, `[]`, `[[]]`, `["a"]`, `[nul]`, `[{"replace":tru}]`, "\v[]", "[\u00a0]",
	`[]xyz`, `[] []`, "[{}] \r\n\t", "[]\x00", `[{"id":"a"}]]`,
}

func FuzzBatchDecode(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !looksLikeArray(body) {
			return // refused before decoding
		}
		r := batchReader{data: body}
		got, ok := r.read(1000)
		// The reference: encoding/json's decoder for the array, and
		// json.Valid (one value, white space around it) for what follows.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var std []api.BatchItem
		err := dec.Decode(&std)
		if err == nil && !json.Valid(body) {
			err = errors.New("data after the array")
		}
		if ok != (err == nil) {
			t.Fatalf("batchReader accepts: %v; encoding/json: %v", ok, err)
		}
		if _, derr := decodeBatch(body, 1000); (derr == nil) != (err == nil) {
			t.Fatalf("decodeBatch: %v; encoding/json: %v", derr, err)
		}
		if !ok {
			return
		}
		want := make([]batchItem, len(std))
		for i := range std {
			want[i] = itemFromAPI(&std[i])
		}
		if len(got) != len(want) {
			t.Fatalf("%d elements, encoding/json has %d", len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("element %d:\n%#v\nencoding/json:\n%#v", i, got[i], want[i])
			}
		}
	})
}

// The cases the seeds are there for, spelled out.
func TestBatchReader(t *testing.T) {
	five := int64(5)
	for _, c := range []struct {
		body string
		want []batchItem
	}{
		{`[]`, []batchItem{}},
		{" [null, {\"id\":\"a\"}] \r\n\t", []batchItem{{}, {id: "a"}}},
		{`[{"ID":"a","ſubject":"s","Time_Zone":"UTC","MAX_FIRES":5,"Data_B64":"aGk="}]`,
			[]batchItem{{id: "a", subject: "s", zone: "UTC", maxFires: five, hasMaxFires: true, dataB64: []byte("aGk="), hasDataB64: true}}},
		{`[{"id":"a","id":null,"in":"1s","in":"2s","replace":true,"replace":null,"data":"x","data":null,"max_fires":5,"max_fires":null}]`,
			[]batchItem{{id: "a", in: "2s", replace: true}}},
		{`[{"data":""}]`, []batchItem{{data: []byte{}, hasData: true}}},
		{`[{"headers":{"b":"1","a":null,"b":"2"},"headers":{"c":"3"}}]`,
			[]batchItem{{headers: []record.Header{{Key: "a"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}}}}},
		{`[{"headers":{"a":"1"},"headers":null,"headers":{"b":"2"}}]`, []batchItem{{headers: []record.Header{{Key: "b", Value: "2"}}}}},
		{"[{\"id\":\"\\ud83d\\ude00|\\ud83d|\\ude00|\\u00e9|\xff|\xe2\x82|\\/\"}]", []batchItem{{id: "😀|\uFFFD|\uFFFD|é|\uFFFD|\uFFFD\uFFFD|/"}}},
	} {
		r := batchReader{data: []byte(c.body)}
		got, ok := r.read(10)
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %#v, %v; want %#v", c.body, got, ok, c.want)
		}
	}
	for _, body := range []string{`[{"subjekt":"a"}]`, `[{"max_fires":1.0}]`, `[{"max_fires":9223372036854775808}]`,
		`[{"max_fires":01}]`, `[{"id":1}]`, `[{"headers":{"a":1}}]`, `[{"id":"a"},]`, `[{"id":"a"}`, "[{\"id\":\"a\tb\"}]",
		`[{"id":"\'"}]`, `[["a"]]`, "\v[]", `[] ]{`, `[]x`, `[] []`, "[]\v", "[]\u00a0"} {
		r := batchReader{data: []byte(body)}
		if got, ok := r.read(10); ok {
			t.Errorf("%s: accepted as %#v", body, got)
		}
	}
}

// Elements repeating a value share its string.
func TestBatchReaderSharesRepeatedStrings(t *testing.T) {
	r := batchReader{data: []byte(`[{"id":"a","subject":"demo.x"},{"id":"b","subject":"demo.x"}]`)}
	items, ok := r.read(10)
	if !ok || len(items) != 2 || items[1].subject != "demo.x" {
		t.Fatalf("%#v, %v", items, ok)
	}
	if unsafe.StringData(items[0].subject) != unsafe.StringData(items[1].subject) {
		t.Error("the second subject is a copy of the first")
	}
}

// A body batchReader refuses gets encoding/json's own error.
func TestDecodeBatchErrors(t *testing.T) {
	for _, body := range []string{`[{"id":"x","subjekt":"a"}]`, `[{"id": "x",`, `[{"max_fires":1.5}]`, `[{"subjekt":"a"}] x`} {
		_, err := decodeBatch([]byte(body), 10)
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		var std []api.BatchItem
		want := dec.Decode(&std)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%s: %v; encoding/json: %v", body, err, want)
		}
	}
}

// Anything but white space after the array is refused, naming where it
// starts; white space is fine. Both paths of decodeBatch agree.
func TestDecodeBatchTrailingData(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`[{"id":"a"}]xyz`, `3 bytes after the array, from offset 12 ("xyz")`},
		{`[{"id":"a"}] [{"id":"b"}]`, `13 bytes after the array, from offset 12 (" [{\"id\":\"b\"}]")`},
		{`[{"subjekt":"a"}]`, `unknown field "subjekt"`}, // encoding/json's error comes first
		{"[{\"id\":\"a\"}]\n\x00", `2 bytes after the array, from offset 12 ("\n\x00")`},
	} {
		if _, err := decodeBatch([]byte(c.body), 10); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %s", c.body, err, c.want)
		}
	}
	for _, body := range []string{"[{\"id\":\"a\"}] \r\n\t", "[{\"ID\":\"a\"}] \r\n\t"} {
		if items, err := decodeBatch([]byte(body), 10); err != nil || len(items) != 1 || items[0].id != "a" {
			t.Errorf("%q: %v, %v", body, items, err)
		}
	}
}
