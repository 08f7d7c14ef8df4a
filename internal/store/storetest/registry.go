package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/store"
)

// UpdateLease is a compare-and-set on the lease's revision: 0 creates,
// the current revision replaces, anything else is ErrLeaseChanged.
func testLeaseCAS(t *testing.T, open Open) {
	st := open(t, 3)
	defer st.Close()
	ctx := ctxOf(t)
	ls, revs, err := st.Leases(ctx)
	if err != nil || len(ls) != 3 || len(revs) != 3 {
		t.Fatalf("Leases of a new store: %v %v, %v", ls, revs, err)
	}
	for s := range 3 {
		if revs[s] != 0 || ls[s] != (store.Lease{}) {
			t.Fatalf("a new store holds lease %d: %+v at %d", s, ls[s], revs[s])
		}
	}
	a := store.Lease{Node: "a", Instance: "a-1"}
	r1, err := st.UpdateLease(ctx, 1, a, 0)
	if err != nil || r1 == 0 {
		t.Fatalf("create: %d, %v", r1, err)
	}
	_, err = st.UpdateLease(ctx, 1, store.Lease{Node: "b"}, 0)
	wantErr(t, "create over an existing lease", err, store.ErrLeaseChanged)
	_, err = st.UpdateLease(ctx, 1, store.Lease{Node: "b"}, r1+100)
	wantErr(t, "update with a wrong revision", err, store.ErrLeaseChanged)
	_, err = st.UpdateLease(ctx, 2, store.Lease{Node: "b"}, r1)
	wantErr(t, "update of a missing lease with another's revision", err, store.ErrLeaseChanged)
	released := store.Lease{From: "a"}
	r2, err := st.UpdateLease(ctx, 1, released, r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("update with the current revision: %d, %v (was %d)", r2, err, r1)
	}
	_, err = st.UpdateLease(ctx, 1, a, r1)
	wantErr(t, "update with the revision before last", err, store.ErrLeaseChanged)
	ls, revs, err = st.Leases(ctx)
	if err != nil || ls[1] != released || revs[1] != r2 || revs[0] != 0 || revs[2] != 0 {
		t.Fatalf("Leases: %+v %v, %v; want shard 1 %+v at %d only", ls, revs, err, released, r2)
	}
}

// Beat registers and rewrites, Members lists by name, Leave removes.
func testMembers(t *testing.T, open Open) {
	st := open(t, 1)
	defer st.Close()
	ctx := ctxOf(t)
	if ms, err := st.Members(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("Members of a new store: %v, %v", ms, err)
	}
	b := store.Member{Node: "b", Instance: "b-1", Started: 10, Beat: 11, Version: "v", HTTP: "127.0.0.1:1"}
	a := store.Member{Node: "a", Instance: "a-1", Started: 1, Beat: 2}
	for _, m := range []store.Member{b, a} {
		if err := st.Beat(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	a.Beat, a.Leaving = 3, true
	if err := st.Beat(ctx, a); err != nil {
		t.Fatal(err)
	}
	ms, err := st.Members(ctx)
	if err != nil || len(ms) != 2 || ms[0] != a || ms[1] != b {
		t.Fatalf("Members: %+v, %v; want %+v %+v", ms, err, a, b)
	}
	if err := st.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.Leave(ctx, "never-registered"); err != nil {
		t.Fatalf("Leave of an unknown node: %v", err)
	}
	if ms, err := st.Members(ctx); err != nil || len(ms) != 1 || ms[0] != b {
		t.Fatalf("Members after a leave: %+v, %v", ms, err)
	}
}

// Watch reports the current state first, then every change in the order
// it was made (leases with the revisions UpdateLease answered, members
// rewritten and removed), and closes its channel when its context ends.
func testWatch(t *testing.T, open Open) {
	st := open(t, 2)
	defer st.Close()
	ctx := ctxOf(t)
	r0, err := st.UpdateLease(ctx, 0, store.Lease{Node: "a", Instance: "a-1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := store.Member{Node: "a", Instance: "a-1", Beat: 1}
	if err := st.Beat(ctx, a); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := st.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	// The current state, in any order.
	want := map[string]bool{fmt.Sprintf("lease 0 a %d", r0): true, "member a 1": true}
	for len(want) > 0 {
		e := next(t, events)
		if !want[eventText(e)] {
			t.Fatalf("watch began with %q, want the current state %v", eventText(e), want)
		}
		delete(want, eventText(e))
	}
	// Then the changes, in order.
	r1, err := st.UpdateLease(ctx, 1, store.Lease{Node: "b", Instance: "b-1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := store.Member{Node: "b", Instance: "b-1", Beat: 5}
	a.Beat = 2
	r0b, err := st.UpdateLease(ctx, 0, store.Lease{Node: "b", Instance: "b-1", From: "a"}, r0)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return st.Beat(ctx, b) },
		func() error { return st.Beat(ctx, a) },
		func() error { return st.Leave(ctx, "a") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{
		fmt.Sprintf("lease 1 b %d", r1), fmt.Sprintf("lease 0 b %d", r0b),
		"member b 5", "member a 2", "member a deleted",
	} {
		got := eventText(next(t, events))
		if got == "member a deleted" && w == "member a 2" {
			// The bucket keeps one value a key: a's beat, replaced by its
			// leave before the watch delivered it, may be skipped
			// (JetStream's watch is then already past it).
			break
		}
		if got != w {
			t.Fatalf("watch reported %q, want %q", got, w)
		}
	}
	cancel()
	deadline := time.After(Timeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			t.Fatalf("watch reported %q after its context ended, with nothing changed", eventText(e))
		case <-deadline:
			t.Fatalf("the watch's channel is still open %v after its context ended", Timeout)
		}
	}
}

func next(t *testing.T, events <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the watch ended early")
		}
		return e
	case <-time.After(Timeout):
		t.Fatalf("no watch event in %v", Timeout)
		return store.Event{}
	}
}

// eventText names what an event says, leaving out what implementations
// may fill in differently (a deleted member's fields).
func eventText(e store.Event) string {
	switch {
	case e.Shard >= 0 && e.Deleted:
		return fmt.Sprintf("lease %d deleted", e.Shard)
	case e.Shard >= 0:
		return fmt.Sprintf("lease %d %s %d", e.Shard, e.Lease.Node, e.Rev)
	case e.Deleted:
		return fmt.Sprintf("member %s deleted", e.Member.Node)
	}
	return fmt.Sprintf("member %s %d", e.Member.Node, e.Member.Beat)
}
