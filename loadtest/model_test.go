package main

import (
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

func newTestModel() *Model { return NewModel(time.Unix(0, 0), time.Second) }

func TestVerdictOneShots(t *testing.T) {
	m := newTestModel()
	// a: fires on time. b: never fires (lost). c: fires twice (duplicate).
	// d: fires early. e: fires 2s late.
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		m.Confirmed(id, kindAt, []int64{int64(10+i) * sec}, nil, sec, "create")
	}
	m.Fire("a", 10*sec, MsgID("a", 10*sec), 10*sec+1)
	m.Fire("c", 12*sec, MsgID("c", 12*sec), 12*sec)
	m.Fire("c", 12*sec, MsgID("c", 12*sec), 12*sec+5)
	m.Fire("d", 13*sec, MsgID("d", 13*sec), 13*sec-1)
	m.Fire("e", 14*sec, "wrong-id", 16*sec)
	v := m.Verdict()
	if v.Timers != 5 || v.Expected != 5 || v.Fired != 4 || v.Lost != 1 || v.Duplicates != 1 || v.Early != 1 || v.Late != 1 || v.BadMsgID != 1 {
		t.Errorf("verdict %+v", v)
	}
	if !v.Failed(true) || !v.Failed(false) {
		t.Error("lost and early must fail")
	}
	if !strings.Contains(strings.Join(v.Examples, "\n"), "lost: b (at)") {
		t.Errorf("examples %q", v.Examples)
	}
	if v.LagMaxMs < 1999 || v.LagMaxMs > 2001 {
		t.Errorf("max lag %v ms", v.LagMaxMs)
	}
}

func TestVerdictCancels(t *testing.T) {
	m := newTestModel()
	m.Confirmed("late-cancel", kindAt, []int64{10 * sec}, nil, sec, "create")
	m.Confirmed("early-cancel", kindAt, []int64{10 * sec}, nil, sec, "create")
	m.Confirmed("broken", kindAt, []int64{10 * sec}, nil, sec, "create")
	m.Cancelled("late-cancel", 11*sec, "") // after its due: it may fire
	m.Cancelled("early-cancel", 5*sec, "") // before: it must not, and does not
	m.Cancelled("broken", 5*sec, "")       // before, but it fires: a violation
	m.Fire("late-cancel", 10*sec, MsgID("late-cancel", 10*sec), 10*sec)
	m.Fire("broken", 10*sec, MsgID("broken", 10*sec), 10*sec)
	v := m.Verdict()
	if v.Lost != 0 || v.AfterCancel != 1 || v.Optional != 1 || v.Expected != 0 {
		t.Errorf("verdict %+v", v)
	}
	if m.Pending() != 0 {
		t.Errorf("pending %d after every timer ended", m.Pending())
	}
}

func TestVerdictReplace(t *testing.T) {
	m := newTestModel()
	m.Confirmed("r", kindRepeat, []int64{10 * sec, 11 * sec, 12 * sec}, nil, sec, "create")
	m.Fire("r", 10*sec, MsgID("r", 10*sec), 10*sec)
	// Replaced at 10.5s by a spec whose occurrences include 12s again.
	m.Confirmed("r", kindRepeat, []int64{12 * sec, 13 * sec}, nil, 10*sec+sec/2, "replace")
	m.Fire("r", 12*sec, MsgID("r", 12*sec), 12*sec)
	m.Fire("r", 13*sec, MsgID("r", 13*sec), 13*sec)
	v := m.Verdict()
	// 11s was cut and did not fire; 12s is live again; 10s fired before the cut.
	if v.AfterCancel != 0 || v.Lost != 0 || v.Expected != 2 || v.Optional != 1 || v.Unexpected != 0 {
		t.Errorf("verdict %+v", v)
	}
}

func TestVerdictUncertainAndUnexpected(t *testing.T) {
	m := newTestModel()
	m.Uncertain("maybe")
	m.Fire("maybe", 5*sec, MsgID("maybe", 5*sec), 5*sec) // an unconfirmed create may fire
	m.Confirmed("known", kindIn, []int64{5 * sec}, []int64{4 * sec}, sec, "create")
	m.Fire("known", 5*sec, MsgID("known", 5*sec), 5*sec)
	m.Fire("known", 4*sec, MsgID("known", 4*sec), 4*sec) // a "may"
	m.Fire("known", 7*sec, MsgID("known", 7*sec), 7*sec) // nobody asked for this one
	m.Fire("", 0, "", 1)
	v := m.Verdict()
	if v.Unexpected != 1 || v.Unconfirmed != 1 || v.Optional != 1 || v.Lost != 0 || v.Foreign != 1 {
		t.Errorf("verdict %+v", v)
	}
	if !v.Failed(false) {
		t.Error("an unexpected fire must fail")
	}
}

func TestPendingTracksFiresBeforeConfirmation(t *testing.T) {
	m := newTestModel()
	m.Fire("x", 3*sec, MsgID("x", 3*sec), 3*sec) // the fire beats the reply
	m.Confirmed("x", kindIn, []int64{3 * sec}, nil, 2*sec, "create")
	m.Confirmed("y", kindIn, []int64{4 * sec}, nil, 2*sec, "create")
	if p := m.Pending(); p != 1 {
		t.Errorf("pending %d, want 1", p)
	}
	if last := m.LastDue(); last != 4*sec {
		t.Errorf("last due %d", last)
	}
	m.ResetFires()
	if p := m.Pending(); p != 2 {
		t.Errorf("pending after reset %d, want 2", p)
	}
	m.Uncertain("y")
	if p := m.Pending(); p != 1 {
		t.Errorf("pending after uncertain %d, want 1", p)
	}
	v := m.Verdict()
	if v.Optional != 1 || v.Expected != 1 {
		t.Errorf("verdict %+v", v)
	}
}

func TestVerdictPastDue(t *testing.T) {
	m := newTestModel()
	// Confirmed at 12s for a nominal 10s (the request was held up): it fires
	// at once, 2.5s "late", which is not timerd's lag.
	m.Confirmed("held", kindAt, []int64{10 * sec}, nil, 12*sec, "create")
	m.Fire("held", 10*sec, MsgID("held", 10*sec), 12*sec+sec/2)
	m.Confirmed("ok", kindAt, []int64{20 * sec}, nil, 12*sec, "create")
	m.Fire("ok", 20*sec, MsgID("ok", 20*sec), 20*sec+3e6)
	v := m.Verdict()
	if v.PastDue != 1 || v.Late != 0 || v.LagMaxMs < 2.99 || v.LagMaxMs > 3.01 {
		t.Errorf("verdict %+v", v)
	}
}

// LagDue takes the fires due within the windows, first copy each, and
// leaves out those confirmed only after their due time.
func TestLagDue(t *testing.T) {
	m := newTestModel()
	m.Confirmed("before", kindAt, []int64{5 * sec}, nil, sec, "create")
	m.Confirmed("in-a", kindAt, []int64{10 * sec}, nil, sec, "create")
	m.Confirmed("in-b", kindAt, []int64{20 * sec}, nil, sec, "create")
	m.Confirmed("past-due", kindAt, []int64{11 * sec}, nil, 13*sec, "create")
	m.Fire("before", 5*sec, MsgID("before", 5*sec), 9*sec)
	m.Fire("in-a", 10*sec, MsgID("in-a", 10*sec), 10*sec+2e6)
	m.Fire("in-a", 10*sec, MsgID("in-a", 10*sec), 10*sec+9e9) // a copy: not its lag
	m.Fire("in-b", 20*sec, MsgID("in-b", 20*sec), 24*sec)
	m.Fire("past-due", 11*sec, MsgID("past-due", 11*sec), 13*sec)
	a, b := Window{From: 9 * sec, To: 12 * sec}, Window{From: 19 * sec, To: 21 * sec}
	if got := m.LagDue(a); got.Fires != 1 || got.MaxMs < 1.9 || got.MaxMs > 2.1 {
		t.Errorf("window a: %+v, want in-a alone, 2 ms", got)
	}
	if got := m.LagDue(a, b); got.Fires != 2 || got.MaxMs < 3999 || got.MaxMs > 4001 {
		t.Errorf("windows a and b: %+v, want in-a and in-b, max 4 s", got)
	}
	if got := m.LagDue(); got.Fires != 0 {
		t.Errorf("no window: %+v", got)
	}
}
