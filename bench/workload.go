package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Workload is what every contender of one run is given: the same timers,
// due at the same offsets from the start of its ingest, with the same
// payloads, subjects and cancels. Everything is a pure function of the
// fields, so no per-timer state is kept to generate it.
type Workload struct {
	Timers        int           `json:"timers"`
	Payload       int           `json:"payload_bytes"`
	Due           time.Duration `json:"due_ns"`    // first due, after the start of ingest
	Spread        time.Duration `json:"spread_ns"` // dues spread evenly over this window (0: all at once)
	FireRate      float64       `json:"fire_rate,omitempty"`
	Shuffle       bool          `json:"shuffle"` // ingest order is not due order
	Batch         int           `json:"batch"`
	InFlight      int           `json:"in_flight"`
	BatchInFlight int           `json:"batch_in_flight"`
	CancelShare   float64       `json:"cancel_share"`
	Capture       bool          `json:"capture"` // a dedup stream captures the fire subjects
	Subjects      int           `json:"subjects"`
	Seed          uint64        `json:"seed"`
	// Far of the Timers are due FarDue after the start of ingest (a
	// millisecond apart), beyond the run: they stay pending and are not
	// expected to fire. Due, Spread and FireRate apply to the other ones.
	Far    int           `json:"far,omitempty"`
	FarDue time.Duration `json:"far_due_ns,omitempty"`
}

// minPayload is room for the timer's index at the head of every payload,
// which is how a fire is matched to its timer on every contender alike.
const minPayload = 16

// fireSubjectPrefix is where fires go; the capture stream takes fireSubjectPrefix+">".
const fireSubjectPrefix = "bench.fire."

// Normalize applies FireRate and checks the fields.
func (w *Workload) Normalize() error {
	if w.Timers < 1 {
		return errors.New("-timers must be at least 1")
	}
	if w.Payload < minPayload {
		return fmt.Errorf("-payload %d: at least %d bytes (the timer's index travels in the payload)", w.Payload, minPayload)
	}
	if w.Far < 0 || w.Far >= w.Timers {
		return fmt.Errorf("-far %d: from 0 to fewer than -timers (%d)", w.Far, w.Timers)
	}
	if w.Far > 0 && w.FarDue <= w.Due {
		return fmt.Errorf("-far-due %v: after -due %v", w.FarDue, w.Due)
	}
	if w.FireRate > 0 {
		w.Spread = time.Duration(float64(w.Near()) / w.FireRate * float64(time.Second))
	}
	if w.Due < 0 || w.Spread < 0 {
		return errors.New("-due and -spread must be 0 or more")
	}
	if w.Batch < 1 || w.InFlight < 1 || w.BatchInFlight < 1 || w.Subjects < 1 {
		return errors.New("-batch, -inflight, -batch-inflight and -subjects must be at least 1")
	}
	if w.CancelShare < 0 || w.CancelShare > 1 {
		return fmt.Errorf("-cancel %v: a share from 0 to 1", w.CancelShare)
	}
	return nil
}

// OfferedFireRate is the fires per second the spread asks for (0: a burst).
func (w *Workload) OfferedFireRate() float64 {
	if w.Spread <= 0 {
		return 0
	}
	return float64(w.Near()) / w.Spread.Seconds()
}

// Near is how many timers are due within the run (all but the far ones).
func (w *Workload) Near() int { return w.Timers - w.Far }

// IsFar says timer i is one of the far ones: never expected to fire.
func (w *Workload) IsFar(i int) bool { return w.Far > 0 && w.position(i) >= w.Near() }

// position maps index i to its place in due order. With Shuffle it is a
// bijection i -> (i*a + c) mod n with a coprime to n, so timers are sent
// in an order unrelated to when they fire, as real clients send them.
func (w *Workload) position(i int) int {
	n := w.Timers
	if !w.Shuffle || n < 3 {
		return i
	}
	a := stride(n)
	return int((uint64(i)*a + w.Seed) % uint64(n))
}

// stride returns a multiplier coprime to n near n*0.618 (a golden-ratio
// step scatters neighbours far apart).
func stride(n int) uint64 {
	a := uint64(float64(n)*0.6180339887) | 1
	for gcd(a, uint64(n)) != 1 {
		a += 2
	}
	return a
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// DueOffset is when timer i is due, after the start of ingest.
func (w *Workload) DueOffset(i int) time.Duration {
	n := w.Near()
	p := i
	if w.Far > 0 || (n > 1 && w.Spread > 0) {
		p = w.position(i)
	}
	if p >= n {
		return w.FarDue + time.Duration(p-n)*time.Millisecond
	}
	if n <= 1 || w.Spread <= 0 {
		return w.Due
	}
	return w.Due + time.Duration(float64(w.Spread)*float64(p)/float64(n-1))
}

// LastDueOffset is the offset of the last timer due within the run (far
// timers aside).
func (w *Workload) LastDueOffset() time.Duration { return w.Due + w.Spread }

// Subject is timer i's fire subject.
func (w *Workload) Subject(i int) string {
	return fireSubjectPrefix + strconv.Itoa(i%w.Subjects)
}

// ID is timer i's id.
func (w *Workload) ID(i int) string { return "b" + strconv.Itoa(i) }

// Payload is timer i's payload: its index in 16 hex digits, then 'x' up to
// the payload size. It is valid UTF-8, as a batch's "data" wants.
func (w *Workload) PayloadOf(i int) []byte {
	b := make([]byte, w.Payload)
	const hexDigits = "0123456789abcdef"
	for k := 15; k >= 0; k-- {
		b[k] = hexDigits[(i>>(4*(15-k)))&0xf]
	}
	for k := minPayload; k < len(b); k++ {
		b[k] = 'x'
	}
	return b
}

// IndexOf reads the timer index back from a fire's payload.
func IndexOf(payload []byte) (int, bool) {
	if len(payload) < minPayload {
		return 0, false
	}
	v, err := strconv.ParseUint(string(payload[:minPayload]), 16, 63)
	if err != nil {
		return 0, false
	}
	return int(v), true
}

// Cancelled says whether timer i is one of the share to cancel: a hash of
// (seed, i), so the choice is spread over due times and the same for all.
func (w *Workload) Cancelled(i int) bool {
	if w.CancelShare <= 0 {
		return false
	}
	x := uint64(i) ^ w.Seed*0x9E3779B97F4A7C15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return float64(x%1_000_000) < w.CancelShare*1_000_000
}
