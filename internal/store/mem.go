package store

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/timerd/timerd/internal/record"
)

// Mem is a Store in memory: one ordered log of messages with sequences, as
// a JetStream stream with history 1 would keep them, fences checked as the
// server checks them, and callbacks run on one goroutine of its own. Tests
// of the node use it to run a node without NATS; Fail lets them make
// writes fail.
type Mem struct {
	shards int

	mu       sync.Mutex // guards everything below
	seq      uint64
	records  map[uint64]memRecord // seq -> record
	marks    map[int]Mark
	markSeq  map[int]uint64
	leases   map[int]Lease
	leaseRev map[int]uint64
	members  map[string]Member
	memRev   map[string]uint64
	watchers []chan Event
	failNext int   // fail this many writes
	failErr  error // with this error
	closed   bool

	work chan func() // callbacks, run in order by run
	done chan struct{}
}

type memRecord struct {
	shard int
	data  []byte
}

// NewMem returns an empty in-memory store with the given shard count; Close
// stops its callback goroutine.
func NewMem(shards int) *Mem {
	m := &Mem{
		shards: shards, records: make(map[uint64]memRecord), marks: make(map[int]Mark), markSeq: make(map[int]uint64),
		leases: make(map[int]Lease), leaseRev: make(map[int]uint64),
		members: make(map[string]Member), memRev: make(map[string]uint64),
		work: make(chan func(), 1<<16), done: make(chan struct{}),
	}
	go m.run()
	return m
}

func (m *Mem) run() {
	defer close(m.done)
	for f := range m.work {
		f()
	}
}

// later runs f on the store's goroutine. Call with m.mu held (so callbacks
// keep the order of the writes).
func (m *Mem) later(f func()) {
	if m.closed {
		return
	}
	m.work <- f
}

// Fail makes the next n record or mark writes fail with err.
func (m *Mem) Fail(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext, m.failErr = n, err
}

// Shards implements Store.
func (m *Mem) Shards() int { return m.shards }

// Bucket implements Store.
func (m *Mem) Bucket() string { return "mem" }

func (m *Mem) checkFence(f Fence) error {
	if rev := m.leaseRev[f.Shard]; rev != f.Rev {
		return fmt.Errorf("%w: shard %d lease is at %d, the write was made under %d", ErrFenced, f.Shard, rev, f.Rev)
	}
	return nil
}

func (m *Mem) failing() error {
	if m.failNext > 0 {
		m.failNext--
		return m.failErr
	}
	return nil
}

// Write implements Store.
func (m *Mem) Write(f Fence, ops []record.Op, done WriteFunc) error {
	data := record.AppendOps(nil, ops)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	err := m.checkFence(f)
	if err == nil {
		err = m.failing()
	}
	var seq uint64
	if err == nil {
		m.seq++
		seq = m.seq
		m.records[seq] = memRecord{shard: f.Shard, data: data}
	}
	m.later(func() { done(seq, err) })
	return nil
}

// Replay implements Store.
func (m *Mem) Replay(ctx context.Context, shards []int, fn func(shard int, seq uint64, ops []record.Op) error) (ReplayStats, error) {
	m.mu.Lock()
	var seqs []uint64
	for seq, r := range m.records {
		if slices.Contains(shards, r.shard) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	recs := make([]memRecord, len(seqs))
	for i, seq := range seqs {
		recs[i] = m.records[seq]
	}
	m.mu.Unlock()
	var st ReplayStats
	for i, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		ops, err := record.DecodeOps(recs[i].data)
		if err != nil {
			return st, fmt.Errorf("record %d: %w", seq, err)
		}
		st.Records++
		if err := fn(recs[i].shard, seq, ops); err != nil {
			return st, err
		}
	}
	return st, nil
}

// ReadRecord implements Store.
func (m *Mem) ReadRecord(_ context.Context, seq uint64) ([]record.Op, error) {
	m.mu.Lock()
	r, ok := m.records[seq]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("record %d: %w", seq, ErrNotFound)
	}
	return record.DecodeOps(r.data)
}

// PurgeBelow implements Store.
func (m *Mem) PurgeBelow(_ context.Context, shard int, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s, r := range m.records {
		if r.shard == shard && s < seq {
			delete(m.records, s)
		}
	}
	return nil
}

// DeleteRecords implements Store.
func (m *Mem) DeleteRecords(_ context.Context, shard int, seqs []uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, seq := range seqs {
		r, ok := m.records[seq]
		if !ok {
			continue
		}
		if r.shard != shard {
			return fmt.Errorf("delete record %d of shard %d: it is a record of shard %d", seq, shard, r.shard)
		}
		delete(m.records, seq)
	}
	return nil
}

// ReadMark implements Store.
func (m *Mem) ReadMark(_ context.Context, shard int) (Mark, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.marks[shard], nil
}

// WriteMark implements Store.
func (m *Mem) WriteMark(f Fence, mark Mark, done func(error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	err := m.checkFence(f)
	if err == nil {
		err = m.failing()
	}
	if err == nil {
		m.seq++
		m.marks[f.Shard], m.markSeq[f.Shard] = mark, m.seq
	}
	m.later(func() { done(err) })
	return nil
}

// Leases implements Store.
func (m *Mem) Leases(context.Context) ([]Lease, []uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls, revs := make([]Lease, m.shards), make([]uint64, m.shards)
	for i := range ls {
		ls[i], revs[i] = m.leases[i], m.leaseRev[i]
	}
	return ls, revs, nil
}

// UpdateLease implements Store.
func (m *Mem) UpdateLease(_ context.Context, shard int, l Lease, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaseRev[shard] != rev {
		return 0, fmt.Errorf("%w: shard %d at %d, not %d", ErrLeaseChanged, shard, m.leaseRev[shard], rev)
	}
	m.seq++
	m.leases[shard], m.leaseRev[shard] = l, m.seq
	m.notify(Event{Shard: shard, Lease: l, Rev: m.seq})
	return m.seq, nil
}

// Beat implements Store.
func (m *Mem) Beat(_ context.Context, mem Member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.members[mem.Node], m.memRev[mem.Node] = mem, m.seq
	m.notify(Event{Shard: -1, Member: mem, Rev: m.seq})
	return nil
}

// Members implements Store.
func (m *Mem) Members(context.Context) ([]Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Node < b.Node {
			return -1
		}
		if a.Node > b.Node {
			return 1
		}
		return 0
	})
	return out, nil
}

// Leave implements Store.
func (m *Mem) Leave(_ context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[node]
	if !ok {
		return nil
	}
	delete(m.members, node)
	delete(m.memRev, node)
	m.seq++
	m.notify(Event{Shard: -1, Member: mem, Deleted: true, Rev: m.seq})
	return nil
}

// Watch implements Store.
func (m *Mem) Watch(ctx context.Context) (<-chan Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan Event, 1<<14)
	for i := 0; i < m.shards; i++ {
		if rev := m.leaseRev[i]; rev != 0 {
			ch <- Event{Shard: i, Lease: m.leases[i], Rev: rev}
		}
	}
	for name, mem := range m.members {
		ch <- Event{Shard: -1, Member: mem, Rev: m.memRev[name]}
	}
	m.watchers = append(m.watchers, ch)
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		if i := slices.Index(m.watchers, ch); i >= 0 {
			m.watchers = slices.Delete(m.watchers, i, i+1)
			close(ch)
		}
	}()
	return ch, nil
}

// notify sends e to every watcher (a full watcher misses it: tests size
// them generously). Call with m.mu held.
func (m *Mem) notify(e Event) {
	for _, ch := range m.watchers {
		select {
		case ch <- e:
		default:
		}
	}
}

// Info implements Store.
func (m *Mem) Info(context.Context) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := Info{Records: uint64(len(m.records) + len(m.marks) + len(m.leases) + len(m.members)), LastSeq: m.seq}
	for _, r := range m.records {
		in.Bytes += uint64(len(r.data))
	}
	return in, nil
}

// RecordCount is the number of group records held (tests of purging).
func (m *Mem) RecordCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

// Close implements Store.
func (m *Mem) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for _, ch := range m.watchers {
		close(ch)
	}
	m.watchers = nil
	close(m.work)
	m.mu.Unlock()
	<-m.done
}
