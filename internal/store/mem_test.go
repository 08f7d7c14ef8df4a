package store_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Mem passes the script the JetStream store passes, so that the node's
// tests on Mem hold for the node on NATS.
func TestMemConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, shards int) store.Store {
		m := store.NewMem(shards)
		t.Cleanup(m.Close)
		return m
	})
}

// Fail makes the next writes fail through their callbacks, in order, and
// the writes after them succeed; a failed write stores nothing.
func TestMemFail(t *testing.T) {
	m := store.NewMem(1)
	defer m.Close()
	f := storetest.Claim(t, m, 0, "a")
	boom := errors.New("boom")
	m.Fail(2, boom)
	for _, id := range []string{"x", "y"} {
		if _, err := storetest.WriteWait(t, m, f, storetest.Ops(id)); !errors.Is(err, boom) {
			t.Fatalf("write %s: %v, want %v", id, err, boom)
		}
	}
	seq, err := storetest.WriteWait(t, m, f, storetest.Ops("z"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := storetest.ReplayAll(t, m, []int{0})
	if err != nil || len(got) != 1 || got[0].Seq != seq || m.RecordCount() != 1 {
		t.Fatalf("replay after failed writes: %v, %v (%d records held)", got, err, m.RecordCount())
	}
}
