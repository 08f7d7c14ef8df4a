package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/wheel"
)

// Error is a failed operation with the protocol's code (api.Code*).
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// timer is the in-memory state of one timer. Guarded by Node.mu.
type timer struct {
	rec   *record.Timer      // definition and state as last written
	shard int                // xxhash(id) mod shards
	sched *cronfeed.Schedule // recurring kinds only
	// successor stands for the id once a state change (pause, resume) of
	// this object is stored; fires in flight are credited to it.
	successor *timer
	writing   int           // writes not yet acknowledged
	settled   chan struct{} // closed when writing drops to 0; nil when not writing

	storedSeq uint64 // record holding the latest acknowledged Put; 0: none live
	progSeq   uint64 // record holding the latest acknowledged Progress

	handle wheel.Handle // in the wheel when non-zero
	slot   uint32
	next   int64 // next nominal occurrence (Unix ns); 0: none left
	fireAt int64 // next plus jitter

	fires        int64   // occurrences handed out; the last one's Timer-Fire
	lastHanded   int64   // nominal time of the last occurrence handed out
	catchUp      []int64 // missed occurrences still to fire (misfire all)
	afterCatchUp int64   // the regular occurrence after the catch-up ones
	// replayThrough: after a load, occurrences after the recorded progress
	// and up to this time may have fired already (Unix ns; 0: none).
	replayThrough int64
	ackedFires    int64 // occurrences acknowledged, and the nominal time of the
	ackedNominal  int64 // latest: the recurring progress to record
	dirty         bool  // progress not yet recorded

	done    bool // a one-shot that has fired: kept in Node.fired for retries
	removed bool // no longer in the index
}

func (t *timer) oneShot() bool { return !t.rec.Kind.Recurring() }

// beginWrite registers a write in flight on t. Call with Node.mu held.
func (t *timer) beginWrite() {
	if t.writing == 0 {
		t.settled = make(chan struct{})
	}
	t.writing++
}

// endWrite is beginWrite's counterpart. Call with Node.mu held.
func (t *timer) endWrite() {
	t.writing--
	if t.writing == 0 {
		close(t.settled)
		t.settled = nil
	}
}

// shard is the storage bookkeeping of one shard: which of its group records
// still hold a live operation, so that dead ones can be purged. Guarded by
// Node.mu.
type shard struct {
	id           int
	live         map[uint64]int32    // record seq -> live operations in it
	order        []uint64            // record seqs, ascending, not yet purged
	tombs        map[uint64][]uint64 // record seq -> records whose deletes kill its Puts
	dead         int                 // records with no live operation, not yet purged
	purgedBelow  uint64
	unpurged     int       // records collected since the last purge
	compactAfter time.Time // no compaction pass before
	acked        uint64    // highest record seq acknowledged or replayed
	mark         jetstream.Mark
	firedSince   bool // a one-shot completed since the last mark
	loading      bool // being (re)loaded: operations answer 503
}

func newShard(id int) *shard {
	return &shard{id: id, live: make(map[uint64]int32), tombs: make(map[uint64][]uint64)}
}

func (s *shard) addRecord(seq uint64) {
	if _, ok := s.live[seq]; ok || seq < s.purgedBelow {
		return
	}
	s.live[seq] = 0
	s.dead++
	if n := len(s.order); n == 0 || s.order[n-1] < seq {
		s.order = append(s.order, seq)
	} else {
		i, _ := slices.BinarySearch(s.order, seq)
		s.order = slices.Insert(s.order, i, seq)
	}
	s.acked = max(s.acked, seq)
}

func (s *shard) inc(seq uint64) {
	if s.live[seq] == 0 {
		s.dead--
	}
	s.live[seq]++
}

func (s *shard) dec(seq uint64) {
	if v, ok := s.live[seq]; ok && v > 0 {
		s.live[seq] = v - 1
		if v == 1 {
			s.dead++
		}
	}
}

// applyStored accounts for op, stored in record seq, on timer t: which
// record now holds t's live Put and progress. The ack path and the replay
// both use it, so the bookkeeping always mirrors what a replay would see.
func (s *shard) applyStored(t *timer, seq uint64, kind record.OpKind) {
	s.addRecord(seq)
	switch kind {
	case record.OpPut:
		s.release(t)
		s.inc(seq)
		t.storedSeq = seq
	case record.OpDelete:
		if t.storedSeq != 0 {
			// The delete must outlive the record holding the Put it kills,
			// or a replay would bring the timer back.
			s.tombs[t.storedSeq] = append(s.tombs[t.storedSeq], seq)
			s.inc(seq)
		}
		s.release(t)
	case record.OpProgress:
		if t.storedSeq == 0 {
			return // the timer is gone: a replay ignores this progress
		}
		if t.progSeq != 0 {
			s.dec(t.progSeq)
		}
		s.inc(seq)
		t.progSeq = seq
	}
}

// release drops t's live operations: superseded, deleted or completed.
func (s *shard) release(t *timer) {
	if t.storedSeq != 0 {
		s.dec(t.storedSeq)
		t.storedSeq = 0
	}
	if t.progSeq != 0 {
		s.dec(t.progSeq)
		t.progSeq = 0
	}
}

// collect drops the dead records at the head and returns the sequence below
// which everything of this shard may be purged (0: nothing new, or fewer
// than purgeMinRecords records to purge and not forced).
func (s *shard) collect(force bool) uint64 {
	for len(s.order) > 0 && s.live[s.order[0]] == 0 {
		seq := s.order[0]
		s.order = s.order[1:]
		delete(s.live, seq)
		s.dead--
		for _, holder := range s.tombs[seq] {
			s.dec(holder)
		}
		delete(s.tombs, seq)
		s.unpurged++
	}
	if s.unpurged == 0 || !force && s.unpurged < purgeMinRecords {
		return 0
	}
	below := s.acked + 1
	if len(s.order) > 0 {
		below = s.order[0]
	}
	if below <= s.purgedBelow {
		return 0
	}
	s.purgedBelow, s.unpurged = below, 0
	return below
}

// reset forgets the shard's bookkeeping before a reload.
func (s *shard) reset() {
	id, mark := s.id, s.mark
	*s = *newShard(id)
	s.mark = mark
}
