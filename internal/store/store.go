// Package store is the interface between a timerd node and where its timers
// are kept: group records per shard, shard marks, shard leases and the node
// registry. internal/jetstream implements it on a JetStream KV bucket; Mem
// implements it in memory for tests of the node, and is the second
// implementation that keeps the interface honest.
//
// Every write that changes a shard carries a Fence: the revision of the
// shard's lease as the writer last claimed it. A store refuses (ErrFenced)
// any write whose fence is not the lease's current revision, so a deposed
// owner (paused, partitioned) can never store anything once another node
// has taken the shard. JetStream enforces it in the server itself with
// Nats-Expected-Last-Subject-Sequence(-Subject) on the lease key.
//
// Callbacks (WriteFunc, MarkFunc) never run on the caller's goroutine, and
// a callback may take a lock its caller takes. But Write may wait for room
// while many writes await their acks (backpressure), so a caller must not
// hold across Write a lock its callbacks take: the node's shard driver
// takes its lock around each Write, never across it.
package store

import (
	"context"
	"errors"

	"github.com/timerd/timerd/internal/record"
)

// Errors every implementation returns (wrapped) for these conditions.
var (
	// ErrFenced: the write's fence is not the shard lease's current
	// revision: another node owns the shard now.
	ErrFenced = errors.New("store: shard lease changed (fenced)")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrGone: the bucket no longer exists (deleted while running).
	ErrGone = errors.New("store: the bucket is gone")
	// ErrNotFound: no such record (purged, or never written).
	ErrNotFound = errors.New("store: not found")
	// ErrLeaseChanged: a lease CAS found another revision.
	ErrLeaseChanged = errors.New("store: lease changed under the update")
	// ErrDamaged: stored records cannot be read (a damaged block, records
	// lost from the stream's tail). Retrying does not help.
	ErrDamaged = errors.New("store: stored records are damaged")
	// ErrTooLarge: a record does not fit in one message.
	ErrTooLarge = errors.New("store: record too large")
)

// Fence names the shard lease revision a write is made under.
type Fence struct {
	Shard int
	Rev   uint64
}

// Mark says which one-shot timers of a shard have fired: every one-shot
// whose Put is in a record with sequence <= Seq and whose due time is <=
// Through.
type Mark struct {
	Through int64  // Unix nanoseconds
	Seq     uint64 // stream sequence
}

// Lease is a shard's owner. Its revision (returned beside it) is the fencing
// token: it changes only when the owner changes.
type Lease struct {
	Node     string `json:"node"`     // "" : released, any node may take it
	Instance string `json:"instance"` // the owning process (a restart under the same name is a new owner)
	From     string `json:"from,omitempty"`
}

// Member is a node's registration, rewritten by its heartbeat.
type Member struct {
	Node     string `json:"node"`
	Instance string `json:"instance"`
	Started  int64  `json:"started"` // Unix ns, the node's clock
	Beat     int64  `json:"beat"`    // Unix ns of this beat, the node's clock
	Version  string `json:"version,omitempty"`
	HTTP     string `json:"http,omitempty"` // its --http address, for the status page
	Leaving  bool   `json:"leaving,omitempty"`
}

// Event is a change of a lease or of a member, as seen by Watch.
type Event struct {
	// Shard >= 0: the lease of that shard changed (Lease, Rev; Rev 0 and an
	// empty Lease when deleted). Shard < 0: Member changed (Deleted when it
	// left).
	Shard   int
	Lease   Lease
	Rev     uint64
	Member  Member
	Deleted bool
}

// WriteFunc receives the outcome of a record write: the stream sequence of
// the record, which is also the revision of the Puts in it.
type WriteFunc func(seq uint64, err error)

// Store keeps a bucket's timers. Implementations are safe for concurrent use.
type Store interface {
	// Shards is the bucket's shard count, fixed when it was created.
	Shards() int
	// Bucket names the bucket, for logs and stats.
	Bucket() string

	// Write stores ops as one group record of fence.Shard, in the order of
	// the calls for that shard. done gets the outcome later, never on the
	// caller's goroutine; Write itself returns an error only when the write
	// was not started (then done is not called).
	Write(fence Fence, ops []record.Op, done WriteFunc) error
	// Replay hands every record of the given shards to fn in stream order.
	Replay(ctx context.Context, shards []int, fn func(shard int, seq uint64, ops []record.Op) error) (ReplayStats, error)
	// ReadRecord reads one record back by its sequence (ErrNotFound when purged).
	ReadRecord(ctx context.Context, seq uint64) ([]record.Op, error)
	// PurgeBelow removes every record of shard with a sequence below seq.
	PurgeBelow(ctx context.Context, shard int, seq uint64) error
	// DeleteRecords removes records of shard (sequences Write or Replay
	// gave for it; a store need not check) one by one, in the order
	// given, and stops at the first that fails. A record that is gone
	// already is no error.
	DeleteRecords(ctx context.Context, shard int, seqs []uint64) error

	// ReadMark reads a shard's mark (the zero Mark when there is none).
	ReadMark(ctx context.Context, shard int) (Mark, error)
	// WriteMark stores a shard's mark under fence; done as for Write.
	WriteMark(fence Fence, m Mark, done func(error)) error

	// Leases reads every shard's lease and revision (0: none).
	Leases(ctx context.Context) ([]Lease, []uint64, error)
	// UpdateLease sets shard's lease if its revision is still rev (0: if it
	// has none), returning the new revision; ErrLeaseChanged otherwise.
	UpdateLease(ctx context.Context, shard int, l Lease, rev uint64) (uint64, error)
	// Beat writes m as this node's registration.
	Beat(ctx context.Context, m Member) error
	// Members reads every registration with its revision.
	Members(ctx context.Context) ([]Member, error)
	// Leave removes the node's registration.
	Leave(ctx context.Context, node string) error
	// Watch reports lease and member changes from now on (after the
	// current state, which it reports first), in the order they were made,
	// until ctx ends. The bucket keeps one value a key, so a value replaced
	// before the watch delivered it may be skipped: a watcher always comes
	// to each key's latest value, not always through every one before it.
	// The channel is closed when the watch ends; it fails with ErrGone if
	// the bucket goes.
	Watch(ctx context.Context) (<-chan Event, error)

	// Info is the bucket's size.
	Info(ctx context.Context) (Info, error)
	// Close stops the store; writes not yet done fail with ErrClosed.
	Close()
}

// Info describes the bucket.
type Info struct {
	Records  uint64 // messages in the bucket (records, marks, leases, members)
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
}

// ReplayStats says what a replay read.
type ReplayStats struct {
	Records uint64 // group records handed to fn
	Skipped uint64 // records that could not be decoded and were skipped (SkipCorrupt)
}
