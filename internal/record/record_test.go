package record

import (
	"errors"
	"reflect"
	"testing"
)

func sampleOps() []Op {
	return []Op{
		{Kind: OpPut, Timer: &Timer{
			ID: "order-1", Subject: "orders.timeout", Kind: KindIn, Spec: "30m", Start: -5, End: 1 << 62,
			MaxFires: 3, Misfire: 2, Jitter: 1e9, Due: 1_800_000_000_000_000_000, Created: 1_700_000_000_000_000_000,
			Paused: true, Failed: "too large", Dialect: "quartz", Fires: 7, LastNominal: 42, ReqHash: 0xdeadbeefcafebabe, Revision: 1234,
			Headers: []Header{{"Content-Type", "application/json"}, {"X-Empty", ""}},
			Payload: []byte(`{"order":1}`),
		}},
		{Kind: OpDelete, Timer: &Timer{ID: "gone"}},
		{Kind: OpProgress, Timer: &Timer{ID: "cron-1", Fires: 12, LastNominal: 99}},
		{Kind: OpFailed, Timer: &Timer{ID: "big", Failed: "too large for the server"}},
		{Kind: OpPut, Timer: &Timer{ID: "empty", Subject: "a", Kind: KindCron, Spec: "@daily"}},
	}
}

func TestRoundTrip(t *testing.T) {
	ops := sampleOps()
	got, err := DecodeOps(AppendOps(nil, ops))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ops)
	}
	for _, op := range ops {
		if n := len(AppendOps(nil, []Op{op})); n > Size(op) {
			t.Errorf("Size(%s) = %d, encoded %d", op.Timer.ID, Size(op), n)
		}
	}
}

func TestTruncatedAndCorrupt(t *testing.T) {
	full := AppendOps(nil, sampleOps())
	for i := 0; i < len(full); i++ {
		if _, err := DecodeOps(full[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d bytes: err %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := DecodeOps(append(full, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err %v", err)
	}
	bad := append([]byte(nil), full...)
	bad[0] = 9
	if _, err := DecodeOps(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad version: err %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(AppendOps(nil, sampleOps()))
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := DecodeOps(data)
		if err != nil {
			return
		}
		again, err := DecodeOps(AppendOps(nil, ops))
		if err != nil || !reflect.DeepEqual(again, ops) {
			t.Fatalf("re-encode of a valid record differs: %v", err)
		}
	})
}
