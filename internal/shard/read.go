package shard

import (
	"errors"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// Reading records back: a far timer's definition is only in its record, so
// an operation that needs it (get, pause, trigger, ...), the promotion of
// and the promotion of far entries coming within the horizon ask the driver to
// read the record (Ready.Reads) and wait for RecordRead. One read serves
// every waiter of the same record.

// readWaiter is what waits for a record: a request to run again (retry),
// a view to build from the record (view), or the shard's own promotion.
type readWaiter struct {
	tok     Token
	hasTok  bool
	retry   func(now int64)
	view    func(now int64, ops []record.Op)
	promote bool
	refs    []entryRef // promote: the entries read in
}

func (s *Shard) read(seq uint64, w readWaiter) {
	ws, asked := s.reading[seq]
	s.reading[seq] = append(ws, w)
	if !asked {
		s.out.Reads = append(s.out.Reads, seq)
	}
}

// RecordRead takes the outcome of reading record seq back.
func (s *Shard) RecordRead(now int64, seq uint64, ops []record.Op, err error) {
	ws := s.reading[seq]
	delete(s.reading, seq)
	if err != nil {
		for _, w := range ws {
			if w.promote {
				s.promoteFailed(w.refs)
			}
			if w.hasTok {
				what := api.CodeNotReady
				if errors.Is(err, store.ErrNotFound) {
					what = api.CodeInternal
				}
				s.fail(w.tok, api.Errorf(what, "a timer's record (%d) could not be read back from the store: %v", seq, err))
			}
		}
		return
	}
	ops = lastOps(ops)
	for _, w := range ws {
		switch {
		case w.promote:
			s.promoted(seq, ops, now)
		case w.view != nil:
			w.view(now, ops)
		case w.retry != nil:
			s.loadFrom(seq, ops, now)
			w.retry(now)
		}
	}
}

// lastOps is the last operation of each id in a record: the one a timer
// stored in that record is the result of.
func lastOps(ops []record.Op) []record.Op {
	seen := make(map[string]struct{}, len(ops))
	out := make([]record.Op, 0, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		if _, dup := seen[ops[i].Timer.ID]; !dup {
			seen[ops[i].Timer.ID] = struct{}{}
			out = append(out, ops[i])
		}
	}
	return out
}

// loadFrom loads the far entries whose Put is in record seq (ops).
func (s *Shard) loadFrom(seq uint64, ops []record.Op, now int64) {
	for _, op := range ops {
		if op.Kind != record.OpPut {
			continue
		}
		if i, ok := s.tab.find(op.Timer.ID); ok && s.tab.ents[i].loc == locFar && s.tab.ents[i].seq == seq {
			s.load(i, op.Timer, now)
		}
	}
}
