package jetstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
)

// StoreConfig configures the timer store.
type StoreConfig struct {
	Bucket   string // KV bucket name
	Shards   int    // shard count used when the bucket is created; an existing bucket keeps its own
	Replicas int    // bucket replicas when it is created (1 for a single NATS server)
	// MustExist refuses to create the bucket: a node whose data directory
	// shows the bucket existed must not silently start on an empty one.
	MustExist bool
	// SkipCorrupt lets a replay go on past records it cannot read,
	// counting them (ReplayStats.Skipped) instead of failing.
	SkipCorrupt bool
	// Serial sends a shard's fenced writes one at a time, as a replicated
	// bucket always does (tests of it on one server).
	Serial bool
	// LegacyLeaseTTL: a lease key of the single-node timerd (before the
	// cluster) renewed less than this ago means such a node is running.
	LegacyLeaseTTL time.Duration
	Logger         *slog.Logger
}

// Store keeps timers in a JetStream KV bucket; it implements store.Store.
//
// Layout (docs/design.md): cfg holds the shard count; t.<shard>.<unique>
// are group records, each the operations of one shard from one commit; a
// shard's state is the replay of its records in stream order. p.<shard> is
// a shard's mark, l.<shard> its lease, n.<node> a node's registration.
//
// Every record and mark is published with Nats-Expected-Last-Subject-
// Sequence set to the writer's lease revision and -Subject naming the
// shard's lease key, so the server itself refuses the writes of a deposed
// owner (nats-server 2.11+).
type Store struct {
	js          jetstream.JetStream
	kv          jetstream.KeyValue
	stream      jetstream.Stream
	bucket      string
	subject     string // "$KV.<bucket>."
	shards      int
	pub         *AsyncPublisher
	maxMsg      int
	goneAsked   atomic.Int64 // when goneNow last asked the server (Unix ns)
	goneKnown   atomic.Bool  // the bucket's stream was found gone
	skipCorrupt bool
	denyDelete  bool // the bucket's stream refuses deletes by sequence (made by an earlier version)
	log         *slog.Logger
	// serial: one fenced write in flight per shard. A replicated stream
	// refuses a message whose expected-last-subject is already in process
	// (err_code 10164), so on R3 a shard's writes go one after another
	// (in order, each carrying the group commit of everything queued).
	serial []serialQueue
	bg     sync.WaitGroup // next() sent off a caller's goroutine

	writes atomic.Uint64 // JetStream messages written (records, marks, purges, leases, beats)
}

var _ store.Store = (*Store)(nil)

// ErrNoBucket is returned by OpenStore with MustExist when the bucket is missing.
var ErrNoBucket = errors.New("jetstream: the timers' bucket does not exist")

// OpenStore opens (or creates) the bucket and reads (or records) its shard count.
func OpenStore(ctx context.Context, nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kvcfg := jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "timerd timers: group records t.<shard>.<id>, marks p.<shard>, leases l.<shard>, nodes n.<node>, cfg",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	}
	// Nodes start together, a clustered stream needs a moment to elect its
	// leader, and a degraded NATS cluster may take minutes to answer:
	// transient errors are retried until ctx ends, each attempt with a
	// deadline of its own so that one lost request does not use up ctx.
	var kv jetstream.KeyValue
	var stream jetstream.Stream
	err = retryTransient(ctx, cfg.Logger, "opening the timers' bucket", func(ctx context.Context) error {
		var err error
		kv, stream, err = openBucket(ctx, js, kvcfg, cfg.MustExist)
		return err
	})
	if err != nil {
		return nil, err
	}
	var shards int
	err = retryTransient(ctx, cfg.Logger, "reading the cluster config", func(ctx context.Context) error {
		var err error
		shards, err = loadShardCount(ctx, kv, cfg.Shards)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := checkLegacyLease(ctx, kv, cfg.LegacyLeaseTTL); err != nil {
		return nil, err
	}
	// Records are at most a few per shard in flight and marks one: the
	// publisher never makes a writer wait (writers may be ack callbacks).
	pub, err := NewAsyncPublisher(nc, 4*shards+1024, 10*time.Second)
	if err != nil {
		return nil, err
	}
	s := &Store{
		js: js, kv: kv, stream: stream, bucket: cfg.Bucket, subject: "$KV." + cfg.Bucket + ".",
		shards: shards, pub: pub, maxMsg: int(min(nc.MaxPayload(), 1<<20)) - 4096,
		skipCorrupt: cfg.SkipCorrupt, log: cfg.Logger,
	}
	ci := stream.CachedInfo()
	if cfg.Serial || ci != nil && ci.Config.Replicas > 1 {
		s.serial = make([]serialQueue, shards)
	}
	s.denyDelete = ci == nil || ci.Config.DenyDelete
	return s, nil
}

// serialQueue holds a shard's fenced writes waiting for the one in flight.
type serialQueue struct {
	mu   sync.Mutex
	busy bool
	q    []queuedWrite
}

type queuedWrite struct {
	msg *nats.Msg
	cb  AckFunc
}

// send publishes a shard's fenced write: at once, or after the writes
// queued before it when the store is serial. cb gets the outcome exactly
// once; an error returned means cb will not be called.
func (s *Store) send(shard int, msg *nats.Msg, cb AckFunc) error {
	if s.serial == nil {
		return s.pub.Publish(context.Background(), msg, cb)
	}
	q := &s.serial[shard]
	q.mu.Lock()
	if q.busy {
		q.q = append(q.q, queuedWrite{msg, cb})
		q.mu.Unlock()
		return nil
	}
	q.busy = true
	q.mu.Unlock()
	if err := s.pub.Publish(context.Background(), msg, s.then(shard, cb)); err != nil {
		// The queued writes' callbacks must not run on this caller's
		// goroutine: the next ones go from another, which Close waits for.
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.next(shard) }()
		return err
	}
	return nil
}

// then calls cb and sends the shard's next queued write.
func (s *Store) then(shard int, cb AckFunc) AckFunc {
	return func(ack PubAck, err error) {
		cb(ack, err)
		s.next(shard)
	}
}

// next sends the shard's oldest queued write, or marks the shard idle.
// It runs on the ack goroutine, and Publish does not wait there: a serial
// store has at most one write a shard in flight, far below the
// publisher's 4*shards+1024 slots.
func (s *Store) next(shard int) {
	q := &s.serial[shard]
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		w := q.q[0]
		q.q[0] = queuedWrite{}
		q.q = q.q[1:]
		q.mu.Unlock()
		if err := s.pub.Publish(context.Background(), w.msg, s.then(shard, w.cb)); err != nil {
			w.cb(PubAck{}, err)
			continue
		}
		return
	}
}

// openBucket finds the bucket, or creates it when it is missing (and may
// be).
func openBucket(ctx context.Context, js jetstream.JetStream, kvcfg jetstream.KeyValueConfig, mustExist bool) (jetstream.KeyValue, jetstream.Stream, error) {
	kv, err := js.KeyValue(ctx, kvcfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if mustExist {
			return nil, nil, fmt.Errorf("%w: %q (its stream KV_%s is gone)", ErrNoBucket, kvcfg.Bucket, kvcfg.Bucket)
		}
		_, err = js.CreateStream(ctx, bucketStream(kvcfg))
		if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, kvcfg.Bucket) // (or another node made it meanwhile)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("KV bucket %q: %w", kvcfg.Bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+kvcfg.Bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("KV bucket %q stream: %w", kvcfg.Bucket, err)
	}
	return kv, stream, nil
}

// bucketStream is the stream of a KV bucket as nats.go's CreateKeyValue
// makes it, but for one thing: it allows deletes by sequence, which is
// how a shard's dead records behind a live one are removed one by one
// (KV buckets deny them, and a stream cannot be changed to allow them).
func bucketStream(kv jetstream.KeyValueConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + kv.Bucket,
		Description:       kv.Description,
		Subjects:          []string{"$KV." + kv.Bucket + ".>"},
		MaxMsgsPerSubject: int64(max(kv.History, 1)),
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           kv.Storage,
		Replicas:          max(kv.Replicas, 1),
		AllowRollup:       true,
		DenyDelete:        false,
		Duplicates:        2 * time.Minute,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
	}
}

// attemptTimeout bounds one attempt of retryTransient.
const attemptTimeout = 10 * time.Second

// retryTransient calls f until it succeeds, fails for good (not transient)
// or ctx ends; each call gets attemptTimeout. While it
// retries it says so every 10 s, naming the last error, so that an
// operator sees what timerd waits for.
func retryTransient(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	start := time.Now()
	lastLog := start
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			log.Warn(what+": NATS does not answer yet; still trying", "for", time.Since(start).Round(time.Second), "err", err)
		} else {
			log.Debug(what+"; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, time.Second)):
		}
	}
}

// transient reports whether err may go away by itself: no responders (a
// stream electing its leader), a timeout, JetStream not ready.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.As(err, &apiErr) && apiErr.Code == 503
}

type clusterConfig struct {
	Shards int `json:"shards"`
}

func loadShardCount(ctx context.Context, kv jetstream.KeyValue, want int) (int, error) {
	for range 3 {
		e, err := kv.Get(ctx, "cfg")
		if err == nil {
			var c clusterConfig
			if err := json.Unmarshal(e.Value(), &c); err != nil || c.Shards < 1 || c.Shards > 1<<15 {
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

// checkLegacyLease refuses to share the bucket with a running timerd of
// the single-node design (one lease key for the whole bucket), and removes
// its stale lease key.
func checkLegacyLease(ctx context.Context, kv jetstream.KeyValue, ttl time.Duration) error {
	e, err := kv.Get(ctx, "lease")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the legacy lease: %w", err)
	}
	var l struct {
		Node  string `json:"node"`
		Alive int64  `json:"alive"`
	}
	_ = json.Unmarshal(e.Value(), &l)
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	if since := time.Since(time.Unix(0, l.Alive)); since < ttl {
		return fmt.Errorf("an older timerd (node %q, single-node lease renewed %v ago) is running on this bucket: stop it before starting this version", l.Node, since.Round(time.Millisecond))
	}
	return kv.Purge(ctx, "lease", jetstream.LastRevision(e.Revision()))
}

// Shards implements store.Store.
func (s *Store) Shards() int { return s.shards }

// Bucket implements store.Store.
func (s *Store) Bucket() string { return s.bucket }

// Writes counts the JetStream messages and requests this store has made.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// MaxRecord is the largest group record the store writes.
func (s *Store) MaxRecord() int { return s.maxMsg }

func (s *Store) fenced(m *nats.Msg, f store.Fence) {
	m.Header = nats.Header{
		"Nats-Expected-Last-Subject-Sequence":         []string{strconv.FormatUint(f.Rev, 10)},
		"Nats-Expected-Last-Subject-Sequence-Subject": []string{s.subject + "l." + strconv.Itoa(f.Shard)},
	}
}

// storeErr maps a publish error to the store's errors.
func (s *Store) storeErr(err error) error {
	var apiErr *APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoStream):
		return s.goneNow(err)
	case errors.As(err, &apiErr) && (apiErr.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequence) ||
		apiErr.ErrCode == int(jetstream.JSErrCodeStreamWrongLastSequenceConstant)):
		return fmt.Errorf("%w: %v", store.ErrFenced, err)
	case errors.Is(err, ErrPubClosed):
		return fmt.Errorf("%w: %v", store.ErrClosed, err)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %v", store.ErrTooLarge, err)
	}
	return err
}

// Write implements store.Store.
func (s *Store) Write(f store.Fence, ops []record.Op, done store.WriteFunc) error {
	key := nuid.Next()
	msg := nats.NewMsg(s.subject + "t." + strconv.Itoa(f.Shard) + "." + key)
	s.fenced(msg, f)
	// Sent again after a reconnect, a record that had landed is answered
	// as a duplicate with its sequence: stored once whatever happens.
	msg.Header["Nats-Msg-Id"] = []string{key}
	size := 16
	for _, op := range ops {
		size += record.Size(op)
	}
	msg.Data = record.AppendOps(make([]byte, 0, size), ops)
	if size := len(msg.Data) + headerLen(msg.Header); size > s.maxMsg+4096 {
		return fmt.Errorf("%w: %d bytes with headers", store.ErrTooLarge, size)
	}
	s.writes.Add(1)
	if err := s.send(f.Shard, msg, func(ack PubAck, err error) { done(ack.Seq, s.storeErr(err)) }); err != nil {
		return s.storeErr(err)
	}
	return nil
}

// headerLen is the size of h on the wire ("NATS/1.0\r\n", a line a value,
// an empty line), which the server's max payload counts too.
func headerLen(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// ReadRecord implements store.Store.
func (s *Store) ReadRecord(ctx context.Context, seq uint64) ([]record.Op, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("read record %d: %w", seq, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %d: %w", seq, s.gone(ctx, err))
	}
	ops, err := record.DecodeOps(m.Data)
	if err != nil {
		return nil, fmt.Errorf("record %d (%s): %w", seq, m.Subject, err)
	}
	return ops, nil
}

// goneNow is gone for an ack callback: it asks the server at most once a
// second (a leader election fails many writes at once), and briefly.
func (s *Store) goneNow(err error) error {
	now := time.Now().UnixNano()
	last := s.goneAsked.Load()
	if s.goneKnown.Load() {
		return fmt.Errorf("%w: %v", store.ErrGone, err)
	}
	if now-last < int64(time.Second) || !s.goneAsked.CompareAndSwap(last, now) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, ierr := s.stream.Info(ctx); errors.Is(ierr, jetstream.ErrStreamNotFound) {
		s.goneKnown.Store(true)
		return fmt.Errorf("%w: %v", store.ErrGone, err)
	}
	return err
}

// gone turns err into store.ErrGone when the bucket's stream is gone. A
// missing stream says so; "no responders" (a direct get, a KV write) also
// happens while a clustered stream elects a leader, so then the server is
// asked.
func (s *Store) gone(ctx context.Context, err error) error {
	switch {
	case err == nil || errors.Is(err, store.ErrGone):
		return err
	case errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrStreamNotFound):
		return fmt.Errorf("%w: %v", store.ErrGone, err)
	case errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoStreamResponse):
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
		}
		if _, ierr := s.stream.Info(ctx); errors.Is(ierr, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%w: %v", store.ErrGone, err)
		}
	}
	return err
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

// ReadMark implements store.Store.
func (s *Store) ReadMark(ctx context.Context, shard int) (store.Mark, error) {
	e, err := s.kv.Get(ctx, "p."+strconv.Itoa(shard))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return store.Mark{}, nil
	}
	if err != nil {
		return store.Mark{}, fmt.Errorf("read mark of shard %d: %w", shard, s.gone(ctx, err))
	}
	v := e.Value()
	if len(v) != 16 {
		return store.Mark{}, fmt.Errorf("mark of shard %d: %d bytes, want 16", shard, len(v))
	}
	return store.Mark{Through: int64(binary.LittleEndian.Uint64(v)), Seq: binary.LittleEndian.Uint64(v[8:])}, nil
}

// WriteMark implements store.Store.
func (s *Store) WriteMark(f store.Fence, m store.Mark, done func(error)) error {
	msg := nats.NewMsg(s.subject + "p." + strconv.Itoa(f.Shard))
	s.fenced(msg, f)
	msg.Data = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(m.Through)), m.Seq)
	s.writes.Add(1)
	if err := s.send(f.Shard, msg, func(_ PubAck, err error) { done(s.storeErr(err)) }); err != nil {
		return s.storeErr(err)
	}
	return nil
}

// PurgeBelow implements store.Store: one request removes any number of a
// shard's records, which is how completion stays far below one write per
// timer.
func (s *Store) PurgeBelow(ctx context.Context, shard int, seq uint64) error {
	s.writes.Add(1)
	err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(s.subject+"t."+strconv.Itoa(shard)+".>"), jetstream.WithPurgeSequence(seq))
	if err != nil {
		return fmt.Errorf("purge shard %d below %d: %w", shard, seq, s.gone(ctx, err))
	}
	return nil
}

// DeleteRecords implements store.Store: a request a record, in the order
// given. A bucket this version created allows deletes by sequence; one
// created by an earlier version denies them (KV's default, which cannot
// be changed), so there a record is read for its subject and purged by it.
func (s *Store) DeleteRecords(ctx context.Context, shard int, seqs []uint64) error {
	prefix := s.subject + "t." + strconv.Itoa(shard) + "."
	for _, seq := range seqs {
		s.writes.Add(1)
		var err error
		if s.denyDelete {
			var m *jetstream.RawStreamMsg
			m, err = s.stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err == nil && !strings.HasPrefix(m.Subject, prefix) {
				return fmt.Errorf("delete record %d of shard %d: it is %s, not a record of the shard", seq, shard, m.Subject)
			}
			if err == nil {
				err = s.stream.Purge(ctx, jetstream.WithPurgeSubject(m.Subject))
			}
		} else {
			err = s.stream.DeleteMsg(ctx, seq)
			if err != nil {
				if _, gerr := s.stream.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
					continue // deleted already
				}
			}
		}
		if err != nil {
			return fmt.Errorf("delete record %d of shard %d: %w", seq, shard, s.gone(ctx, err))
		}
	}
	return nil
}

// Info implements store.Store.
func (s *Store) Info(ctx context.Context) (store.Info, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return store.Info{}, s.gone(ctx, err)
	}
	return store.Info{Records: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq}, nil
}

// Drain waits until every write so far has its outcome.
func (s *Store) Drain(ctx context.Context) error { return s.pub.Drain(ctx) }

// Close implements store.Store: writes awaiting their ack fail with store.ErrClosed.
func (s *Store) Close() {
	s.pub.Close()
	s.bg.Wait()
}
