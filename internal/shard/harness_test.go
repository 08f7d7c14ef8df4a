package shard

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/wheel"
)

// harness drives a Shard as a node's driver would, synchronously and with
// explicit time: records are "stored" in an in-memory log with stream
// sequences (acknowledged at once unless hold is set), reads are served
// from the log, fires are collected for the test to acknowledge.
type harness struct {
	t    *testing.T
	w    *wheel.Wheel
	s    *Shard
	cfg  Config
	now  int64
	seq  uint64
	log  map[uint64][]record.Op // stored records by sequence
	tok  Token
	mark store.Mark

	hold    bool     // keep records unacknowledged in held
	held    []Record // records written and not yet acknowledged
	failErr error    // fail the next record with this error

	replies  map[Token]Reply
	fires    []Fire // published, not yet acknowledged
	fired    []Fire // every fire published, in order
	past     []Fire // fired by the shards this one was replayed after
	purged   uint64 // the highest PurgeBelow done
	deleted  int    // records deleted one by one
	purgeErr error  // fail the next purge with this error (nothing purged)
	purgeCut int    // >= 0: do the next purge's prefix and this many deletes, then fail it
	rd       Ready
	failed   error // a write failed since the shard was loaded: a driver reloads
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, cfg: cfg, now: t0, log: make(map[uint64][]record.Op), replies: make(map[Token]Reply), seq: 100, purgeCut: -1}
	h.w = wheel.New(time.Millisecond, h.now)
	h.s = New(cfg, h.w)
	return h
}

// run processes what the shard asked for until it asks for nothing more.
func (h *harness) run() {
	for {
		rd := h.s.Ready()
		if rd.Empty() {
			return
		}
		h.rd = rd
		if rd.WriteFailed != nil && h.failed == nil {
			h.failed = rd.WriteFailed
		}
		for _, r := range rd.Replies {
			h.replies[r.Token] = r
		}
		for _, f := range rd.Fires {
			if f.FireAt > h.now && !f.Triggered {
				h.t.Fatalf("fire of %s handed out at %d before it was due at %d", f.Timer.ID, h.now, f.FireAt)
			}
			h.fires = append(h.fires, f)
			h.fired = append(h.fired, f)
		}
		for _, r := range rd.Records {
			h.held = append(h.held, r)
		}
		if !h.hold {
			h.ackAll()
		}
		for _, seq := range rd.Reads {
			ops, ok := h.log[seq]
			var err error
			if !ok {
				err = fmt.Errorf("record %d: %w", seq, store.ErrNotFound)
			}
			h.s.RecordRead(h.now, seq, copyOps(ops), err)
		}
		if rd.Mark != nil {
			h.mark = *rd.Mark
			h.s.MarkWritten(*rd.Mark, nil)
		}
		if (rd.PurgeBelow != 0 || len(rd.Deletes) > 0) && h.purgeErr != nil {
			err := h.purgeErr
			h.purgeErr = nil
			h.s.Purged(err)
		} else if (rd.PurgeBelow != 0 || len(rd.Deletes) > 0) && h.purgeCut >= 0 {
			// The node stops in the middle of the purge: the prefix and
			// the first purgeCut deletes are done, the rest never are.
			for seq := range h.log {
				if seq < rd.PurgeBelow {
					delete(h.log, seq)
				}
			}
			for _, seq := range rd.Deletes[:min(h.purgeCut, len(rd.Deletes))] {
				delete(h.log, seq)
			}
			h.purgeCut = -1
			h.s.Purged(errors.New("cut"))
		} else if rd.PurgeBelow != 0 || len(rd.Deletes) > 0 {
			for seq := range h.log {
				if seq < rd.PurgeBelow {
					delete(h.log, seq)
				}
			}
			for _, seq := range rd.Deletes {
				delete(h.log, seq)
			}
			h.purged = max(h.purged, rd.PurgeBelow)
			h.deleted += len(rd.Deletes)
			h.s.Purged(nil)
		}
	}
}

// ackAll acknowledges the held records in order.
func (h *harness) ackAll() {
	held := h.held
	h.held = nil
	for _, r := range held {
		if h.failErr != nil {
			err := h.failErr
			h.failErr = nil
			h.s.Acked(h.now, r.ID, 0, err)
			continue
		}
		h.seq++
		h.log[h.seq] = copyOps(r.Ops)
		h.s.Acked(h.now, r.ID, h.seq, nil)
	}
}

func copyOps(ops []record.Op) []record.Op {
	out, err := record.DecodeOps(record.AppendOps(nil, ops))
	if err != nil {
		panic(err)
	}
	return out
}

// advance moves time to now+d and hands the shard what the wheel gives.
func (h *harness) advance(d time.Duration) {
	h.now += int64(d)
	var vals []uint64
	h.w.Advance(h.now, func(v uint64, _ int64) { vals = append(vals, v) })
	h.s.Due(h.now, vals)
	h.run()
}

// ackFires acknowledges every published fire (err: fail them).
func (h *harness) ackFires(err error, permanent bool) {
	fs := h.fires
	h.fires = nil
	for _, f := range fs {
		h.s.Fired(h.now, f.ID, err, permanent)
	}
	h.run()
}

func (h *harness) next() Token { h.tok++; return h.tok }

func oneShot(id string, due int64) *record.Timer {
	return &record.Timer{ID: id, Subject: "s." + id, Kind: record.KindAt, Spec: "at", Due: due, Created: t0, ReqHash: hash(id, due)}
}

func hash(id string, due int64) uint64 {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(fmt.Sprint(id, due)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

func cron(id, spec string) *record.Timer {
	return &record.Timer{ID: id, Subject: "s." + id, Kind: record.KindCron, Spec: spec, Created: t0, ReqHash: hash(id+spec, 0)}
}

// schedule sends a request and returns its token (the reply may come later).
func (h *harness) schedule(rec *record.Timer, replace bool) Token {
	tok := h.next()
	h.s.Schedule(h.now, tok, Request{Timer: rec, Replace: replace})
	h.run()
	return tok
}

func (h *harness) call(f func(now int64, tok Token)) Token {
	tok := h.next()
	f(h.now, tok)
	h.run()
	return tok
}

// reply returns the reply to tok, failing the test if there is none.
func (h *harness) reply(tok Token) Reply {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok {
		h.t.Fatalf("no reply to request %d", tok)
	}
	return r
}

func (h *harness) noReply(tok Token) {
	h.t.Helper()
	if r, ok := h.replies[tok]; ok {
		h.t.Fatalf("request %d answered too early: %+v", tok, r)
	}
}

func (h *harness) code(tok Token) int {
	h.t.Helper()
	r := h.reply(tok)
	if r.Err == nil {
		return 200
	}
	var e *api.Error
	if !errors.As(r.Err, &e) {
		h.t.Fatalf("request %d: error %v is not an *api.Error", tok, r.Err)
	}
	return e.Code
}

func (h *harness) get(id string) (api.Timer, int) {
	h.t.Helper()
	tok := h.call(func(now int64, tok Token) { h.s.Get(now, tok, id, 5) })
	if c := h.code(tok); c != 200 {
		return api.Timer{}, c
	}
	return h.reply(tok).Value.(api.Timer), 200
}

// firedIDs lists the ids of every fire so far, in order.
func (h *harness) firedIDs() []string {
	var out []string
	for _, f := range h.fired {
		out = append(out, f.Timer.ID)
	}
	return out
}

// replay loads a fresh shard from the log, as a restart would.
func (h *harness) replay(mark store.Mark, replayThrough int64) *harness {
	n := &harness{t: h.t, cfg: h.cfg, now: h.now, log: h.log, replies: make(map[Token]Reply), seq: h.seq, mark: mark, tok: h.tok, purgeCut: -1,
		past: append(slices.Clone(h.past), h.fired...)}
	n.w = wheel.New(time.Millisecond, n.now)
	n.s = New(h.cfg, n.w)
	n.s.Loading(mark)
	var seqs []uint64
	for seq := range h.log {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		n.s.Apply(seq, copyOps(h.log[seq]))
	}
	n.s.Loaded(n.now, replayThrough)
	n.run()
	return n
}
