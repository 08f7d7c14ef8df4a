package cronfeed

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// The last instant int64 nanoseconds since 1970 can hold, as replies write it.
const lastInstant = "2262-04-11T23:47:16.854775807Z"

// Occurrences beyond the last instant do not exist: a schedule that would
// reach past it ends there, so no node ever stores a due time that wraps.
func TestNextStopsAtTheLastInstant(t *testing.T) {
	runNext(t, []nextCase{
		{spec: "R/2262-04-11T23:47:15Z/PT1S", after: "2262-04-11T23:47:14Z", done: true,
			want: []string{"2262-04-11T23:47:15Z", "2262-04-11T23:47:16Z"}},
		{spec: "0 0 1 1 *", start: "2261-06-01T00:00:00Z", after: "2261-06-01T00:00:00Z", done: true,
			want: []string{"2262-01-01T00:00:00Z"}},
		{spec: "@every 1h", start: "2262-04-11T21:00:00Z", after: "2262-04-11T21:00:00Z", done: true,
			want: []string{"2262-04-11T22:00:00Z", "2262-04-11T23:00:00Z"}},
		{spec: "R/P1D/2262-04-13T00:00:00Z", created: "2262-04-09T12:00:00Z", after: "2262-04-09T12:00:00Z", done: true,
			want: []string{"2262-04-10T00:00:00Z", "2262-04-11T00:00:00Z"}},
		// Nothing before 1970 either: the first occurrence of an
		// interval counted back from its end is the first one after it.
		{spec: "R/P1D/1970-01-03T00:00:00Z", after: "1969-12-01T00:00:00Z", done: true,
			want: []string{"1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z"}},
	})
}

// A schedule whose every occurrence lies beyond the last instant has none,
// and the error says where the range ends.
func TestScheduleBeyondTheLastInstantIsRefused(t *testing.T) {
	created := tm(t, "2030-01-01T00:00:00Z")
	for _, spec := range []Spec{
		{Repeat: "R5/2300-01-01T00:00:00Z/PT1H", Created: created},
		{Repeat: "R/9999-12-31T00:00:00Z/PT1H", Created: created},
		{Repeat: "R/2262-04-11T23:47:17Z/PT1S", Created: created},
		{Cron: "0 0 29 2 *", Start: tm(t, "2261-03-01T00:00:00Z"), Created: created},
		{Cron: "@every P1000Y", Start: tm(t, "2262-04-12T00:00:00Z"), Created: created},
	} {
		_, err := Compile(spec)
		if !errors.Is(err, ErrNoOccurrence) || !strings.Contains(err.Error(), lastInstant) {
			t.Errorf("Compile(%+v) = %v; want ErrNoOccurrence naming %s", spec, err, lastInstant)
		}
	}
}

func TestRangeIsInt64Nanoseconds(t *testing.T) {
	if MinTime.UnixNano() != 0 || MaxTime.UnixNano() != math.MaxInt64 || MaxTime.Format(time.RFC3339Nano) != lastInstant {
		t.Fatalf("range [%v, %v]", MinTime, MaxTime)
	}
	for _, c := range []struct {
		t    time.Time
		want error
	}{
		{MinTime, nil}, {MaxTime, nil}, {MinTime.Add(-1), ErrRange}, {MaxTime.Add(1), ErrRange},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ErrRange},
	} {
		if err := CheckTime(c.t); !errors.Is(err, c.want) || err != nil && !strings.Contains(err.Error(), "19") {
			t.Errorf("CheckTime(%v) = %v, want %v", c.t, err, c.want)
		}
	}
}

func TestDelayDue(t *testing.T) {
	now := tm(t, "2030-01-01T00:00:00Z")
	for _, c := range []struct {
		delay, want string
		err         error
	}{
		{"1500ms", "2030-01-01T00:00:01.5Z", nil},
		{"P1DT2H", "2030-01-02T02:00:00Z", nil},
		{"0s", "2030-01-01T00:00:00Z", nil},
		{"2100000h", "", ErrRange},
		{"2562047h47m16.854775807s", "", ErrRange}, // the longest Go duration
		{"P300Y", "", ErrRange},
		{"-1s", "", ErrDelay},
		{"soon", "", ErrDelay},
		{"P1Q", "", ErrPeriod},
	} {
		due, err := DelayDue(c.delay, now)
		if !errors.Is(err, c.err) || c.err == nil && !due.Equal(tm(t, c.want)) {
			t.Errorf("DelayDue(%q) = %v, %v; want %s, %v", c.delay, due, err, c.want, c.err)
		}
	}
	// Exactly to the last instant, and a nanosecond beyond it.
	d := MaxTime.Sub(now)
	if due, err := DelayDue(d.String(), now); err != nil || !due.Equal(MaxTime) {
		t.Errorf("DelayDue(%v) = %v, %v; want %v", d, due, err, MaxTime)
	}
	if _, err := DelayDue((d + 1).String(), now); !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), d.Truncate(time.Second).String()) {
		t.Errorf("DelayDue(%v) = %v; want ErrRange saying at most %v", d+1, err, d)
	}
}

// Run it for longer with, for example:
//
//	go test ./internal/cronfeed -run '^$' -fuzz '^FuzzDelayBounds$' -fuzztime 3m
//	go test ./internal/cronfeed -run '^$' -fuzz '^FuzzNextBounds$' -fuzztime 3m

// FuzzDelayBounds: a delay from any instant of the range, above all near
// its ends, gives a due time in the range, exactly now + the delay, or an
// error; never a time that wraps when stored as nanoseconds.
func FuzzDelayBounds(f *testing.F) {
	for _, seed := range []struct {
		delay string
		now   int64
	}{
		{"1ns", math.MaxInt64 - 1}, {"1ns", math.MaxInt64}, {"2562047h47m16.854775807s", 0},
		{"2562047h47m16.854775808s", 0}, {"2100000h", 1.8e18}, {"P292Y", 0}, {"P293Y", 0},
		{"P1000Y", math.MaxInt64}, {"PT0S", math.MaxInt64}, {"P1M", math.MaxInt64 - 30*24*3600e9},
		{"P1D", math.MaxInt64 - 86400e9}, {"PT100000H", 0}, {"0s", 0}, {"P1W", -1},
	} {
		f.Add(seed.delay, seed.now)
	}
	f.Fuzz(func(t *testing.T, delay string, nowNanos int64) {
		if nowNanos < 0 {
			nowNanos = -(nowNanos + 1) // every instant of the range, both ends included
		}
		now := time.Unix(0, nowNanos)
		due, err := DelayDue(delay, now)
		if err != nil {
			if !errors.Is(err, ErrDelay) && !errors.Is(err, ErrPeriod) && !errors.Is(err, ErrRange) {
				t.Fatalf("DelayDue(%q, %v): %v wraps no sentinel", delay, now, err)
			}
			if errors.Is(err, ErrRange) {
				// Refused only when the true sum is past the end.
				p, _ := ParseDelay(delay)
				if !p.AddTo(now.UTC(), 1).After(MaxTime) {
					t.Fatalf("DelayDue(%q, %v) refused a due time in range: %v", delay, now, err)
				}
			}
			return
		}
		checkStorable(t, due)
		if due.Before(now) {
			t.Fatalf("DelayDue(%q, %v) = %v, before now", delay, now, due)
		}
		if p, _ := ParseDelay(delay); p.Years == 0 && p.Months == 0 && p.Days == 0 && due.UnixNano()-nowNanos != int64(p.Clock) {
			t.Fatalf("DelayDue(%q, %v) = %v, not now + %v", delay, now, due, p.Clock)
		}
	})
}

// checkStorable fails unless t lies in the range and survives the trip
// through int64 nanoseconds that records make.
func checkStorable(t *testing.T, at time.Time) {
	t.Helper()
	if at.Before(MinTime) || at.After(MaxTime) {
		t.Fatalf("%v is outside [%v, %v]", at, MinTime, MaxTime)
	}
	if back := time.Unix(0, at.UnixNano()); !back.Equal(at) {
		t.Fatalf("%v comes back from nanoseconds as %v", at, back)
	}
}

// boundsSpecs are schedules that reach the ends of the range; their start
// or end is set by the fuzzer near one end.
var boundsSpecs = []struct {
	spec      Spec   // its Start is the fuzzed instant
	repeatFmt string // else: a Timer-Repeat, %s the fuzzed instant (its start or end)
}{
	{spec: Spec{Cron: "@every 1s"}},
	{spec: Spec{Cron: "@every PT1H0.5S"}},
	{spec: Spec{Cron: "@every P1M"}},
	{spec: Spec{Cron: "@every P1Y", Zone: "America/New_York"}},
	{spec: Spec{Cron: "* * * * * *"}},
	{spec: Spec{Cron: "0 0 29 2 *", Zone: "Australia/Sydney"}},
	{spec: Spec{Cron: "30 2 * * *", Zone: "America/New_York"}},
	{spec: Spec{Cron: "*/5 * * * *", Zone: "Australia/Lord_Howe"}},
	{repeatFmt: "R/%s/PT1S"},
	{repeatFmt: "R5/%s/P1D"},
	{repeatFmt: "R/%s/P1M"},
	{repeatFmt: "R/P1D/%s"},
	{repeatFmt: "R3/PT1H/%s"},
}

// FuzzNextBounds: near both ends of the range, every occurrence lies in
// it and survives the trip through nanoseconds, Next is strictly after its
// argument, and Next is monotonic: a later argument never gives an earlier
// occurrence, and an occurrence after b is also one after any a <= b.
func FuzzNextBounds(f *testing.F) {
	for i := range boundsSpecs {
		for _, end := range []bool{false, true} {
			f.Add(uint8(i), end, int64(-3600e9), int64(-1), uint32(1e9))
			f.Add(uint8(i), end, int64(0), int64(0), uint32(1))
			f.Add(uint8(i), end, int64(-86400e9*40), int64(-86400e9*20), uint32(12345))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, nearMax bool, anchorOff, afterOff int64, step uint32) {
		b := boundsSpecs[int(which)%len(boundsSpecs)]
		edge := MinTime
		if nearMax {
			edge = MaxTime
		}
		// Offsets within about 1.5 years of the edge, inward or outward.
		span := int64(1 << 55)
		anchor := edge.Add(time.Duration(anchorOff % span)).Truncate(time.Second)
		after := edge.Add(time.Duration(afterOff % span))
		spec := b.spec
		if b.repeatFmt != "" {
			spec.Repeat = fmt.Sprintf(b.repeatFmt, anchor.Format(time.RFC3339))
		} else {
			spec.Start = anchor
		}
		s, err := Compile(spec)
		if err != nil {
			if !errors.Is(err, ErrNoOccurrence) && !errors.Is(err, ErrRepeat) {
				t.Fatalf("Compile(%+v): %v", spec, err)
			}
			return
		}
		later := after.Add(time.Duration(step) * time.Millisecond)
		na, okA := s.Next(after)
		nb, okB := s.Next(later)
		if okA {
			checkStorable(t, na)
			if !na.After(after) {
				t.Fatalf("%s: Next(%v) = %v, not after it", s, after, na)
			}
		}
		if okB {
			checkStorable(t, nb)
			if !okA || nb.Before(na) {
				t.Fatalf("%s: Next(%v) = %v, %v but Next(%v) = %v", s, after, na, okA, later, nb)
			}
		}
		// Walk on to the end of the range: each next is later, none wraps.
		prev := na
		for i := 0; okA && i < 4; i++ {
			next, ok := s.Next(prev)
			if !ok {
				break
			}
			checkStorable(t, next)
			if !next.After(prev) {
				t.Fatalf("%s: Next(%v) = %v", s, prev, next)
			}
			prev = next
		}
	})
}
