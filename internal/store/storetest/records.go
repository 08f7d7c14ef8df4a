package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/store"
)

// writeMany writes per records to each of shards, interleaved (shard 0's
// first, shard 1's first, ..., shard 0's second, ...), one at a time, and
// returns them in the order they were stored.
func writeMany(t *testing.T, st store.Store, fences []store.Fence, per int) []Written {
	t.Helper()
	var out []Written
	for k := range per {
		for _, f := range fences {
			ids := []string{fmt.Sprintf("s%d-r%d-a", f.Shard, k), fmt.Sprintf("s%d-r%d-b", f.Shard, k)}
			seq, err := WriteWait(t, st, f, Ops(ids...))
			if err != nil {
				t.Fatalf("write shard %d record %d: %v", f.Shard, k, err)
			}
			if n := len(out); n > 0 && seq <= out[n-1].Seq {
				t.Fatalf("write shard %d record %d stored as %d, after %d", f.Shard, k, seq, out[n-1].Seq)
			}
			out = append(out, Written{f.Shard, seq, ids})
		}
	}
	return out
}

func claimAll(t *testing.T, st store.Store) []store.Fence {
	fences := make([]store.Fence, st.Shards())
	for s := range fences {
		fences[s] = Claim(t, st, s, "a")
	}
	return fences
}

func only(ws []Written, shards ...int) []Written {
	var out []Written
	for _, w := range ws {
		if slices.Contains(shards, w.Shard) {
			out = append(out, w)
		}
	}
	return out
}

// Records written under their lease come back from a replay in stream
// order, with their sequences, and one by one from ReadRecord.
func testWriteReplay(t *testing.T, open Open) {
	st := open(t, 4)
	defer st.Close()
	if st.Shards() != 4 || st.Bucket() == "" {
		t.Fatalf("Shards %d Bucket %q, want 4 and a name", st.Shards(), st.Bucket())
	}
	written := writeMany(t, st, claimAll(t, st), 5)
	got, stats, err := ReplayAll(t, st, []int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	CheckReplay(t, got, stats, written)
	for _, w := range written {
		ops, err := st.ReadRecord(ctxOf(t), w.Seq)
		if err != nil || !SameOps(ops, Ops(w.IDs...)) {
			t.Fatalf("ReadRecord(%d): %s, %v; want %v", w.Seq, describe(ops), err, w.IDs)
		}
	}
	_, err = st.ReadRecord(ctxOf(t), written[len(written)-1].Seq+1000)
	wantErr(t, "ReadRecord of a sequence never written", err, store.ErrNotFound)
	in, err := st.Info(ctxOf(t))
	if err != nil || in.LastSeq < written[len(written)-1].Seq || in.Records < uint64(len(written)) {
		t.Fatalf("Info %+v, %v: want LastSeq >= %d and at least %d records", in, err, written[len(written)-1].Seq, len(written))
	}
}

// A replay of some shards hands over theirs only, still in stream order;
// a replay of none hands over nothing.
func testReplayFilters(t *testing.T, open Open) {
	st := open(t, 6)
	defer st.Close()
	written := writeMany(t, st, claimAll(t, st), 3)
	for _, shards := range [][]int{{1}, {0, 5}, {4, 2}, {0, 1, 2, 3, 4}, nil} {
		got, stats, err := ReplayAll(t, st, shards)
		if err != nil {
			t.Fatalf("replay %v: %v", shards, err)
		}
		CheckReplay(t, got, stats, only(written, shards...))
	}
}

// A write whose fence is not the lease's current revision is refused: a
// record or mark of a deposed owner is never stored.
func testFenced(t *testing.T, open Open) {
	st := open(t, 2)
	defer st.Close()
	old := Claim(t, st, 0, "a")
	if _, err := WriteWait(t, st, old, Ops("before")); err != nil {
		t.Fatalf("write under the current lease: %v", err)
	}
	rev, err := st.UpdateLease(ctxOf(t), 0, store.Lease{Node: "b", Instance: "b-1", From: "a"}, old.Rev)
	if err != nil {
		t.Fatal(err)
	}
	_, err = WriteWait(t, st, old, Ops("deposed"))
	wantErr(t, "write under the replaced lease", err, store.ErrFenced)
	wantErr(t, "mark under the replaced lease", MarkWait(t, st, old, store.Mark{Through: 5, Seq: 5}), store.ErrFenced)
	_, err = WriteWait(t, st, store.Fence{Shard: 1, Rev: rev}, Ops("other-shard"))
	wantErr(t, "write to a shard without a lease, under another's revision", err, store.ErrFenced)

	cur := store.Fence{Shard: 0, Rev: rev}
	seq, err := WriteWait(t, st, cur, Ops("after"))
	if err != nil {
		t.Fatalf("write under the new lease: %v", err)
	}
	if err := MarkWait(t, st, cur, store.Mark{Through: 7, Seq: seq}); err != nil {
		t.Fatalf("mark under the new lease: %v", err)
	}
	if m, err := st.ReadMark(ctxOf(t), 0); err != nil || m != (store.Mark{Through: 7, Seq: seq}) {
		t.Fatalf("ReadMark %+v, %v: the refused mark must not have landed", m, err)
	}
	// The shard without a lease takes writes under revision 0, as a
	// single node's first writes before any claim would.
	if _, err := WriteWait(t, st, store.Fence{Shard: 1}, Ops("unleased")); err != nil {
		t.Fatalf("write to an unleased shard under revision 0: %v", err)
	}
	got, _, err := ReplayAll(t, st, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Ops[0].Timer.ID != "before" || got[1].Ops[0].Timer.ID != "after" {
		t.Fatalf("replay of shard 0: %v, want before and after only", got)
	}
}

// Marks round-trip; the last one written is the one read.
func testMarks(t *testing.T, open Open) {
	st := open(t, 3)
	defer st.Close()
	for s := range 3 {
		if m, err := st.ReadMark(ctxOf(t), s); err != nil || m != (store.Mark{}) {
			t.Fatalf("ReadMark(%d) of a new store: %+v, %v", s, m, err)
		}
	}
	f := Claim(t, st, 1, "a")
	for _, m := range []store.Mark{{Through: 1, Seq: 2}, {Through: -5, Seq: 1 << 40}, {Through: 1<<62 + 3, Seq: 9}} {
		if err := MarkWait(t, st, f, m); err != nil {
			t.Fatal(err)
		}
		if got, err := st.ReadMark(ctxOf(t), 1); err != nil || got != m {
			t.Fatalf("ReadMark: %+v, %v; want %+v", got, err, m)
		}
	}
	if m, err := st.ReadMark(ctxOf(t), 2); err != nil || m != (store.Mark{}) {
		t.Fatalf("ReadMark(2) after marks of shard 1: %+v, %v", m, err)
	}
}

// PurgeBelow removes that shard's records below the sequence and nothing
// else: not the shard's later records, not other shards', not its lease
// or mark.
func testPurgeBelow(t *testing.T, open Open) {
	st := open(t, 2)
	defer st.Close()
	fences := claimAll(t, st)
	written := writeMany(t, st, fences, 4)
	if err := MarkWait(t, st, fences[0], store.Mark{Through: 3, Seq: 3}); err != nil {
		t.Fatal(err)
	}
	zero := only(written, 0)
	below := zero[2].Seq // shard 0's third record survives, with the fourth
	if err := st.PurgeBelow(ctxOf(t), 0, below); err != nil {
		t.Fatal(err)
	}
	var keep []Written
	for _, w := range written {
		_, err := st.ReadRecord(ctxOf(t), w.Seq)
		if w.Shard == 0 && w.Seq < below {
			wantErr(t, fmt.Sprintf("ReadRecord(%d) of a purged record", w.Seq), err, store.ErrNotFound)
			continue
		}
		if err != nil {
			t.Fatalf("ReadRecord(%d) of shard %d, purge below %d of shard 0: %v", w.Seq, w.Shard, below, err)
		}
		keep = append(keep, w)
	}
	got, stats, err := ReplayAll(t, st, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	CheckReplay(t, got, stats, keep)
	if m, err := st.ReadMark(ctxOf(t), 0); err != nil || m.Seq != 3 {
		t.Fatalf("the mark after a purge: %+v, %v", m, err)
	}
	if ls, revs, err := st.Leases(ctxOf(t)); err != nil || revs[0] != fences[0].Rev || ls[0].Node != "a" {
		t.Fatalf("the lease after a purge: %+v %v, %v", ls, revs, err)
	}
	// Purging again, or below the first record, changes nothing.
	if err := st.PurgeBelow(ctxOf(t), 0, below); err != nil {
		t.Fatal(err)
	}
	if err := st.PurgeBelow(ctxOf(t), 1, 1); err != nil {
		t.Fatal(err)
	}
	got, stats, err = ReplayAll(t, st, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	CheckReplay(t, got, stats, keep)
}

// Many writers on many shards at once, each holding its own lock while it
// calls Write, with callbacks that take that lock: every write is called
// back exactly once, never on the writer's goroutine, and nothing
// deadlocks (the node's drivers depend on it).
func testCallbacksOffCaller(t *testing.T, open Open) {
	// 640 writes and marks at once: within what the JetStream store lets
	// await their acks (see testLockAroundWritesBeyondInFlight for beyond).
	const shards, writers, each = 8, 8, 40
	st := open(t, shards)
	defer st.Close()
	fences := claimAll(t, st)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // guards calls and bad
		calls   = make(map[int]int)
		seqs    = make(map[uint64]int)
		bad     []string
		pending sync.WaitGroup
	)
	pending.Add(writers * each * 2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own sync.Mutex // the writer's lock, as a driver's
			for k := range each {
				key := w*each + k
				f := fences[(w+k)%shards]
				me := Goid()
				own.Lock()
				err := st.Write(f, Ops(fmt.Sprintf("w%d-%d", w, k)), func(seq uint64, err error) {
					defer pending.Done()
					if Goid() == me {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("write %d called back on its caller's goroutine", key))
						mu.Unlock()
						return // taking own here would deadlock
					}
					own.Lock()
					own.Unlock()
					mu.Lock()
					calls[key]++
					if err != nil {
						bad = append(bad, fmt.Sprintf("write %d: %v", key, err))
					} else if prev, dup := seqs[seq]; dup {
						bad = append(bad, fmt.Sprintf("writes %d and %d both stored as %d", prev, key, seq))
					} else {
						seqs[seq] = key
					}
					mu.Unlock()
				})
				if err != nil {
					pending.Done() // neither the write's nor the mark's callback comes
					pending.Done()
				} else {
					err = st.WriteMark(f, store.Mark{Through: int64(k), Seq: uint64(k)}, func(err error) {
						defer pending.Done()
						if Goid() == me {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("mark %d called back on its caller's goroutine", key))
							mu.Unlock()
							return
						}
						own.Lock()
						own.Unlock()
						if err != nil {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("mark %d: %v", key, err))
							mu.Unlock()
						}
					})
					if err != nil {
						pending.Done()
					}
				}
				own.Unlock()
				if err != nil {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("write %d not started: %v", key, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(Timeout):
		t.Fatalf("%d writes and marks not all called back in %v (a callback waiting for its writer?)\n%s", writers*each*2, Timeout, Stacks())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d problems, first: %s", len(bad), bad[0])
	}
	for key := range writers * each {
		if calls[key] != 1 {
			t.Fatalf("write %d called back %d times", key, calls[key])
		}
	}
}

// After Close, writes fail with ErrClosed (at once or through their
// callback, exactly once) and Close again is harmless.
func testClosed(t *testing.T, open Open) {
	st := open(t, 1)
	f := Claim(t, st, 0, "a")
	if _, err := WriteWait(t, st, f, Ops("before")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err := WriteWait(t, st, f, Ops("after"))
	wantErr(t, "write after Close", err, store.ErrClosed)
	wantErr(t, "mark after Close", MarkWait(t, st, f, store.Mark{Through: 1, Seq: 1}), store.ErrClosed)
	st.Close()
}

// Many more writes than a store keeps in flight, from a writer that takes
// a lock around each Write (never across it: Write may wait for room) that
// every callback takes too, as the node's shard driver does: all complete.
func testLockAroundWritesBeyondInFlight(t *testing.T, open Open) {
	const writes = 70_000
	st := open(t, 1)
	defer st.Close()
	f := Claim(t, st, 0, "a")
	var (
		own      sync.Mutex
		called   atomic.Int64
		finished = make(chan struct{})
	)
	ops := Ops("x")
	go func() {
		defer close(finished)
		for range writes {
			own.Lock()
			own.Unlock()
			if err := st.Write(f, ops, func(uint64, error) { own.Lock(); own.Unlock(); called.Add(1) }); err != nil {
				called.Add(1)
			}
		}
	}()
	select {
	case <-finished:
	case <-time.After(Timeout):
		t.Fatalf("a writer was stuck in Write after %v (%d of %d called back)", Timeout, called.Load(), writes)
	}
	Eventually(t, Timeout, func() error {
		if n := called.Load(); n != writes {
			return fmt.Errorf("%d of %d writes called back", n, writes)
		}
		return nil
	})
}

// DeleteRecords removes just the records named: not the records around
// them, not other shards', not the lease; a record gone already is no
// error.
func testDeleteRecords(t *testing.T, open Open) {
	st := open(t, 2)
	defer st.Close()
	fences := claimAll(t, st)
	written := writeMany(t, st, fences, 4)
	zero := only(written, 0)
	gone := map[uint64]bool{zero[1].Seq: true, zero[3].Seq: true}
	if err := st.DeleteRecords(ctxOf(t), 0, []uint64{zero[1].Seq, zero[3].Seq}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRecords(ctxOf(t), 0, []uint64{zero[1].Seq}); err != nil {
		t.Fatalf("deleting a record again: %v", err)
	}
	var keep []Written
	for _, w := range written {
		_, err := st.ReadRecord(ctxOf(t), w.Seq)
		if gone[w.Seq] {
			wantErr(t, fmt.Sprintf("ReadRecord(%d) of a deleted record", w.Seq), err, store.ErrNotFound)
			continue
		}
		if err != nil {
			t.Fatalf("ReadRecord(%d) of shard %d: %v", w.Seq, w.Shard, err)
		}
		keep = append(keep, w)
	}
	got, stats, err := ReplayAll(t, st, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	CheckReplay(t, got, stats, keep)
	if ls, revs, err := st.Leases(ctxOf(t)); err != nil || revs[0] != fences[0].Rev || ls[0].Node != "a" {
		t.Fatalf("the lease after deletes: %+v %v, %v", ls, revs, err)
	}
}
