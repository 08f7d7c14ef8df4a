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

func TestFarNearLoadedMoves(t *testing.T) {
	h := newHarness(t, Config{Horizon: time.Hour})
	due := t0 + int64(3*time.Hour)
	h.schedule(oneShot("far", due), false)
	h.schedule(oneShot("near", t0+int64(time.Minute)), false)
	c := h.s.Counts()
	if c.Far != 1 || c.Near != 1 || c.Loaded != 0 || h.w.Len() != 1 {
		t.Fatalf("counts %+v, wheel %d", c, h.w.Len())
	}
	// A get of a far timer reads its record and keeps nothing.
	v, code := h.get("far")
	if code != 200 || v.Next != api.FormatTime(time.Unix(0, due)) || v.Subject != "s.far" {
		t.Fatalf("get far: %d %+v", code, v)
	}
	if c := h.s.Counts(); c.Far != 1 || c.Loaded != 0 {
		t.Fatalf("get loaded the far timer: %+v", c)
	}
	// Within the horizon it becomes near: read back, armed.
	h.now = due - int64(time.Hour) + 1
	h.s.Promote(h.now)
	h.run()
	if c := h.s.Counts(); c.Far != 0 || c.Near != 2 || h.w.Len() != 2 {
		t.Fatalf("after promotion: %+v, wheel %d", c, h.w.Len())
	}
	// A pause loads it: an object now.
	h.call(func(now int64, tok Token) { h.s.Pause(now, tok, "far", CallOptions{}) })
	if c := h.s.Counts(); c.Loaded != 1 || c.Paused != 1 || c.Near != 1 || h.w.Len() != 1 {
		t.Fatalf("after pause: %+v, wheel %d", c, h.w.Len())
	}
	// Resume makes it an entry again and it fires on time.
	h.call(func(now int64, tok Token) { h.s.Resume(now, tok, "far", CallOptions{}) })
	if c := h.s.Counts(); c.Loaded != 0 || c.Near != 2 {
		t.Fatalf("after resume: %+v", c)
	}
	h.advance(time.Duration(due - h.now))
	if ids := h.firedIDs(); len(ids) != 2 || ids[1] != "far" {
		t.Fatalf("fired %v", ids)
	}
}

func TestMarkCoversExactlyWhatFired(t *testing.T) {
	h := newHarness(t, Config{})
	for k := 1; k <= 4; k++ {
		h.schedule(oneShot(fmt.Sprint("t", k), t0+int64(k)*sec), false)
	}
	h.advance(2 * time.Second)
	h.ackFires(nil, false)
	h.advance(500 * time.Millisecond)
	h.s.Checkpoint(h.now, false)
	h.run()
	if h.mark.Through >= t0+3*sec || h.mark.Through < t0+2*sec || h.mark.Seq != h.seq {
		t.Fatalf("mark %+v (stored through %d)", h.mark, h.seq)
	}
	// A restart from the log with that mark fires only what is left.
	n := h.replay(h.mark, 0)
	n.advance(5 * time.Second)
	if ids := n.firedIDs(); len(ids) != 2 || ids[0] != "t3" || ids[1] != "t4" {
		t.Fatalf("after restart fired %v", ids)
	}
	// An unacknowledged fire holds the mark back.
	h.advance(500 * time.Millisecond) // t3 fires, not acknowledged
	h.s.Checkpoint(h.now, true)
	h.run()
	if h.mark.Through >= t0+3*sec {
		t.Fatalf("mark %+v passed an unacknowledged fire", h.mark)
	}
}

func TestCancelledTimersLeaveTheStore(t *testing.T) {
	h := newHarness(t, Config{})
	h.schedule(cron("yearly", "@yearly"), false) // long-lived, in the oldest record
	for k := range 2000 {
		id := fmt.Sprint("o", k)
		h.schedule(oneShot(id, t0+int64(time.Hour)), false)
		h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, id, CallOptions{}) })
	}
	if len(h.log) < 4000 {
		t.Fatalf("%d records", len(h.log))
	}
	// Dead behind the live head, they go one by one once they have been
	// dead for a whole round, maxDeletes (and the Deletes they guard) a
	// round.
	for range (2 + 4000/maxDeletes) * purgeEvery {
		h.now += 2 * sec
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if len(h.log) > 2 {
		t.Fatalf("%d records left for 1 live timer", len(h.log))
	}
	if h.purged != 0 {
		t.Fatalf("purged below %d: the live head went", h.purged)
	}
	n := h.replay(h.mark, 0)
	if c := n.s.Counts(); c.Timers != 1 {
		t.Fatalf("after reload %+v", c)
	}
	if v, code := n.get("yearly"); code != 200 || v.Revision != 101 {
		t.Fatalf("yearly after compaction: %d %+v", code, v)
	}
}

func TestReloadKeepsEveryTimer(t *testing.T) {
	h := newHarness(t, Config{Horizon: time.Hour})
	h.schedule(oneShot("far", t0+int64(5*time.Hour)), false)
	h.schedule(oneShot("near", t0+10*sec), false)
	h.schedule(cron("every", "@every 5s"), false)
	h.schedule(oneShot("paused", t0+5*sec), false)
	h.call(func(now int64, tok Token) { h.s.Pause(now, tok, "paused", CallOptions{}) })
	h.schedule(oneShot("gone", t0+5*sec), false)
	h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "gone", CallOptions{}) })
	h.advance(5 * time.Second)
	h.ackFires(nil, false)
	h.s.Checkpoint(h.now, true)
	h.run()
	before := map[string]api.Timer{}
	for _, id := range []string{"far", "near", "every", "paused"} {
		v, _ := h.get(id)
		before[id] = v
	}
	// A reload after the previous owner was last alive now: every timer is
	// back as it was, the recurring one with its progress.
	n := h.replay(h.mark, h.now)
	for id, want := range before {
		got, code := n.get(id)
		if code != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s after reload: %d\n got %+v\nwant %+v", id, code, got, want)
		}
	}
	if _, code := n.get("gone"); code != api.CodeNotFound {
		t.Errorf("a cancelled timer came back: %d", code)
	}
	n.advance(5 * time.Second)
	if ids := n.firedIDs(); len(ids) != 2 {
		t.Fatalf("after reload fired %v", ids)
	}
}

func TestUnloadAnswersWaiters(t *testing.T) {
	h := newHarness(t, Config{})
	h.hold = true
	create := h.schedule(oneShot("a", t0+sec), false)
	get := h.call(func(now int64, tok Token) { h.s.Get(now, tok, "a", 0) })
	h.s.Unload("moved to another node")
	h.run()
	if h.code(create) != api.CodeNotReady || h.code(get) != api.CodeNotReady {
		t.Fatalf("create %v, get %v", h.reply(create), h.reply(get))
	}
	if h.w.Len() != 0 {
		t.Fatalf("%d entries left on the wheel", h.w.Len())
	}
}

func TestForgetFiredAfterKeepFired(t *testing.T) {
	h := newHarness(t, Config{KeepFired: 10 * time.Second})
	h.schedule(oneShot("a", t0+sec), false)
	h.advance(time.Second)
	h.ackFires(nil, false)
	h.s.Forget(h.now + int64(9*time.Second))
	if c := h.s.Counts(); c.Fired != 1 {
		t.Fatalf("forgotten early: %+v", c)
	}
	h.s.Forget(h.now + int64(10*time.Second))
	if c := h.s.Counts(); c.Fired != 0 || h.s.tab.count != 0 {
		t.Fatalf("not forgotten: %+v, %d entries", c, h.s.tab.count)
	}
}

func TestMarkIsZeroWithoutFires(t *testing.T) {
	h := newHarness(t, Config{})
	h.schedule(oneShot("a", t0+sec), false)
	h.s.Checkpoint(h.now, false)
	h.run()
	if h.mark != (store.Mark{}) {
		t.Fatalf("a mark was written with nothing fired: %+v", h.mark)
	}
}

// A purge that fails is asked for again at a later checkpoint: the records
// it should have removed do not stay for ever.
func TestFailedPurgeIsRetried(t *testing.T) {
	h := newHarness(t, Config{})
	for k := range 200 {
		id := fmt.Sprint("o", k)
		h.schedule(oneShot(id, t0+int64(time.Hour)), false)
		h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, id, CallOptions{}) })
	}
	before := len(h.log)
	h.purgeErr = errors.New("purge: timeout")
	for range 3 {
		h.now += 2 * sec
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if h.purgeErr != nil {
		t.Fatal("no purge was asked for")
	}
	if len(h.log) > purgeMinRecords+2 {
		t.Fatalf("%d of %d records left after a failed purge and two more checkpoints", len(h.log), before)
	}
}

// A recurring timer that finished keeps its last progress stored (its
// Put's record is kept by a far timer stored with it, and older progress
// records are removed one by one): a replay does not fire it again.
func TestFinishedRecurringStaysFinished(t *testing.T) {
	h := newHarness(t, Config{RecordsInFlight: 1})
	rep := cron("rep", "@every 1s")
	rep.MaxFires = 2
	scheduleInOneRecord(h, oneShot("far", t0+int64(24*time.Hour)), rep)
	for range 3 {
		h.advance(time.Second)
		h.ackFires(nil, false)
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if got := len(h.firedIDs()); got != 2 {
		t.Fatalf("%d fires of rep, want 2", got)
	}
	for range 3 * purgeEvery {
		h.now += sec
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if h.deleted == 0 {
		t.Fatal("no record was removed one by one: the test does not test")
	}
	n := h.replay(h.mark, h.now)
	n.advance(5 * time.Second)
	if ids := n.firedIDs(); len(ids) != 0 {
		t.Fatalf("after a replay, a finished recurring timer fired again: %v", ids)
	}
}

// A replaced timer's new record outlives the old one while that is stored
// (kept here by a far timer stored with it): else, once the new definition
// fired, a replay would bring back the old one.
func TestReplacedTimerStaysReplaced(t *testing.T) {
	h := newHarness(t, Config{RecordsInFlight: 1})
	scheduleInOneRecord(h, oneShot("far", t0+int64(24*time.Hour)), oneShot("x", t0+int64(2*time.Hour)))
	if c := h.code(h.schedule(oneShot("x", t0+sec), true)); c != 200 {
		t.Fatalf("replace: %d", c)
	}
	h.advance(time.Second)
	h.ackFires(nil, false)
	for range 3 * purgeEvery {
		h.now += sec
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if c := h.s.Counts(); c.Dead != 0 || c.Records != 3 {
		t.Fatalf("%+v: want 3 records (first's, far's with x's old Put, x's new Put kept by it)", c)
	}
	n := h.replay(h.mark, h.now)
	if v, code := n.get("x"); code != api.CodeNotFound {
		t.Fatalf("after a replay the replaced definition of x is back: %d %+v", code, v)
	}
}

// A record that holds nothing from the start (the Delete a cancel of an
// unknown id stores before its 404) goes too, behind a live head.
func TestRecordBornDeadGoes(t *testing.T) {
	h := newHarness(t, Config{})
	h.schedule(oneShot("long", t0+int64(24*time.Hour)), false)
	for range 10 {
		if c := h.code(h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "nope", CallOptions{}) })); c != api.CodeNotFound {
			t.Fatalf("cancel of an unknown id: %d", c)
		}
	}
	if len(h.log) != 11 {
		t.Fatalf("%d records, want 11", len(h.log))
	}
	for range 2 * purgeEvery {
		h.now += sec
		h.s.Checkpoint(h.now, false)
		h.run()
	}
	if len(h.log) != 1 {
		t.Fatalf("%d records left, want long's alone", len(h.log))
	}
}

// scheduleInOneRecord stores a and b in one record, after a record of a
// timer "first" (due in an hour) that keeps the shard's records in flight
// (h's RecordsInFlight must be 1) while they queue.
func scheduleInOneRecord(h *harness, a, b *record.Timer) {
	h.t.Helper()
	h.hold = true
	h.schedule(oneShot("first", t0+int64(time.Hour)), false)
	h.schedule(a, false)
	h.schedule(b, false)
	h.hold = false
	h.ackAll()
	h.run()
	ai, _ := h.s.tab.find(a.ID)
	bi, _ := h.s.tab.find(b.ID)
	if sa, sb := h.s.tab.ents[ai].seq, h.s.tab.ents[bi].seq; sa != sb || sa == 0 {
		h.t.Fatalf("%s in record %d, %s in %d: the test needs them in one", a.ID, sa, b.ID, sb)
	}
}

// A reload arms near one-shots without decoding their definitions, except
// the jittered ones: those fire at the jittered instant they had before,
// also when a replace or a cancel changed which entries carry a jitter.
func TestJitteredNearTimersReloadAtTheirInstant(t *testing.T) {
	h := newHarness(t, Config{Horizon: time.Hour})
	due := t0 + int64(time.Minute)
	jittered := func(id string) *record.Timer {
		r := oneShot(id, due)
		r.Jitter, r.ReqHash = int64(20*time.Second), hash(id+" jittered", due)
		return r
	}
	h.schedule(jittered("j"), false)      // jittered throughout
	h.schedule(oneShot("p", due), false)  // plain throughout
	h.schedule(jittered("jp"), false)     // jittered, replaced by a plain one
	h.schedule(oneShot("jp", due), true)  //
	h.schedule(oneShot("pj", due), false) // plain, replaced by a jittered one
	h.schedule(jittered("pj"), true)      //
	h.schedule(jittered("gone"), false)   // jittered, cancelled: its entry is
	h.call(func(now int64, tok Token) { h.s.Cancel(now, tok, "gone", CallOptions{}) })
	h.schedule(oneShot("reuse", due), false) // free for this plain one
	want := map[string]int64{"p": due, "jp": due, "reuse": due}
	for _, id := range []string{"j", "pj"} {
		r := jittered(id)
		want[id] = due + jitterOf(r, due)
		if want[id] == due {
			t.Fatalf("%s: no jitter drawn; pick another id", id)
		}
	}
	n := h.replay(h.mark, 0)
	if c := n.s.Counts(); c.Near != 5 || n.w.Len() != 5 {
		t.Fatalf("after the reload: %+v, wheel %d", c, n.w.Len())
	}
	firedAt := map[string]int64{}
	for n.now < due+int64(21*time.Second) {
		n.advance(time.Millisecond)
		for _, f := range n.fires {
			firedAt[f.Timer.ID] = n.now
		}
		n.ackFires(nil, false)
	}
	for id, at := range want {
		if at = (at + int64(time.Millisecond) - 1) / int64(time.Millisecond) * int64(time.Millisecond); firedAt[id] != at { // the first tick at or after it
			t.Errorf("%s fired at %s, want %s", id, time.Duration(firedAt[id]-due), time.Duration(at-due))
		}
	}
	if len(firedAt) != len(want) {
		t.Errorf("fired %v, want %v", firedAt, want)
	}
}
