package shard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

var sec = int64(time.Second)

func TestScheduleRepliesOnlyOnceStored(t *testing.T) {
	h := newHarness(t, Config{})
	h.hold = true
	tok := h.schedule(oneShot("a", t0+10*sec), false)
	h.noReply(tok)
	if len(h.held) != 1 {
		t.Fatalf("want one record written, have %d", len(h.held))
	}
	h.ackAll()
	h.run()
	r := h.reply(tok).Value.(api.ScheduleReply)
	if r.Revision != h.seq || !r.Created || r.Next != api.FormatTime(time.Unix(0, t0+10*sec)) {
		t.Fatalf("reply %+v, stored as %d", r, h.seq)
	}
}

func TestIdempotencyConflictsAndReplace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		second   *record.Timer
		replace  bool
		wantCode int
		created  bool
		newRev   bool
	}{
		{"identical retry", oneShot("a", t0+10*sec), false, 200, false, false},
		{"different request", oneShot("a", t0+20*sec), false, api.CodeConflict, false, false},
		{"replace", oneShot("a", t0+20*sec), true, 200, false, true},
		{"identical with replace", oneShot("a", t0+10*sec), true, 200, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			first := h.reply(h.schedule(oneShot("a", t0+10*sec), false)).Value.(api.ScheduleReply)
			writes := h.seq
			tok := h.schedule(tc.second, tc.replace)
			if c := h.code(tok); c != tc.wantCode {
				t.Fatalf("code %d, want %d: %v", c, tc.wantCode, h.reply(tok).Err)
			}
			if tc.wantCode != 200 {
				return
			}
			r := h.reply(tok).Value.(api.ScheduleReply)
			if r.Created != tc.created || (r.Revision != first.Revision) == !tc.newRev {
				t.Fatalf("reply %+v after %+v", r, first)
			}
			if !tc.newRev && h.seq != writes {
				t.Fatalf("an identical retry wrote a record")
			}
		})
	}
}

func TestChangesWaitForTheWriteInFlight(t *testing.T) {
	h := newHarness(t, Config{})
	h.hold = true
	create := h.schedule(oneShot("a", t0+sec), false)
	retry := h.schedule(oneShot("a", t0+sec), false)
	cancel := h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "a", CallOptions{}) })
	h.noReply(create)
	h.noReply(cancel)
	h.noReply(retry)
	h.ackAll() // the create
	h.run()
	if h.code(create) != 200 || h.code(retry) != 200 {
		t.Fatalf("create %v, retry %v", h.reply(create), h.reply(retry))
	}
	if c, r := h.reply(create).Value.(api.ScheduleReply), h.reply(retry).Value.(api.ScheduleReply); r.Created || r.Revision != c.Revision {
		t.Fatalf("the retry is not answered with the timer the create made: %+v, %+v", c, r)
	}
	h.noReply(cancel) // its delete is written now
	h.ackAll()
	h.run()
	if h.code(cancel) != 200 {
		t.Fatalf("cancel: %v", h.reply(cancel).Err)
	}
	h.hold = false
	h.advance(2 * time.Second)
	if len(h.fired) != 0 {
		t.Fatalf("a cancelled timer fired: %v", h.firedIDs())
	}
	if _, c := h.get("a"); c != api.CodeNotFound {
		t.Fatalf("get after cancel: %d", c)
	}
}

func TestFiresAtItsTimeNeverEarly(t *testing.T) {
	h := newHarness(t, Config{})
	for _, d := range []int64{3, 1, 2} {
		h.schedule(oneShot(string(rune('a'+d)), t0+d*sec), false)
	}
	h.advance(999 * time.Millisecond)
	if len(h.fired) != 0 {
		t.Fatalf("fired early: %v", h.firedIDs())
	}
	for k, want := range []string{"b", "c", "d"} {
		h.advance(time.Second)
		if got := h.firedIDs(); len(got) != k+1 || got[k] != want {
			t.Fatalf("after %ds: fired %v", k+2, got)
		}
	}
	f := h.fired[0]
	if f.Nominal != t0+sec || f.Number != 1 {
		t.Fatalf("fire %+v", f)
	}
	h.ackFires(nil, false)
	// Fired: an identical retry is answered, a get is 404, a new request recreates.
	if r := h.reply(h.schedule(oneShot("b", t0+sec), false)).Value.(api.ScheduleReply); r.Created {
		t.Fatalf("retry of a fired timer recreated it: %+v", r)
	}
	if _, c := h.get("b"); c != api.CodeNotFound {
		t.Fatalf("get of a fired one-shot: %d", c)
	}
	if r := h.reply(h.schedule(oneShot("b", t0+9*sec), false)).Value.(api.ScheduleReply); !r.Created {
		t.Fatalf("a new request for a fired id: %+v", r)
	}
}

func TestFireFailureRetriedAndPoisonSetAside(t *testing.T) {
	h := newHarness(t, Config{MaxFireTries: 3})
	h.schedule(oneShot("a", t0+sec), false)
	h.advance(time.Second)
	h.ackFires(errors.New("timeout"), false)
	if len(h.fires) != 0 {
		t.Fatalf("retried at once")
	}
	h.advance(25 * time.Millisecond) // first backoff: 20ms
	if len(h.fires) != 1 || h.fires[0].Nominal != t0+sec || h.fires[0].Tries != 1 {
		t.Fatalf("retry: %+v", h.fires)
	}
	// Now it cannot be published at all.
	for range 3 {
		h.ackFires(errors.New("maximum payload exceeded"), true)
		h.advance(3 * time.Second)
	}
	v, c := h.get("a")
	if c != 200 || v.State != api.StateFailed || v.Failed == "" {
		t.Fatalf("after permanent failures: %d %+v", c, v)
	}
	if got := h.s.Counts(); got.SetAside != 1 || got.Failed != 1 || len(h.s.fires) != 0 {
		t.Fatalf("counts %+v, fires %d", got, len(h.s.fires))
	}
	// Stored as failed: a reload keeps it failed and does not fire it.
	n := h.replay(h.mark, 0)
	n.advance(time.Minute)
	if v, _ := n.get("a"); v.State != api.StateFailed || len(n.fired) != 0 {
		t.Fatalf("after reload: %+v, fired %v", v, n.firedIDs())
	}
	// Resume clears the failure and it fires again.
	n.call(func(now int64, tok Token) { n.s.Resume(now, tok, "a", CallOptions{}) })
	n.advance(time.Millisecond)
	if len(n.fired) != 1 {
		t.Fatalf("resumed failed timer did not fire: %v", n.firedIDs())
	}
}

func TestPauseResumeTrigger(t *testing.T) {
	h := newHarness(t, Config{})
	h.schedule(oneShot("a", t0+sec), false)
	h.schedule(cron("c", "@every 10s"), false)
	for _, id := range []string{"a", "c"} {
		tok := h.call(func(now int64, tok Token) { h.s.Pause(now, tok, id, CallOptions{}) })
		if v := h.reply(tok).Value.(api.Timer); v.State != api.StatePaused {
			t.Fatalf("pause %s: %+v", id, v)
		}
	}
	h.advance(30 * time.Second)
	if len(h.fired) != 0 {
		t.Fatalf("paused timers fired: %v", h.firedIDs())
	}
	// Trigger a paused recurring timer: its next occurrence now.
	tok := h.call(func(now int64, tok Token) { h.s.Trigger(now, tok, "c") })
	if len(h.fires) != 1 || h.fires[0].Nominal != t0+40*sec {
		t.Fatalf("trigger fired %+v", h.fires)
	}
	h.noReply(tok)
	h.ackFires(nil, false)
	tr := h.reply(tok).Value.(api.TriggerReply)
	if tr.Fire != 1 || tr.Due != api.FormatTime(time.Unix(0, t0+40*sec)) {
		t.Fatalf("trigger reply %+v", tr)
	}
	// Resume: the one-shot is overdue and fires at once; the recurring
	// timer goes on after the occurrence the trigger fired.
	for _, id := range []string{"a", "c"} {
		h.call(func(now int64, tok Token) { h.s.Resume(now, tok, id, CallOptions{}) })
	}
	h.advance(time.Millisecond)
	if ids := h.firedIDs(); len(ids) != 2 || ids[1] != "a" {
		t.Fatalf("after resume: %v", ids)
	}
	h.ackFires(nil, false)
	h.advance(20 * time.Second)
	if last := h.fired[len(h.fired)-1]; last.Timer.ID != "c" || last.Nominal != t0+50*sec || last.Number != 2 {
		t.Fatalf("recurring after resume: %+v", last)
	}
}

func TestRevisionsGuardChanges(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.reply(h.schedule(oneShot("a", t0+sec), false)).Value.(api.ScheduleReply)
	for _, tc := range []struct {
		rev  uint64
		want int
	}{{r.Revision + 1, api.CodeConflict}, {r.Revision, 200}} {
		tok := h.call(func(now int64, tok Token) {
			h.s.Cancel(now, tok, "a", CallOptions{ExpectedRevision: tc.rev, HasExpected: true})
		})
		if c := h.code(tok); c != tc.want {
			t.Fatalf("cancel at revision %d: %d, want %d", tc.rev, c, tc.want)
		}
	}
}

func TestWriteFailureAnswers503(t *testing.T) {
	h := newHarness(t, Config{})
	h.failErr = store.ErrFenced
	tok := h.schedule(oneShot("a", t0+sec), false)
	if c := h.code(tok); c != api.CodeNotReady {
		t.Fatalf("code %d", c)
	}
	if !errors.Is(h.rd.WriteFailed, store.ErrFenced) {
		t.Fatalf("WriteFailed %v", h.rd.WriteFailed)
	}
	// Until the driver reloads it, the shard decides nothing more.
	if _, c := h.get("a"); c != api.CodeNotReady {
		t.Fatalf("get on a shard whose write failed: %d", c)
	}
	if _, c := h.replay(h.mark, h.now).get("a"); c != api.CodeNotFound {
		t.Fatalf("a timer whose create failed exists after the reload: %d", c)
	}
}

// A cancel of an id the shard does not hold is answered 404 only once a
// delete is stored under the shard's fence: a node that lost the shard
// without hearing of it yet has its write refused (503, retry) instead of
// answering 404 for a timer the new owner holds.
func TestCancelOfUnknownIsFenced(t *testing.T) {
	h := newHarness(t, Config{ID: 1})
	h.hold = true
	tok := h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "nobody", CallOptions{}) })
	h.noReply(tok)
	if len(h.held) != 1 || len(h.held[0].Ops) != 1 || h.held[0].Ops[0].Kind != record.OpDelete || h.held[0].Ops[0].Timer.ID != "nobody" {
		t.Fatalf("records written: %+v; want one delete of nobody", h.held)
	}
	h.ackAll()
	h.run()
	if c := h.code(tok); c != api.CodeNotFound {
		t.Fatalf("cancel of an unknown id, stored: %d, want 404", c)
	}

	// Fenced: another node owns the shard now.
	tok = h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "other", CallOptions{}) })
	h.failErr = fmt.Errorf("%w: wrong last sequence", store.ErrFenced)
	h.ackAll()
	h.run()
	if c := h.code(tok); c != api.CodeNotReady {
		t.Fatalf("cancel of an unknown id on a deposed owner: %d, want 503", c)
	}
}
