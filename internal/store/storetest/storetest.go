// Package storetest is the conformance script of store.Store: one set of
// behaviours every implementation must show, run by the tests of each
// (store.Mem in internal/store, the JetStream store in internal/jetstream)
// so that the node's tests on Mem say something about the node on NATS.
// Only tests import it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Open makes a new, empty store with the given shard count; the test's
// cleanup closes whatever it started (Run closes the store itself too,
// which must be harmless).
type Open func(t *testing.T, shards int) store.Store

// Run runs the whole script against open, one subtest per behaviour,
// but for the subtests named in skip.
func Run(t *testing.T, open Open, skip ...string) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"WriteReplay", testWriteReplay},
		{"ReplayFilters", testReplayFilters},
		{"Fenced", testFenced},
		{"Marks", testMarks},
		{"PurgeBelow", testPurgeBelow},
		{"DeleteRecords", testDeleteRecords},
		{"LeaseCAS", testLeaseCAS},
		{"Members", testMembers},
		{"Watch", testWatch},
		{"CallbacksOffCaller", testCallbacksOffCaller},
		{"Closed", testClosed},
		{"LockAroundWritesBeyondInFlight", testLockAroundWritesBeyondInFlight},
	} {
		if slices.Contains(skip, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// Timeout bounds every wait of the script: a store that never answers
// fails the test instead of hanging it.
const Timeout = 20 * time.Second

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Ops is a group record of puts of the given ids, for writing and for
// comparing what comes back.
func Ops(ids ...string) []record.Op {
	ops := make([]record.Op, len(ids))
	for i, id := range ids {
		ops[i] = record.Op{Kind: record.OpPut, Timer: &record.Timer{ID: id, Subject: "s." + id, Kind: record.KindAt,
			Spec: "2030-01-01T00:00:00Z", Due: int64(i + 1), Created: 1, ReqHash: uint64(i), Payload: []byte(id)}}
	}
	return ops
}

// SameOps compares records by their encoding: what a replay hands back
// must decode to what was written.
func SameOps(a, b []record.Op) bool {
	return bytes.Equal(record.AppendOps(nil, a), record.AppendOps(nil, b))
}

// Claim takes shard's free lease for node and returns the fence to write under.
func Claim(t *testing.T, st store.Store, shard int, node string) store.Fence {
	t.Helper()
	rev, err := st.UpdateLease(ctxOf(t), shard, store.Lease{Node: node, Instance: node + "-1"}, 0)
	if err != nil {
		t.Fatalf("claim shard %d: %v", shard, err)
	}
	if rev == 0 {
		t.Fatalf("claim shard %d: revision 0", shard)
	}
	return store.Fence{Shard: shard, Rev: rev}
}

// outcome is what a callback reported, and on which goroutine.
type outcome struct {
	seq  uint64
	err  error
	goid uint64
}

// WriteWait writes ops under f and waits for the outcome. An error Write
// returns at once is answered as the outcome (the callback must not run
// then, and the script checks it does not).
func WriteWait(t *testing.T, st store.Store, f store.Fence, ops []record.Op) (uint64, error) {
	t.Helper()
	ch := make(chan outcome, 2)
	if err := st.Write(f, ops, func(seq uint64, err error) { ch <- outcome{seq, err, Goid()} }); err != nil {
		select {
		case o := <-ch:
			t.Fatalf("Write returned %v and also called back with %v", err, o.err)
		default:
		}
		return 0, err
	}
	o := waitOutcome(t, ch, "write")
	if o.goid == Goid() {
		t.Fatal("the write's callback ran on the caller's goroutine")
	}
	return o.seq, o.err
}

// MarkWait writes m under f and waits for the outcome, as WriteWait.
func MarkWait(t *testing.T, st store.Store, f store.Fence, m store.Mark) error {
	t.Helper()
	ch := make(chan outcome, 2)
	if err := st.WriteMark(f, m, func(err error) { ch <- outcome{err: err, goid: Goid()} }); err != nil {
		return err
	}
	o := waitOutcome(t, ch, "mark")
	if o.goid == Goid() {
		t.Fatal("the mark's callback ran on the caller's goroutine")
	}
	return o.err
}

func waitOutcome(t *testing.T, ch chan outcome, what string) outcome {
	t.Helper()
	select {
	case o := <-ch:
		select {
		case again := <-ch:
			t.Fatalf("%s: called back twice (%v, then %v)", what, o.err, again.err)
		case <-time.After(20 * time.Millisecond):
		}
		return o
	case <-time.After(Timeout):
		t.Fatalf("%s: no outcome in %v", what, Timeout)
		return outcome{}
	}
}

// Goid is the current goroutine's id, read from its stack header
// ("goroutine 42 [running]:"): the way to tell whether a callback runs on
// its caller's goroutine, which the store promises it never does.
func Goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(strings.TrimPrefix(string(buf[:n]), "goroutine "))
	id, _ := strconv.ParseUint(f[0], 10, 64)
	return id
}

// Stacks is every goroutine's stack, for a test that fails because
// something hangs.
func Stacks() string {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return b.String()
}

// Got is one record a replay handed over.
type Got struct {
	Shard int
	Seq   uint64
	Ops   []record.Op
}

// ReplayAll replays shards and returns what it handed over, in order.
func ReplayAll(t *testing.T, st store.Store, shards []int) ([]Got, store.ReplayStats, error) {
	t.Helper()
	var got []Got
	stats, err := st.Replay(ctxOf(t), shards, func(shard int, seq uint64, ops []record.Op) error {
		got = append(got, Got{shard, seq, ops})
		return nil
	})
	return got, stats, err
}

// Written is a record the script wrote and expects back.
type Written struct {
	Shard int
	Seq   uint64
	IDs   []string
}

// CheckReplay fails unless got is exactly want (in want's order, which is
// stream order) and stats counts it.
func CheckReplay(t *testing.T, got []Got, stats store.ReplayStats, want []Written) {
	t.Helper()
	if len(got) != len(want) || stats.Records != uint64(len(want)) {
		t.Fatalf("replay handed %d records (stats %+v), want %d", len(got), stats, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Shard != w.Shard || g.Seq != w.Seq || !SameOps(g.Ops, Ops(w.IDs...)) {
			t.Fatalf("replay record %d: shard %d seq %d ops %s, want shard %d seq %d ids %v",
				i, g.Shard, g.Seq, describe(g.Ops), w.Shard, w.Seq, w.IDs)
		}
	}
}

func describe(ops []record.Op) string {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.Timer.ID
	}
	return fmt.Sprint(ids)
}

// Eventually polls fn every 5ms until it returns nil or total passes.
func Eventually(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BugTest skips the rest of a test that shows a known bug (so the branch
// stays green) unless TIMERD_BUG_TESTS is set, which runs it to fail.
func BugTest(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("TIMERD_BUG_TESTS") == "" {
		t.Skip("BUG: " + why)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}
