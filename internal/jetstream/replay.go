package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// ErrDamaged wraps what a replay finds wrong with the stored records: a
// record that does not decode, or a stream that stops delivering before
// its end (a damaged block). StoreConfig.SkipCorrupt (--skip-corrupt)
// goes on past them.
var ErrDamaged = store.ErrDamaged

// errResume: the replay lost messages in transit and goes on from the
// stream sequence after the last one it read.
var errResume = errors.New("jetstream: replay resumes")

// Replay implements store.Store: it hands every group record of the given
// shards to fn in stream order, with its sequence (the revision of the
// operations in it), and returns when the records that existed when it
// started have been read.
func (s *Store) Replay(ctx context.Context, shards []int, fn func(shard int, seq uint64, ops []record.Op) error) (store.ReplayStats, error) {
	var st store.ReplayStats
	if len(shards) == 0 {
		return st, nil
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("replay: %w", s.gone(ctx, err))
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return st, nil
	}
	// All shards: no filter. A filtered consumer makes the server count its
	// pending messages by walking the subject tree, one key per record
	// (seconds at a million timers); the few other keys are skipped here.
	var filters []string
	all := len(shards) == s.shards
	want := make(map[int]bool, len(shards))
	for _, sh := range shards {
		want[sh] = true
		if !all {
			filters = append(filters, s.subject+"t."+strconv.Itoa(sh)+".>")
		}
	}
	from := uint64(0) // stream sequence to start from (0: the beginning)
	restarts := 0
	for {
		next, err := s.replayFrom(ctx, from, last, filters, all, want, fn, &st)
		if errors.Is(err, errResume) && restarts < 20 {
			// Messages a pull abandoned under load: read on from where the
			// replay got, with a new consumer.
			restarts++
			from = next
			continue
		}
		if err == nil || !errors.Is(err, ErrDamaged) {
			return st, err
		}
		if !s.skipCorrupt {
			return st, fmt.Errorf("%w; start with --skip-corrupt to load the readable records and report how many were skipped", err)
		}
		s.log.Error("skipping damaged records", "err", err)
		// Find the next record the server can read, counting what is not.
		for next <= last {
			if _, gerr := s.stream.GetMsg(ctx, next); gerr == nil {
				break
			} else if !errors.Is(gerr, jetstream.ErrMsgNotFound) {
				st.Skipped++
			}
			next++
		}
		if next > last {
			return st, nil
		}
		from = next
	}
}

// replayFrom reads the records from stream sequence from (0: the first)
// through last with one plain pull consumer (an ordered consumer would
// re-create its server consumer on every fetch). On damage it returns the
// stream sequence after the last one read.
func (s *Store) replayFrom(ctx context.Context, from, last uint64, filters []string, all bool, want map[int]bool,
	fn func(shard int, seq uint64, ops []record.Op) error, st *store.ReplayStats) (uint64, error) {
	cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		FilterSubjects: filters, InactiveThreshold: 10 * time.Second, MemoryStorage: true}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := s.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("replay consumer: %w", s.gone(ctx, err))
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("replay consumer info: %w", err)
	}
	if ci.NumPending == 0 {
		return 0, nil
	}
	delivered := uint64(0) // consumer sequence of the last message: a gap is a loss
	lastStream := from
	if lastStream > 0 {
		lastStream--
	}
	idle := 0 // fetches in a row that brought nothing
	for done := false; !done; {
		batch, err := cons.FetchNoWait(4096)
		if err != nil {
			return 0, fmt.Errorf("replay fetch: %w", err)
		}
		n := 0
		var failed error
		for m := range batch.Messages() {
			n++
			if failed != nil || done {
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				failed = fmt.Errorf("replay metadata: %w", err)
				continue
			}
			if meta.Sequence.Consumer != delivered+1 {
				// Delivered to an earlier pull that had already ended: gone
				// for this consumer, not for the stream.
				failed = fmt.Errorf("%w: the replay's message %d arrived after %d", errResume, meta.Sequence.Consumer, delivered)
				continue
			}
			delivered = meta.Sequence.Consumer
			lastStream = meta.Sequence.Stream
			done = meta.NumPending == 0 || lastStream >= last
			if all && !strings.HasPrefix(m.Subject(), s.subject+"t.") {
				continue // cfg, marks, leases, nodes
			}
			shard, err := s.shardOf(m.Subject())
			if err != nil || !want[shard] {
				continue
			}
			ops, err := record.DecodeOps(m.Data())
			if err != nil {
				if s.skipCorrupt {
					st.Skipped++
					s.log.Error("skipping a record that does not decode", "seq", meta.Sequence.Stream, "subject", m.Subject(), "err", err)
					continue
				}
				failed = fmt.Errorf("%w: record %d (%s) does not decode: %v; start with --skip-corrupt to load the rest", ErrDamaged, meta.Sequence.Stream, m.Subject(), err)
				continue
			}
			st.Records++
			if err := fn(shard, meta.Sequence.Stream, ops); err != nil {
				failed = err
			}
		}
		if failed != nil {
			return lastStream + 1, failed
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return 0, fmt.Errorf("replay fetch: %w", err)
		}
		if n > 0 || done {
			idle = 0
			continue
		}
		// Nothing now: a busy server (a filtered consumer makes it look
		// for matching messages) may simply not have them ready. Only a
		// consumer that stays stuck with messages pending is damage.
		ci, err := cons.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("replay consumer info: %w", s.gone(ctx, err))
		}
		if ci.NumPending == 0 && ci.NumAckPending == 0 {
			return 0, nil
		}
		if idle++; idle > 40 {
			return lastStream + 1, fmt.Errorf("%w: the stream stopped delivering after sequence %d of %d with %d records pending (a damaged block?)",
				ErrDamaged, lastStream, last, ci.NumPending)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(min(idle, 10)) * 25 * time.Millisecond):
		}
	}
	return 0, nil
}
