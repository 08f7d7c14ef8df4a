package shard

import (
	"maps"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/wheel"
)

// Config configures a shard core. Zero durations take their defaults.
type Config struct {
	// ID is the shard number, also the top bits of its wheel values.
	ID int
	// Horizon: a one-shot due further ahead than this is a far entry
	// (definition only in its record). Negative: no far or near entries,
	// every timer is a loaded object. Default 1h.
	Horizon time.Duration
	// KeepFired is how long a fired one-shot is remembered for idempotent
	// retries (default 30s).
	KeepFired time.Duration
	// MaxRecord bounds a group record's encoded size (default 1 MiB - 4 KiB).
	MaxRecord int
	// RecordsInFlight bounds the shard's records awaiting their ack; ops
	// decided meanwhile go together into the next record (default 2).
	RecordsInFlight int
	// MaxFireTries sets a fire aside (the timer's state becomes failed)
	// after this many consecutive failures with an error that cannot get
	// better by retrying (too large for the server, say). Default 3.
	MaxFireTries int
}

func (c *Config) setDefaults() {
	if c.Horizon == 0 {
		c.Horizon = time.Hour
	}
	if c.KeepFired <= 0 {
		c.KeepFired = 30 * time.Second
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = 1<<20 - 4096
	}
	if c.RecordsInFlight <= 0 {
		c.RecordsInFlight = 2
	}
	if c.MaxFireTries <= 0 {
		c.MaxFireTries = 3
	}
}

// Wheel is the timing wheel the shard arms its entries on. Several shards
// share one (its memory is per wheel, not per entry); the driver guards it
// with a lock of its own, taken inside the shard's. The shard's values
// carry its ID in their top 16 bits.
type Wheel interface {
	Add(due int64, value uint64) wheel.Handle
	Cancel(h wheel.Handle) bool
	// Next is a lower bound of every armed entry's due time (ok false: none).
	Next() (int64, bool)
}

// Token names a request the driver waits on; replies carry it back.
type Token uint64

// Reply answers the request Token: Value is the protocol's reply
// (api.ScheduleReply, api.CancelReply, api.Timer, api.TriggerReply), or Err
// an *api.Error.
type Reply struct {
	Token Token
	Value any
	Err   error
}

// Record is a group record to write, in order with the shard's others.
// The driver writes it and calls Acked with its ID and outcome.
type Record struct {
	ID  uint64
	Ops []record.Op
}

// Fire is an occurrence to publish. The driver builds the message from
// Timer (never changed in place while a fire of it is out), publishes it,
// and calls Fired with its ID and outcome.
type Fire struct {
	ID      uint64
	Timer   *record.Timer
	Nominal int64 // Timer-Due, before jitter
	Number  int64 // Timer-Fire
	FireAt  int64 // when it was due (nominal plus jitter)
	Tries   int   // earlier attempts
	// Triggered: fired by timerd.trigger, not because it was due.
	Triggered bool
}

// Ready is what the shard asks its driver to do, gathered since the last
// call to Ready.
type Ready struct {
	Records []Record
	Fires   []Fire
	Replies []Reply
	// Reads are records to read back (RecordRead takes each result).
	Reads []uint64
	// Mark, when not nil, is to be written (MarkWritten takes the outcome).
	Mark *store.Mark
	// PurgeBelow, when not 0, asks to purge the shard's records below it,
	// and Deletes lists records to remove one by one: one purge, whose
	// outcome Purged takes.
	PurgeBelow uint64
	Deletes    []uint64
	// WriteFailed, when not nil, is why a record was not stored: memory may
	// now differ from the store (a write that timed out may have landed),
	// so the driver reloads the shard, or unloads it when the error is
	// store.ErrFenced (another node owns it now).
	WriteFailed error
	// SetAside lists timers whose fire could not be published and were
	// set aside (state failed), for the driver's log and metrics.
	SetAside []string
}

// Empty reports whether r asks for nothing.
func (r *Ready) Empty() bool {
	return len(r.Records) == 0 && len(r.Fires) == 0 && len(r.Replies) == 0 && len(r.Reads) == 0 &&
		r.Mark == nil && r.PurgeBelow == 0 && len(r.Deletes) == 0 && len(r.SetAside) == 0 && r.WriteFailed == nil
}

// Counts are the shard's figures, kept as it goes (no walk).
type Counts struct {
	Timers    int64 // scheduled, paused and failed
	ByKind    [5]int64
	ByTenant  map[string]int64 // timers of each tenant (api.JoinID), the operator's left out
	Paused    int64
	Failed    int64
	Far, Near int64
	Loaded    int64
	Firing    int64 // fires handed out and not yet acknowledged
	Fired     int64 // fired one-shots remembered for retries
	Records   int64 // records not yet purged
	Dead      int64 // of which hold nothing live
	Fires     uint64
	Created   uint64
	Cancelled uint64
	Retries   uint64
	SetAside  uint64
}

// Shard is the state of one shard: its timers in every form (the table),
// the liveness of its records, its mark, recurring progress, the group
// commit queue and the fires in flight. It is a pure state machine: its
// methods take the current time and the outcomes of I/O as arguments and
// gather what is to be done in Ready. Not safe for concurrent use.
type Shard struct {
	cfg   Config
	wheel Wheel

	tab  table
	recs records
	mark store.Mark

	// Group commit.
	queue     []pendingOp // decided, waiting for the next record
	inflight  map[uint64][]pendingOp
	recordSeq uint64

	// Fires handed out and not yet acknowledged, by fire ID.
	fires      map[uint64]*fire
	fireSeq    uint64
	maxJitter  int64
	retrySlots retrySlots
	dirty      []entryRef // recurring timers whose progress is not yet recorded

	// Requests waiting for an entry's writes to settle, or for a read.
	parked  map[uint32][]func(now int64)
	reading map[uint64][]readWaiter

	promoting  int        // promotion reads outstanding
	promoteLow int64      // lowest due of the entries being promoted
	scratch    []entryRef // of Promote

	checkpoints  int  // Checkpoint calls, for the periodic forced purge
	markPending  bool // a mark is being written
	purgePending bool // a purge is being done
	firedSince   bool // a one-shot completed since the last mark

	loading bool
	// While loading: the near entries whose definition has a jitter (few),
	// so that Loaded decodes only theirs; the others arm at their due.
	jittered map[uint32]bool
	broken   error // a write failed: the shard answers 503 until reloaded
	counts   Counts
	out      Ready
}

// New returns an empty shard core on w. Its entries are armed on w with
// values whose top 16 bits are cfg.ID.
func New(cfg Config, w Wheel) *Shard {
	cfg.setDefaults()
	s := &Shard{
		cfg: cfg, wheel: w,
		inflight: make(map[uint64][]pendingOp),
		fires:    make(map[uint64]*fire),
		parked:   make(map[uint32][]func(int64)),
		reading:  make(map[uint64][]readWaiter),
	}
	s.tab.init(cfg.Horizon)
	s.recs.init()
	return s
}

// ID is the shard's number.
func (s *Shard) ID() int { return s.cfg.ID }

// Ready returns what is to be done and starts gathering anew.
func (s *Shard) Ready() Ready {
	s.flush()
	r := s.out
	s.out = Ready{}
	return r
}

// Counts returns the shard's figures.
func (s *Shard) Counts() Counts {
	c := s.counts
	c.ByTenant = maps.Clone(s.counts.ByTenant)
	c.Records, c.Dead = int64(s.recs.stored()), int64(s.recs.dead+len(s.recs.doomed))
	return c
}

// Mark is the shard's mark as last written or loaded.
func (s *Shard) Mark() store.Mark { return s.mark }

func (s *Shard) reply(tok Token, v any) {
	s.out.Replies = append(s.out.Replies, Reply{Token: tok, Value: v})
}

func (s *Shard) fail(tok Token, err *api.Error) {
	s.out.Replies = append(s.out.Replies, Reply{Token: tok, Err: err})
}
