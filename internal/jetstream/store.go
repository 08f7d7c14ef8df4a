package jetstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/timerd/timerd/internal/record"
)

// StoreConfig configures the timer store.
type StoreConfig struct {
	Bucket   string // KV bucket name
	Shards   int    // shard count used when the bucket is created; an existing bucket keeps its own
	Replicas int    // bucket replicas (1 for a single NATS server)
	// MaxInFlight bounds unacknowledged group records; writers queue behind it,
	// which is what makes groups grow under load (group commit).
	MaxInFlight int
}

// Store keeps timers in a JetStream KV bucket as group records: each record
// is one message holding the operations of one shard from one commit,
// key t.<shard>.<unique>. A shard's state is the replay of its records in
// stream order. Per shard a mark p.<shard> says which one-shots have fired.
// docs/design.md has the whole layout.
type Store struct {
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	stream  jetstream.Stream
	bucket  string
	subject string // "$KV.<bucket>."
	shards  int
	pub     *AsyncPublisher
	queue   chan *write
	acked   chan int     // shard whose record was acknowledged
	pending atomic.Int64 // writes accepted and not yet done
	maxMsg  int

	writes  atomic.Uint64 // JetStream messages written (records and marks)
	stopped chan struct{}
	done    chan struct{}
}

// WriteFunc receives the outcome of a write: the stream sequence of the
// record that holds the operations, which is also their revision.
type WriteFunc func(seq uint64, err error)

type write struct {
	shard int
	ops   []record.Op
	done  WriteFunc
}

type clusterConfig struct {
	Shards int `json:"shards"`
}

// ErrStoreClosed is returned for writes after Close.
var ErrStoreClosed = errors.New("store: closed")

// OpenStore creates the bucket if it does not exist, reads (or records) the
// shard count, and starts the committer goroutine; Close stops it.
func OpenStore(ctx context.Context, nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "timerd timers: group records t.<shard>.<id>, marks p.<shard>, cfg",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %q: %w", cfg.Bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("KV bucket %q stream: %w", cfg.Bucket, err)
	}
	shards, err := loadShardCount(ctx, kv, cfg.Shards)
	if err != nil {
		return nil, err
	}
	pub, err := NewAsyncPublisher(nc, max(cfg.MaxInFlight, 1), 10*time.Second)
	if err != nil {
		return nil, err
	}
	s := &Store{
		js: js, kv: kv, stream: stream, bucket: cfg.Bucket,
		subject: "$KV." + cfg.Bucket + ".",
		shards:  shards,
		pub:     pub,
		queue:   make(chan *write, 8192),
		acked:   make(chan int, 4096),
		maxMsg:  int(min(nc.MaxPayload(), 1<<20)) - 4096,
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.commit()
	return s, nil
}

func loadShardCount(ctx context.Context, kv jetstream.KeyValue, want int) (int, error) {
	for range 3 {
		e, err := kv.Get(ctx, "cfg")
		if err == nil {
			var c clusterConfig
			if err := json.Unmarshal(e.Value(), &c); err != nil || c.Shards < 1 {
				return 0, fmt.Errorf("KV key cfg holds %q: not a timerd cluster config", e.Value())
			}
			return c.Shards, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("read cluster config: %w", err)
		}
		data, _ := json.Marshal(clusterConfig{Shards: want})
		if _, err := kv.Create(ctx, "cfg", data); err == nil {
			return want, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("record cluster config: %w", err)
		}
	}
	return 0, errors.New("cluster config changed concurrently; try again")
}

// Shards is the cluster's shard count, fixed when the bucket was created.
func (s *Store) Shards() int { return s.shards }

// Bucket is the KV bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Writes counts the JetStream messages this store has published.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Write queues ops on one shard. They are stored together with whatever
// other operations on that shard are waiting (group commit); done is called
// exactly once, from the store's ack goroutine, when their record is stored
// or has failed. Write blocks only when the queue is full.
func (s *Store) Write(ctx context.Context, shard int, ops []record.Op, done WriteFunc) {
	s.pending.Add(1)
	w := &write{shard: shard, ops: ops, done: func(seq uint64, err error) {
		done(seq, err)
		s.pending.Add(-1)
	}}
	select {
	case s.queue <- w:
	case <-s.stopped:
		w.done(0, ErrStoreClosed)
	case <-ctx.Done():
		w.done(0, ctx.Err())
	}
}

// perShardInFlight bounds the records of one shard awaiting their ack.
// Operations arriving meanwhile wait and go together into the next record:
// this is the group commit. At idle a write costs one round trip; under
// load each record carries everything that arrived during the last one.
const perShardInFlight = 2

// commit is the committer goroutine. It owns the per-shard queues: writes
// join their shard's queue, and a shard's queue is published as one record
// (split below the NATS max payload) whenever fewer than perShardInFlight
// of its records await an ack.
func (s *Store) commit() {
	defer close(s.done)
	queues := make([][]*write, s.shards)
	inFlight := make([]int, s.shards)
	flush := func(shard int) {
		for inFlight[shard] < perShardInFlight && len(queues[shard]) > 0 {
			n, size := 0, 0
			for n < len(queues[shard]) {
				w := queues[shard][n]
				ws := 0
				for _, op := range w.ops {
					ws += record.Size(op)
				}
				if n > 0 && size+ws > s.maxMsg {
					break
				}
				n, size = n+1, size+ws
			}
			group := queues[shard][:n:n]
			queues[shard] = queues[shard][n:]
			if len(queues[shard]) == 0 {
				queues[shard] = nil
			}
			if err := s.publishGroup(shard, group); err != nil {
				for _, w := range group {
					w.done(0, err)
				}
				continue
			}
			inFlight[shard]++
		}
	}
	for {
		select {
		case w := <-s.queue:
			queues[w.shard] = append(queues[w.shard], w)
			// Take everything already waiting before publishing anything.
		drain:
			for {
				select {
				case w := <-s.queue:
					queues[w.shard] = append(queues[w.shard], w)
				default:
					break drain
				}
			}
			for shard := range queues {
				flush(shard)
			}
		case shard := <-s.acked:
			inFlight[shard]--
			flush(shard)
		case <-s.stopped:
			for _, q := range queues {
				for _, w := range q {
					w.done(0, ErrStoreClosed)
				}
			}
			s.failQueued()
			return
		}
	}
}

func (s *Store) failQueued() {
	for {
		select {
		case w := <-s.queue:
			w.done(0, ErrStoreClosed)
		default:
			return
		}
	}
}

func (s *Store) publishGroup(shard int, group []*write) error {
	var ops []record.Op
	for _, w := range group {
		ops = append(ops, w.ops...)
	}
	msg := nats.NewMsg(s.subject + "t." + strconv.Itoa(shard) + "." + nuid.Next())
	msg.Data = record.AppendOps(make([]byte, 0, 256), ops)
	s.writes.Add(1)
	return s.pub.Publish(context.Background(), msg, func(ack PubAck, err error) {
		for _, w := range group {
			w.done(ack.Seq, err)
		}
		select {
		case s.acked <- shard:
		case <-s.stopped:
		}
	})
}

// Replay hands every group record of the given shards to fn in stream order,
// with its sequence (the revision of the operations in it). It returns when
// the records that existed when it started have been read.
func (s *Store) Replay(ctx context.Context, shards []int, fn func(shard int, seq uint64, ops []record.Op) error) error {
	if len(shards) == 0 {
		return nil
	}
	// All shards: no filter. A filtered consumer makes the server count its
	// pending messages by walking the subject tree, one key per record
	// (seconds at a million timers); the few other keys are skipped here.
	var filters []string
	all := len(shards) == s.shards
	if !all {
		for _, sh := range shards {
			filters = append(filters, s.subject+"t."+strconv.Itoa(sh)+".>")
		}
	}
	// One plain pull consumer for the whole replay: an ordered consumer
	// re-creates its server consumer for every fetch, and each creation
	// past the first sequence counts pending messages by walking the subject
	// tree (one key per record: seconds at a million timers). It is deleted
	// at the end; were that to fail, the server drops it when inactive.
	cons, err := s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		FilterSubjects: filters, InactiveThreshold: 10 * time.Second, MemoryStorage: true})
	if err != nil {
		return fmt.Errorf("replay consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	delivered := uint64(0) // consumer sequence of the last message: a gap is a loss
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("replay consumer info: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	// FetchNoWait returns what is stored now; each batch is read to its end
	// so its goroutine finishes, and the replay ends on the message after
	// which nothing was pending.
	for done := false; !done; {
		batch, err := cons.FetchNoWait(4096)
		if err != nil {
			return fmt.Errorf("replay fetch: %w", err)
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
				failed = fmt.Errorf("replay: message %d of the replay arrived after %d", meta.Sequence.Consumer, delivered)
				continue
			}
			delivered = meta.Sequence.Consumer
			done = meta.NumPending == 0
			if all && !strings.HasPrefix(m.Subject(), s.subject+"t.") {
				continue // cfg, lease, marks
			}
			shard, err := s.shardOf(m.Subject())
			if err != nil {
				failed = err
				continue
			}
			ops, err := record.DecodeOps(m.Data())
			if err != nil {
				failed = fmt.Errorf("record %d (%s): %w", meta.Sequence.Stream, m.Subject(), err)
				continue
			}
			if err := fn(shard, meta.Sequence.Stream, ops); err != nil {
				failed = err
				continue
			}
		}
		if failed != nil {
			return failed
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("replay fetch: %w", err)
		}
		if n == 0 && !done {
			return errors.New("replay: the stream stopped delivering before the end")
		}
	}
	return nil
}

// ReadRecord reads one group record back by its sequence (a direct get).
func (s *Store) ReadRecord(ctx context.Context, seq uint64) ([]record.Op, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("read record %d: %w", seq, err)
	}
	ops, err := record.DecodeOps(m.Data)
	if err != nil {
		return nil, fmt.Errorf("record %d (%s): %w", seq, m.Subject, err)
	}
	return ops, nil
}

func (s *Store) shardOf(subject string) (int, error) {
	rest := strings.TrimPrefix(subject, s.subject+"t.")
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return 0, fmt.Errorf("record subject %q: no shard", subject)
	}
	shard, err := strconv.Atoi(rest[:i])
	if err != nil || shard < 0 || shard >= s.shards {
		return 0, fmt.Errorf("record subject %q: bad shard", subject)
	}
	return shard, nil
}

// Mark says which one-shot timers of a shard have fired: every one-shot
// whose record has a sequence <= Seq and whose due time is <= Through.
type Mark struct {
	Through int64  // Unix nanoseconds
	Seq     uint64 // stream sequence
}

// ReadMark reads a shard's mark; the zero Mark when there is none.
func (s *Store) ReadMark(ctx context.Context, shard int) (Mark, error) {
	e, err := s.kv.Get(ctx, "p."+strconv.Itoa(shard))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Mark{}, nil
	}
	if err != nil {
		return Mark{}, fmt.Errorf("read mark of shard %d: %w", shard, err)
	}
	v := e.Value()
	if len(v) != 16 {
		return Mark{}, fmt.Errorf("mark of shard %d: %d bytes, want 16", shard, len(v))
	}
	return Mark{Through: int64(binary.LittleEndian.Uint64(v)), Seq: binary.LittleEndian.Uint64(v[8:])}, nil
}

// WriteMark publishes a shard's mark asynchronously; done gets the outcome.
func (s *Store) WriteMark(ctx context.Context, shard int, m Mark, done func(error)) {
	msg := nats.NewMsg(s.subject + "p." + strconv.Itoa(shard))
	msg.Data = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(m.Through)), m.Seq)
	s.writes.Add(1)
	if err := s.pub.Publish(ctx, msg, func(_ PubAck, err error) { done(err) }); err != nil {
		done(err)
	}
}

// PurgeBelow removes every record of a shard with a sequence below seq: the
// caller has established that none of them holds a live operation. One
// request removes any number of records, which is how completion stays far
// below one write per timer.
func (s *Store) PurgeBelow(ctx context.Context, shard int, seq uint64) error {
	s.writes.Add(1)
	err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(s.subject+"t."+strconv.Itoa(shard)+".>"), jetstream.WithPurgeSequence(seq))
	if err != nil {
		return fmt.Errorf("purge shard %d below %d: %w", shard, seq, err)
	}
	return nil
}

// Info is the bucket's stream state.
func (s *Store) Info(ctx context.Context) (msgs, bytes uint64, err error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return info.State.Msgs, info.State.Bytes, nil
}

// Drain waits until every write queued so far has its outcome.
func (s *Store) Drain(ctx context.Context) error {
	for s.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return s.pub.Drain(ctx)
}

// Close stops the committer; queued writes fail with ErrStoreClosed and
// unacknowledged ones with ErrPubClosed.
func (s *Store) Close() {
	select {
	case <-s.stopped:
		return
	default:
	}
	close(s.stopped)
	<-s.done
	s.pub.Close()
}

// Lease is the node lease: who fires this bucket's timers, and when it last
// said it was alive (its own clock).
type Lease struct {
	Node  string `json:"node"`
	Alive int64  `json:"alive"` // Unix nanoseconds of the last renewal
}

// ErrLeaseLost is returned when the lease changed under a renewal.
var ErrLeaseLost = errors.New("store: lease held by another node")

// ReadLease returns the lease and its revision; revision 0 when there is none.
func (s *Store) ReadLease(ctx context.Context) (Lease, uint64, error) {
	e, err := s.kv.Get(ctx, "lease")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Lease{}, 0, nil
	}
	if err != nil {
		return Lease{}, 0, fmt.Errorf("read lease: %w", err)
	}
	var l Lease
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return Lease{}, 0, fmt.Errorf("lease holds %q: %w", e.Value(), err)
	}
	return l, e.Revision(), nil
}

// WriteLease takes or renews the lease by compare-and-set on its revision
// (0: only if there is none). It returns the new revision, the fencing token.
func (s *Store) WriteLease(ctx context.Context, l Lease, revision uint64) (uint64, error) {
	data, _ := json.Marshal(l)
	s.writes.Add(1)
	var rev uint64
	var err error
	if revision == 0 {
		rev, err = s.kv.Create(ctx, "lease", data)
	} else {
		rev, err = s.kv.Update(ctx, "lease", data, revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrLeaseLost
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, ErrLeaseLost
	}
	if err != nil {
		return 0, fmt.Errorf("write lease: %w", err)
	}
	return rev, nil
}

// ReleaseLease gives the lease up (on a clean shutdown) if it is still ours.
func (s *Store) ReleaseLease(ctx context.Context, revision uint64) error {
	return s.kv.Delete(ctx, "lease", jetstream.LastRevision(revision))
}
