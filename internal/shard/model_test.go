package shard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
)

// TestAgainstModel runs random operations, time steps, acknowledgements
// held back and failed, checkpoints, purges and restarts against a
// shard, and checks it against a simple model of what the protocol
// promises for one-shot timers:
//
//   - no fire is handed out before its time (the harness checks every fire);
//   - a timer stored (200) and neither cancelled, replaced nor paused
//     afterwards fires its definition's due time, even across restarts;
//   - after a cancel or replace is answered, the old definition does not
//     fire any more;
//   - replaying the stored records gives back exactly the timers the shard
//     holds.
func TestAgainstModel(t *testing.T) {
	seeds := uint64(60)
	if testing.Short() {
		seeds = 10
	}
	if n, err := strconv.ParseUint(os.Getenv("SHARD_MODEL_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

type modelTimer struct {
	due     int64
	rev     uint64
	paused  bool
	gone    bool  // cancelled (200)
	firedAt int64 // a fire of this definition was acknowledged (nominal)
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	horizon := []time.Duration{-1, 2 * time.Second, time.Hour}[seed%3]
	h := newHarness(t, Config{Horizon: horizon, KeepFired: 3 * time.Second, RecordsInFlight: 1 + int(seed%2)})
	model := map[string]*modelTimer{}
	type waiting struct {
		tok  Token
		id   string
		kind string
		due  int64
	}
	var waits []waiting
	trace := func(format string, args ...any) {
		if testing.Verbose() {
			t.Logf("%6d "+format, append([]any{(h.now - t0) / 1e6}, args...)...)
		}
	}
	settle := func() {
		kept := waits[:0]
		for _, w := range waits {
			r, ok := h.replies[w.tok]
			if !ok {
				kept = append(kept, w)
				continue
			}
			trace("%s %s (%d, due %d) -> %v %v", w.kind, w.id, w.tok, (w.due-t0)/1e6, r.Value, r.Err)
			if r.Err != nil {
				continue
			}
			// Replies of parked requests may describe state written after
			// later requests (they ran once those settled): the model takes
			// whatever a reply says when its revision is newer.
			adopt := func(rev uint64, next string, paused *bool) {
				m := model[w.id]
				if m != nil && !m.gone && m.rev >= rev {
					return
				}
				due, err := time.Parse(time.RFC3339Nano, next)
				if err != nil {
					t.Fatalf("reply %v: next %q", r.Value, next)
				}
				nm := &modelTimer{due: due.UnixNano(), rev: rev}
				if paused != nil {
					nm.paused = *paused
				} else if m != nil && !m.gone && m.due == nm.due {
					nm.firedAt = m.firedAt
				}
				model[w.id] = nm
			}
			switch w.kind {
			case "schedule":
				rep := r.Value.(api.ScheduleReply)
				adopt(rep.Revision, rep.Next, nil)
			case "cancel":
				model[w.id].gone = true
			case "pause", "resume":
				v := r.Value.(api.Timer)
				p := v.State == api.StatePaused
				if v.Next == "" {
					break // firing
				}
				adopt(v.Revision, v.Next, &p)
			}
		}
		waits = kept
	}
	// quiesce acknowledges every record until none is pending, so that
	// every reply is settled in the model before a restart.
	quiesce := func() {
		h.hold = false
		for {
			h.ackAll()
			h.run()
			settle()
			if len(h.held) == 0 {
				return
			}
		}
	}
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for step := 0; step < 400; step++ {
		id := ids[rng.IntN(len(ids))]
		switch op := rng.IntN(22); {
		case op >= 20:
			// Recurring timers, outside the model: their progress and
			// cancels must replay to what the shard holds.
			rid := []string{"r1", "r2", "r3"}[rng.IntN(3)]
			if rng.IntN(2) == 0 {
				h.s.Schedule(h.now, h.next(), Request{Timer: cron(rid, "@every 1s"), Replace: rng.IntN(2) == 0})
			} else {
				h.s.Cancel(h.now, h.next(), rid, CallOptions{})
			}
		case op < 5:
			due := h.now + rng.Int64N(int64(4*time.Second)) - int64(time.Second)
			rec := oneShot(id, due)
			tok := h.next()
			h.s.Schedule(h.now, tok, Request{Timer: rec, Replace: rng.IntN(2) == 0})
			waits = append(waits, waiting{tok, id, "schedule", due})
		case op < 7:
			tok := h.next()
			h.s.Cancel(h.now, tok, id, CallOptions{})
			waits = append(waits, waiting{tok, id, "cancel", 0})
		case op < 8:
			tok := h.next()
			h.s.Pause(h.now, tok, id, CallOptions{})
			trace("pause %s sent as %d", id, tok)
			waits = append(waits, waiting{tok, id, "pause", 0})
		case op < 9:
			tok := h.next()
			h.s.Resume(h.now, tok, id, CallOptions{})
			waits = append(waits, waiting{tok, id, "resume", 0})
		case op < 13:
			h.advance(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		case op < 15:
			h.hold = rng.IntN(2) == 0
			if rng.IntN(8) == 0 {
				h.failErr = fmt.Errorf("injected")
			}
			h.ackAll()
		case op < 17:
			fs := h.fires
			h.fires = nil
			for _, f := range fs {
				if rng.IntN(5) == 0 {
					h.s.Fired(h.now, f.ID, fmt.Errorf("nak"), false)
					continue
				}
				if m := model[f.Timer.ID]; m != nil && !m.gone && m.due == f.Nominal {
					m.firedAt = f.Nominal
				}
				trace("fired %s nominal %d", f.Timer.ID, (f.Nominal-t0)/1e6)
				h.s.Fired(h.now, f.ID, nil, false)
			}
		case op < 18:
			if rng.IntN(4) == 0 {
				h.purgeCut = rng.IntN(4) // and a restart may follow before it is asked again
			}
			h.s.Checkpoint(h.now, rng.IntN(4) == 0)
			h.s.Promote(h.now)
			h.s.Forget(h.now)
		case op < 19:
			// A write failed: a driver reloads the shard from the store.
			if h.failed != nil || rng.IntN(3) == 0 {
				h.hold = false
				h.ackAll()
				h.run()
				settle()
				trace("restart (reload) mark %+v", h.mark)
				h = restart(t, h)
				waits = nil
			}
		default:
			trace("clean restart")
			quiesce()
			h.s.Checkpoint(h.now, true)
			quiesce()
			h = restart(t, h)
			waits = nil
		}
		h.run()
		settle()
		if h.failed != nil {
			quiesce()
			h = restart(t, h)
			trace("restart after write failure")
			waits = nil
		}
	}
	// Drain: everything stored and not paused fires.
	quiesce()
	if h.failed != nil {
		h = restart(t, h)
	}
	for range 20 {
		h.s.Promote(h.now)
		h.advance(time.Second)
		fs := h.fires
		h.fires = nil
		for _, f := range fs {
			if m := model[f.Timer.ID]; m != nil && !m.gone && m.due == f.Nominal {
				m.firedAt = f.Nominal
			}
			h.s.Fired(h.now, f.ID, nil, false)
		}
		h.run()
	}
	for id, m := range model {
		if m.gone || m.paused {
			continue
		}
		if m.firedAt != m.due {
			state := "absent"
			if i, ok := h.s.tab.find(id); ok {
				e := h.s.tab.ents[i]
				state = fmt.Sprintf("%s seq %d rev %d due %d writing %d", e.loc, e.seq, e.rev, e.due-t0, e.writing)
				if e.loc == locLoaded || e.loc == locFiring {
					o := h.s.tab.obj(i)
					state += fmt.Sprintf(" obj next %d handle %d paused %v failed %q", o.next-t0, o.handle, o.rec.Paused, o.rec.Failed)
				}
			}
			t.Errorf("timer %s (due %d, revision %d) never fired; now %d: %s", id, m.due-t0, m.rev, h.now-t0, state)
		}
	}
	checkReplayMatches(t, h)
}

// restart replays the log into a new shard, as a node that reloads it.
func restart(t *testing.T, h *harness) *harness {
	n := h.replay(h.mark, h.now)
	checkReplayMatches(t, n)
	return n
}

// checkReplayMatches checks that a replay of the log holds the timers the
// shard holds, with the same revisions and states.
func checkReplayMatches(t *testing.T, h *harness) {
	t.Helper()
	h.hold = false
	h.ackAll()
	h.run()
	n := h.replay(h.mark, h.now)
	for i := range h.s.tab.ents {
		e := &h.s.tab.ents[i]
		if e.loc == locFree || e.loc == locFired || e.loc == locFiring || e.seq == 0 {
			continue
		}
		id := string(h.s.tab.id(uint32(i)))
		j, ok := n.s.tab.find(id)
		if !ok {
			t.Fatalf("timer %s (%s, revision %d) is not in the replay", id, e.loc, e.rev)
		}
		if f := &n.s.tab.ents[j]; f.rev != e.rev {
			t.Fatalf("timer %s: revision %d in memory, %d in the replay", id, e.rev, f.rev)
		}
	}
	// And the other way: the replay brings back no timer the shard no
	// longer holds (cancelled, replaced, or fired and covered by the mark)
	// but fired ones not yet covered (fired again, deduplicated).
	handed := map[string]bool{}
	for _, f := range append(slices.Clone(h.past), h.fired...) {
		handed[fmt.Sprint(f.Timer.ID, "@", f.Timer.Revision)] = true
	}
	for j := range n.s.tab.ents {
		f := &n.s.tab.ents[j]
		if f.loc == locFree || f.loc == locFired {
			continue
		}
		id := string(n.s.tab.id(uint32(j)))
		if i, ok := h.s.tab.find(id); ok && h.s.tab.ents[i].rev == f.rev {
			continue
		}
		if handed[fmt.Sprint(id, "@", f.rev)] {
			continue
		}
		t.Fatalf("timer %s (revision %d, %s) comes back in the replay: the shard does not hold it", id, f.rev, f.loc)
	}
}
