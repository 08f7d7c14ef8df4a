package wheel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Operations are decoded from bytes, so that the property test (random
// bytes) and the fuzz target (mutated bytes) drive the same mix: adds of
// near, overdue, equal, far and extreme dues; cancels of live, handed-out,
// cancelled, forged and zero handles; advances by small steps, huge jumps,
// to an exact due, backwards, and the node's own "sleep until Next" step.

var (
	fuzzTicks  = []time.Duration{time.Millisecond, 1, 3, time.Microsecond, time.Second, 0, 10 * time.Millisecond, -5}
	fuzzStarts = []int64{0, 1_700_000_000_000_000_000, -1_000_000_000_000, math.MaxInt64 - int64(time.Hour), math.MinInt64 + 1, 12345}
)

const maxOps = 4000

type byteReader struct{ data []byte }

func (r *byteReader) done() bool { return len(r.data) == 0 }

func (r *byteReader) bytes(n int) []byte {
	var buf [8]byte
	k := copy(buf[:n], r.data)
	r.data = r.data[k:]
	return buf[:n]
}

func (r *byteReader) byte() byte      { return r.bytes(1)[0] }
func (r *byteReader) uint16() uint16  { return binary.LittleEndian.Uint16(r.bytes(2)) }
func (r *byteReader) uint32() uint32  { return binary.LittleEndian.Uint32(r.bytes(4)) }
func (r *byteReader) uint64() uint64  { return binary.LittleEndian.Uint64(r.bytes(8)) }
func (r *byteReader) index(n int) int { return int(r.uint16()) % n }
func (r *byteReader) pick(n int) int  { return int(r.byte()) % n }
func (r *byteReader) small() int64    { return int64(r.uint16()) }
func (r *byteReader) medium() int64   { return int64(r.uint32()) }
func (r *byteReader) anyInt64() int64 { return int64(r.uint64()) }
func (r *byteReader) bigStep() int64  { return int64(r.uint64() >> 1) }

// runOps applies the operations encoded in data to a wheel and the model,
// then advances to the end of time, so every entry is checked out.
func runOps(t testing.TB, data []byte) *checker {
	r := &byteReader{data: data}
	c := newChecker(t, fuzzTicks[r.pick(len(fuzzTicks))], fuzzStarts[r.pick(len(fuzzStarts))])
	for !r.done() && c.ops < maxOps {
		c.step(r)
	}
	c.advance(math.MaxInt64)
	if c.w.Len() != 0 {
		t.Fatalf("Len() = %d after advancing to the end of time", c.w.Len())
	}
	return c
}

func (c *checker) step(r *byteReader) {
	now := c.m.now
	op := r.byte()
	c.skipNext = op&0x80 != 0
	switch int(op&0x7f) % 12 {
	case 0, 1, 2:
		c.add(c.due(r))
	case 3:
		// A burst of adds around one instant: many entries per slot.
		base, n := c.due(r), 1+r.pick(64)
		for k := 0; k < n; k++ {
			c.add(addSat(base, int64(r.byte())*c.tick/8))
		}
	case 4:
		if len(c.handles) > 0 {
			c.cancel(c.handles[r.index(len(c.handles))])
		}
	case 5:
		c.cancel(c.badHandle(r))
	case 6, 7:
		c.advance(addSat(now, r.small()*c.tick/64))
	case 8:
		switch r.pick(5) {
		case 0:
			c.advance(addSat(now, r.medium()*c.tick))
		case 4:
			// Just short of a due: leaves a partly handed-out tick behind.
			if len(c.dues) > 0 {
				c.advance(addSat(c.dues[r.index(len(c.dues))], -int64(r.byte())))
			}
		case 1:
			c.advance(addSat(now, r.bigStep()))
		case 2:
			if len(c.dues) > 0 {
				c.advance(c.dues[r.index(len(c.dues))])
			}
		case 3:
			c.advance(addSat(now, -r.small()))
		}
	case 9, 10:
		// The node loop: sleep until Next, then advance to it.
		if due, ok := c.w.Next(); ok {
			c.advance(max(due, now))
		}
	case 11:
		c.advance(now)
	}
}

// due decodes the due time of an add, relative to the wheel's time.
func (c *checker) due(r *byteReader) int64 {
	now := c.m.now
	switch r.pick(8) {
	case 0:
		return addSat(now, r.small()*c.tick/256) // within 256 ticks
	case 1:
		return addSat(now, -r.small()*c.tick/16) // overdue
	case 2:
		return now
	case 3:
		if len(c.dues) > 0 {
			return c.dues[r.index(len(c.dues))] // equal to an earlier due
		}
		return now
	case 4:
		return addSat(now, r.medium()*c.tick) // up to 4e9 ticks ahead
	case 5:
		return r.anyInt64()
	case 6:
		return []int64{math.MaxInt64, math.MinInt64, addSat(now, 1), addSat(now, -1)}[r.pick(4)]
	default:
		return addSat(now, int64(r.byte())) // within a tick or two
	}
}

// badHandle decodes a handle Cancel must refuse, or a live one by chance.
func (c *checker) badHandle(r *byteReader) Handle {
	switch r.pick(4) {
	case 0:
		if len(c.dead) > 0 {
			return c.dead[r.index(len(c.dead))] // cancelled or handed out
		}
	case 1:
		return Handle(r.uint64()) // forged
	case 2:
		if len(c.handles) > 0 {
			h := c.handles[r.index(len(c.handles))]
			return h ^ Handle(2+uint64(r.pick(4))*2)<<32 // a live slot, another generation
		}
	}
	return 0
}

// TestProperty runs random operation sequences against the model.
func TestProperty(t *testing.T) {
	seqs, size := 400, 6000
	if testing.Short() || raceEnabled {
		seqs = 120
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, size)
	for s := 0; s < seqs; s++ {
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		runOps(t, data)
	}
}

// TestDeterministic replays the same operations on two wheels and expects
// the very same hand-out order, ties included.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 20000)
	for s := 0; s < 10; s++ {
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		a, b := runOps(t, data), runOps(t, data)
		if !slices.Equal(a.log, b.log) {
			t.Fatalf("sequence %d: two runs of the same operations handed out in different orders", s)
		}
	}
}

// FuzzWheel checks the wheel against the model on fuzzed operations:
// go test -fuzz FuzzWheel ./internal/wheel
func FuzzWheel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 9, 9})
	// Equal dues, a cancel, then the node's step.
	f.Add([]byte{0, 1, 0, 2, 1, 3, 0, 0, 1, 3, 0, 0, 4, 0, 0, 9, 9})
	// A burst far ahead, then a huge jump over it.
	f.Add([]byte{0, 1, 3, 4, 0, 0, 1, 0, 40, 1, 2, 3, 4, 5, 6, 7, 8, 1, 255, 255, 255, 255, 255, 255, 255, 127})
	// Overdue adds, cancel of a handed-out handle, a forged handle.
	f.Add([]byte{2, 3, 0, 1, 9, 0, 0, 2, 11, 5, 0, 0, 0, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8})
	// One-nanosecond ticks, extreme dues.
	f.Add([]byte{1, 0, 0, 6, 0, 1, 6, 1, 2, 6, 2, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9})
	rng := rand.New(rand.NewPCG(5, 6))
	for s := 0; s < 8; s++ {
		data := make([]byte, 512)
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runOps(t, data)
	})
}
