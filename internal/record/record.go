// Package record is timerd's storage format: the timer definition as stored,
// and the group record, a list of operations on the timers of one shard that
// is written to JetStream as one message. docs/design.md explains the layout.
//
// The encoding is versioned, length-prefixed binary: compact (a 64-byte
// payload timer costs about 100 bytes), cheap to decode when a shard is
// replayed, and strict: a truncated or corrupt record is an error, never a
// half-read timer.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind is how a timer's occurrences are defined.
type Kind uint8

// Kinds, as named by the protocol's Timer-In, Timer-At, Timer-Cron and Timer-Repeat.
const (
	KindIn Kind = iota + 1
	KindAt
	KindCron
	KindRepeat
)

// String is the protocol name of the kind.
func (k Kind) String() string {
	switch k {
	case KindIn:
		return "in"
	case KindAt:
		return "at"
	case KindCron:
		return "cron"
	case KindRepeat:
		return "repeat"
	}
	return "unknown"
}

// Recurring reports whether the kind has more than one occurrence.
func (k Kind) Recurring() bool { return k == KindCron || k == KindRepeat }

// Header is one kept request header, copied onto every fire.
type Header struct{ Key, Value string }

// Timer is a timer's definition and durable state. Times are Unix nanoseconds;
// zero means absent.
type Timer struct {
	ID       string
	Subject  string
	Kind     Kind
	Spec     string // Timer-In, Timer-At, Timer-Cron or Timer-Repeat exactly as sent
	TimeZone string
	Start    int64
	End      int64
	MaxFires int64
	Misfire  uint8
	Jitter   int64 // nanoseconds
	Due      int64 // one-shots: the nominal fire time
	Created  int64
	Paused   bool
	// Failed, when not empty, says why the timer was set aside: a fire of
	// it could not be published (too large for the server, say) and is not
	// retried; the timer stays, visible, until it is replaced, resumed or
	// cancelled. Stored only when set (flag bit 1), so records written
	// before it existed decode unchanged.
	Failed string
	// Dialect is the cron dialect the spec was read in (cronfeed's
	// Schedule.Dialect: "standard", "quartz", "eventbridge"); "" for
	// repeats and for records written before dialects (standard). Stored
	// only when set (flag bit 2).
	Dialect string
	// Fires and LastNominal are the recorded progress of a recurring timer:
	// how many occurrences have fired, and the nominal time of the last one.
	Fires       int64
	LastNominal int64
	// ReqHash identifies the request that created the timer, so an identical
	// retry is recognized without keeping the request.
	ReqHash uint64
	// Revision is the timer's revision as clients see it. Zero in a freshly
	// written Put means "the sequence of the record holding this Put"; a
	// Put that rewrote a live timer unchanged (compaction, in versions
	// before 2026-12-06) carries the original, so revisions never change
	// behind a client's back.
	Revision uint64
	Headers  []Header
	Payload  []byte
}

// OpKind says what an operation does to a timer.
type OpKind uint8

// Operation kinds.
const (
	// OpPut stores a timer's whole definition and state; it supersedes every
	// earlier operation on the id.
	OpPut OpKind = iota + 1
	// OpDelete removes the timer (cancel, or a triggered one-shot).
	OpDelete
	// OpProgress records a recurring timer's fire count and last nominal time.
	OpProgress
	// OpFailed sets a stored timer aside (Timer.Failed says why): a fire of
	// it could not be published. Small on purpose: the definition may be
	// too large to store again on the server that refused its fire.
	OpFailed
)

// Op is one operation of a group record.
type Op struct {
	Kind  OpKind
	Timer *Timer // OpPut: all of it; OpDelete: ID; OpProgress: ID, Fires, LastNominal
}

const version = 1

// ErrCorrupt is returned for a record that cannot be decoded.
var ErrCorrupt = errors.New("record: corrupt group record")

// AppendOps encodes ops as one group record appended to buf.
func AppendOps(buf []byte, ops []Op) []byte {
	buf = append(buf, version)
	buf = binary.AppendUvarint(buf, uint64(len(ops)))
	for _, op := range ops {
		t := op.Timer
		buf = append(buf, byte(op.Kind))
		buf = appendString(buf, t.ID)
		switch op.Kind {
		case OpPut:
			buf = appendTimer(buf, t)
		case OpProgress:
			buf = binary.AppendVarint(buf, t.Fires)
			buf = binary.AppendVarint(buf, t.LastNominal)
		case OpFailed:
			buf = appendString(buf, t.Failed)
		}
	}
	return buf
}

// Size is an upper bound of the encoded size of op, for splitting groups.
func Size(op Op) int {
	t := op.Timer
	n := 16 + len(t.ID)
	if op.Kind == OpFailed {
		n += 8 + len(t.Failed)
	}
	if op.Kind == OpPut {
		n += 16*10 + len(t.Subject) + len(t.Spec) + len(t.TimeZone) + len(t.Payload) + len(t.Failed) + len(t.Dialect)
		for _, h := range t.Headers {
			n += 20 + len(h.Key) + len(h.Value)
		}
	}
	return n
}

func appendTimer(buf []byte, t *Timer) []byte {
	buf = appendString(buf, t.Subject)
	buf = append(buf, byte(t.Kind))
	buf = appendString(buf, t.Spec)
	buf = appendString(buf, t.TimeZone)
	for _, v := range []int64{t.Start, t.End, t.MaxFires, t.Jitter, t.Due, t.Created, t.Fires, t.LastNominal} {
		buf = binary.AppendVarint(buf, v)
	}
	buf = append(buf, t.Misfire)
	flags := byte(0)
	if t.Paused {
		flags |= 1
	}
	if t.Failed != "" {
		flags |= 2
	}
	if t.Dialect != "" {
		flags |= 4
	}
	buf = append(buf, flags)
	buf = binary.LittleEndian.AppendUint64(buf, t.ReqHash)
	buf = binary.AppendUvarint(buf, t.Revision)
	buf = binary.AppendUvarint(buf, uint64(len(t.Headers)))
	for _, h := range t.Headers {
		buf = appendString(buf, h.Key)
		buf = appendString(buf, h.Value)
	}
	buf = appendBytes(buf, t.Payload)
	if t.Failed != "" {
		buf = appendString(buf, t.Failed)
	}
	if t.Dialect != "" {
		buf = appendString(buf, t.Dialect)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// DecodeOps decodes a group record. The returned timers do not alias data.
func DecodeOps(data []byte) ([]Op, error) {
	d := decoder{buf: data}
	if v := d.byte(); v != version {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, version)
	}
	n := d.uvarint()
	if n > uint64(len(data)) {
		return nil, fmt.Errorf("%w: %d operations in %d bytes", ErrCorrupt, n, len(data))
	}
	ops := make([]Op, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		op := Op{Kind: OpKind(d.byte()), Timer: &Timer{}}
		op.Timer.ID = d.string()
		switch op.Kind {
		case OpPut:
			d.timer(op.Timer)
		case OpDelete:
		case OpProgress:
			op.Timer.Fires = d.varint()
			op.Timer.LastNominal = d.varint()
		case OpFailed:
			op.Timer.Failed = d.string()
		default:
			return nil, fmt.Errorf("%w: operation kind %d", ErrCorrupt, op.Kind)
		}
		ops = append(ops, op)
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	return ops, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrCorrupt, what)
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("byte")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("bytes")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) timer(t *Timer) {
	t.Subject = d.string()
	t.Kind = Kind(d.byte())
	t.Spec = d.string()
	t.TimeZone = d.string()
	for _, p := range []*int64{&t.Start, &t.End, &t.MaxFires, &t.Jitter, &t.Due, &t.Created, &t.Fires, &t.LastNominal} {
		*p = d.varint()
	}
	t.Misfire = d.byte()
	flags := d.byte()
	t.Paused = flags&1 != 0
	if len(d.buf) < 8 {
		d.fail("request hash")
		return
	}
	t.ReqHash = binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	t.Revision = d.uvarint()
	nh := d.uvarint()
	if nh > uint64(len(d.buf)) {
		d.fail("headers")
		return
	}
	for i := uint64(0); i < nh && d.err == nil; i++ {
		t.Headers = append(t.Headers, Header{Key: d.string(), Value: d.string()})
	}
	if p := d.bytes(); len(p) > 0 {
		t.Payload = append([]byte(nil), p...)
	}
	if flags&2 != 0 {
		t.Failed = d.string()
	}
	if flags&4 != 0 {
		t.Dialect = d.string()
	}
}
