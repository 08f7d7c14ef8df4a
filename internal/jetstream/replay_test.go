package jetstream

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/store/storetest"
)

// writeAsync writes n one-put records to the shards of fences in turn,
// without waiting between them, and returns them in stream order.
func writeAsync(t *testing.T, st store.Store, fences []store.Fence, n int) []storetest.Written {
	t.Helper()
	out := make([]storetest.Written, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for i := range n {
		f := fences[i%len(fences)]
		id := fmt.Sprintf("t%05d-%s", i, strings.Repeat("x", 40))
		wg.Add(1)
		err := st.Write(f, storetest.Ops(id), func(seq uint64, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && failed == nil {
				failed = err
			}
			out[i] = storetest.Written{Shard: f.Shard, Seq: seq, IDs: []string{id}}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	for i := 1; i < n; i++ {
		if out[i].Seq <= out[i-1].Seq {
			t.Fatalf("record %d stored as %d after %d: writes of one goroutine out of order", i, out[i].Seq, out[i-1].Seq)
		}
	}
	return out
}

// A record that does not decode stops a replay with ErrDamaged naming
// --skip-corrupt; with SkipCorrupt the replay loads the rest and counts it.
func TestReplayUndecodableRecord(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 2})
	fences := []store.Fence{storetest.Claim(t, st, 0, "a"), storetest.Claim(t, st, 1, "a")}
	before := writeAsync(t, st, fences, 10)
	// Garbage under shard 1's fence, through the server like any record.
	msg := nats.NewMsg("$KV.timers.t.1.garbage")
	st.fenced(msg, fences[1])
	msg.Data = []byte("not a group record")
	if _, err := e.nc.RequestMsg(msg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	after := writeAsync(t, st, fences, 10)
	all := append(before, after...)

	_, _, err := storetest.ReplayAll(t, st, []int{0, 1})
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "--skip-corrupt") {
		t.Fatalf("replay over an undecodable record: %v, want store.ErrDamaged naming --skip-corrupt", err)
	}
	got, stats, err := storetest.ReplayAll(t, st, []int{0})
	if err != nil {
		t.Fatalf("replay of the undamaged shard: %v", err)
	}
	storetest.CheckReplay(t, got, stats, only(all, 0))

	skipping := e.open(StoreConfig{SkipCorrupt: true})
	got, stats, err = storetest.ReplayAll(t, skipping, []int{0, 1})
	if err != nil || stats.Skipped != 1 {
		t.Fatalf("replay with SkipCorrupt: %+v, %v; want 1 skipped", stats, err)
	}
	stats.Skipped = 0
	storetest.CheckReplay(t, got, stats, all)
}

func only(ws []storetest.Written, shard int) []storetest.Written {
	var out []storetest.Written
	for _, w := range ws {
		if w.Shard == shard {
			out = append(out, w)
		}
	}
	return out
}

// A message a replay's consumer delivered to someone else (here a thief
// pulling from it; in life a pull that ended before its messages came)
// is a gap in the consumer's sequence: the replay resumes from the stream
// sequence after the last record it handed over, with a new consumer,
// and hands every record over exactly once, in order.
func TestReplayResumesAfterLostDelivery(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 3})
	fences := []store.Fence{storetest.Claim(t, st, 0, "a"), storetest.Claim(t, st, 1, "a"), storetest.Claim(t, st, 2, "a")}
	written := writeAsync(t, st, fences, 6000) // more than one fetch (4096)

	created := make(chan string, 64)
	adv, err := e.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.KV_timers.*", func(m *nats.Msg) {
		created <- m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = adv.Unsubscribe() }()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	stolen := make(chan error, 1)
	var got []storetest.Got
	stats, err := st.Replay(e.ctx(), []int{0, 1, 2}, func(shard int, seq uint64, ops []record.Op) error {
		if len(got) == 100 {
			// The first fetch is being handed over: take the first message
			// its consumer has not delivered yet.
			go func() { stolen <- steal(e.nc, <-created) }()
			select {
			case err := <-stolen:
				if err != nil {
					return err
				}
			case <-time.After(storetest.Timeout):
				return errors.New("the thief got nothing")
			}
		}
		got = append(got, storetest.Got{Shard: shard, Seq: seq, Ops: ops})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckReplay(t, got, stats, written)
	select {
	case <-created: // the replay's second consumer: it did resume
	case <-time.After(5 * time.Second):
		t.Fatal("the replay created one consumer only: the stolen message did not make it resume")
	}
}

// steal pulls one message from consumer of KV_timers, as another client could.
func steal(nc *nats.Conn, consumer string) error {
	m, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.KV_timers."+consumer, []byte(`{"batch":1,"no_wait":true}`), 5*time.Second)
	if err != nil {
		return fmt.Errorf("steal from %s: %w", consumer, err)
	}
	if len(m.Data) == 0 || !strings.HasPrefix(m.Reply, "$JS.ACK.") {
		return fmt.Errorf("steal from %s: got no message (%v)", consumer, m.Header)
	}
	return nil
}
