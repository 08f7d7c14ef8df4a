package cronfeed

import (
	"sync"
	"testing"
	"time"
)

func TestRepeatForms(t *testing.T) {
	const early = "2000-01-01T00:00:00Z"
	runNext(t, []nextCase{
		// R[n]/start/duration: the interval starts.
		{spec: "R3/2030-01-01T00:00:00Z/PT1H", after: early, done: true,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}},
		{spec: "R1/2030-01-01T00:00:00Z/PT1H", after: early, done: true, want: []string{"2030-01-01T00:00:00Z"}},
		{spec: "R/2030-01-01T00:00:00Z/PT1H", after: "2030-06-01T00:30:00Z",
			want: []string{"2030-06-01T01:00:00Z", "2030-06-01T02:00:00Z"}},
		// R[n]/duration/end: counted back from the end, which is not itself one.
		{spec: "R5/P1D/2030-01-10T00:00:00Z", after: early, done: true,
			want: []string{"2030-01-05T00:00:00Z", "2030-01-06T00:00:00Z", "2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "2030-01-09T00:00:00Z"}},
		{spec: "R/P1D/2030-01-10T00:00:00Z", created: "2030-01-06T12:00:00Z", after: early, done: true,
			want: []string{"2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "2030-01-09T00:00:00Z"}},
		{spec: "R/P1D/2030-01-10T00:00:00Z", after: "2030-01-08T00:00:00Z", done: true,
			want: []string{"2030-01-09T00:00:00Z"}},
		{spec: "R2/P1M/2030-03-31T00:00:00Z", after: early, done: true,
			want: []string{"2030-01-31T00:00:00Z", "2030-02-28T00:00:00Z"}},
		// R[n]/start/end: the period is end - start.
		{spec: "R2/2030-01-01T00:00:00Z/2030-01-01T06:00:00Z", after: early, done: true,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T06:00:00Z"}},
		{spec: "R/2030-01-01T00:00:00Z/2030-01-01T06:00:00Z", after: "2030-01-01T07:00:00Z",
			want: []string{"2030-01-01T12:00:00Z", "2030-01-01T18:00:00Z"}},
		// Between wall clock times it is calendar days; between instants, exact.
		{spec: "R/2030-03-09T09:00:00/2030-03-10T09:00:00", zone: ny, after: early,
			want: []string{"2030-03-09T09:00:00-05:00", "2030-03-10T09:00:00-04:00", "2030-03-11T09:00:00-04:00"}},
		{spec: "R/2030-03-09T09:00:00-05:00/2030-03-10T09:00:00-04:00", zone: ny, after: early,
			want: []string{"2030-03-09T09:00:00-05:00", "2030-03-10T09:00:00-04:00", "2030-03-11T08:00:00-04:00"}},
		// ... even when the start lies in a gap: the period is the written one.
		{spec: "R/2030-03-10T02:30:00/2030-03-11T02:30:00", zone: ny, after: early,
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:30:00-04:00", "2030-03-12T02:30:00-04:00"}},
		// R[n]/duration: anchored at Start (inclusive) or Created (first one after it).
		{spec: "R3/PT1H", created: "2030-01-01T00:00:00Z", after: early, done: true,
			want: []string{"2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z", "2030-01-01T03:00:00Z"}},
		{spec: "R3/PT1H", start: "2030-01-01T00:00:00Z", created: "2029-12-01T00:00:00Z", after: early, done: true,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}},
		{spec: "R/P1W", start: "2030-01-01T09:00:00Z", after: "2030-01-02T00:00:00Z",
			want: []string{"2030-01-08T09:00:00Z", "2030-01-15T09:00:00Z"}},
		// Month arithmetic from the start, clamped, leap years.
		{spec: "R/2030-01-31T00:00:00Z/P1M", after: early,
			want: []string{"2030-01-31T00:00:00Z", "2030-02-28T00:00:00Z", "2030-03-31T00:00:00Z", "2030-04-30T00:00:00Z"}},
		{spec: "R/2032-01-31T00:00:00Z/P1M", after: early, want: []string{"2032-01-31T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{spec: "R/2032-02-29T12:00:00Z/P1Y", after: "2032-03-01T00:00:00Z",
			want: []string{"2033-02-28T12:00:00Z", "2034-02-28T12:00:00Z", "2035-02-28T12:00:00Z", "2036-02-29T12:00:00Z"}},
		{spec: "R/2030-01-31T10:00:00/P1M", zone: berlin, after: "2030-02-01T00:00:00Z",
			want: []string{"2030-02-28T10:00:00+01:00", "2030-03-31T10:00:00+02:00"}},
		// Weeks, fractions.
		{spec: "R3/2030-01-01T00:00:00Z/P2W", after: early, done: true,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-15T00:00:00Z", "2030-01-29T00:00:00Z"}},
		{spec: "R/2030-01-01T00:00:00Z/PT1.5H", after: early,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:30:00Z", "2030-01-01T03:00:00Z"}},
		{spec: "R/2030-03-09T00:00:00/P0.5D", zone: ny, after: "2030-03-09T13:00:00-05:00",
			want: []string{"2030-03-10T00:00:00-05:00", "2030-03-10T13:00:00-04:00"}},
		// P1D keeps the wall clock across DST (into the gap: its end); PT24H does not.
		{spec: "R/2030-03-09T02:30:00/P1D", zone: ny, after: early,
			want: []string{"2030-03-09T02:30:00-05:00", "2030-03-10T03:00:00-04:00", "2030-03-11T02:30:00-04:00"}},
		{spec: "R/2030-03-09T02:30:00/PT24H", zone: ny, after: early,
			want: []string{"2030-03-09T02:30:00-05:00", "2030-03-10T03:30:00-04:00", "2030-03-11T03:30:00-04:00"}},
		{spec: "R/2030-10-26T02:30:00/P1D", zone: berlin, after: early,
			want: []string{"2030-10-26T02:30:00+02:00", "2030-10-27T02:30:00+02:00", "2030-10-28T02:30:00+01:00"}},
		{spec: "R/2030-04-06T01:45:00/P1D", zone: lhi, after: early,
			want: []string{"2030-04-06T01:45:00+11:00", "2030-04-07T01:45:00+11:00", "2030-04-08T01:45:00+10:30"}},
		// A wall clock start in the gap is the gap's end; calendar steps keep
		// the time as written, exact steps count from the instant.
		{spec: "R/2030-03-10T02:30:00/P1D", zone: ny, after: early,
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:30:00-04:00"}},
		{spec: "R3/P1D/2030-03-10T02:30:00", zone: ny, after: early, done: true,
			want: []string{"2030-03-07T02:30:00-05:00", "2030-03-08T02:30:00-05:00", "2030-03-09T02:30:00-05:00"}},
		{spec: "R2/2030-10-06T02:15:00/P1D", zone: lhi, after: early, done: true,
			want: []string{"2030-10-06T02:30:00+11:00", "2030-10-07T02:15:00+11:00"}},
		{spec: "R2/2030-10-06T02:15:00/PT1H", zone: lhi, after: early, done: true,
			want: []string{"2030-10-06T02:30:00+11:00", "2030-10-06T03:30:00+11:00"}},
		// Other date-time forms: basic format, minutes only, a date alone, offsets.
		{spec: "R2/20300101T000000Z/PT1H", after: early, done: true, want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z"}},
		{spec: "R2/2030-01-01T10:00/PT1H", zone: ist, after: early, done: true,
			want: []string{"2030-01-01T10:00:00+05:30", "2030-01-01T11:00:00+05:30"}},
		{spec: "R2/2030-01-01/P1D", zone: berlin, after: early, done: true,
			want: []string{"2030-01-01T00:00:00+01:00", "2030-01-02T00:00:00+01:00"}},
		{spec: "R2/2030-01-01T00:00:00+05:30/PT1H", after: early, done: true,
			want: []string{"2029-12-31T18:30:00Z", "2029-12-31T19:30:00Z"}},
		{spec: "R2/2030-01-01T00:00:00.250+0100/PT1S", after: early, done: true,
			want: []string{"2029-12-31T23:00:00.25Z", "2029-12-31T23:00:01.25Z"}},
		// Bounds filter the occurrences; the count still numbers them from the start.
		{spec: "R3/2030-01-01T00:00:00Z/PT1H", start: "2030-01-01T01:30:00Z", after: early, done: true,
			want: []string{"2030-01-01T02:00:00Z"}},
		{spec: "R/2030-01-01T00:00:00Z/PT1H", end: "2030-01-01T02:00:00Z", after: early, done: true,
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}},
		{spec: "R3/2030-01-01T00:00:00Z/PT1H", created: "2030-01-01T00:00:00Z", after: early, done: true,
			want: []string{"2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}},
	})
}

func TestRepeatErrors(t *testing.T) {
	created := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	runErr(t, []errCase{
		{Spec{Repeat: "R0/2030-01-01T00:00:00Z/PT1H"}, ErrRepeat, []string{`the count "0"`}},
		{Spec{Repeat: "R-1/2030-01-01T00:00:00Z/PT1H"}, ErrRepeat, []string{"whole number"}},
		{Spec{Repeat: "Rx/2030-01-01T00:00:00Z/PT1H"}, ErrRepeat, []string{"whole number"}},
		{Spec{Repeat: "R3"}, ErrRepeat, []string{"want R[n]/start/duration"}},
		{Spec{Repeat: "X3/2030-01-01T00:00:00Z/PT1H"}, ErrRepeat, []string{"want R[n]/start/duration"}},
		{Spec{Repeat: "R3/a/b/c"}, ErrRepeat, []string{"want R[n]/start/duration"}},
		{Spec{Repeat: "R/PT1H/PT2H"}, ErrRepeat, []string{"a start or an end is needed"}},
		{Spec{Repeat: "R/2030-01-01T00:00:00Z", Created: created}, ErrRepeat, []string{"must be a duration"}},
		{Spec{Repeat: "R3//PT1H"}, ErrRepeat, []string{"not an ISO 8601 date-time"}},
		{Spec{Repeat: "R3/2030-13-01T00:00:00Z/PT1H"}, ErrRepeat, []string{`"2030-13-01T00:00:00Z" is not an ISO 8601 date-time`}},
		{Spec{Repeat: "R3/2030-02-30T00:00:00Z/PT1H"}, ErrRepeat, []string{"not an ISO 8601 date-time"}},
		{Spec{Repeat: "R3/tomorrow/PT1H"}, ErrRepeat, []string{"not an ISO 8601 date-time"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/PT0.5S"}, ErrRepeat, []string{"at least 1s"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/PT0S"}, ErrRepeat, []string{"at least 1s"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/P1X"}, ErrRepeat, []string{"unknown unit"}},
		{Spec{Repeat: "R3/2030-01-02T00:00:00Z/2030-01-01T00:00:00Z"}, ErrRepeat, []string{"is not after the start"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/2030-01-01T00:00:00.5Z"}, ErrRepeat, []string{"at least 1s"}},
		{Spec{Repeat: "R/PT1H"}, ErrSpec, []string{"needs an anchor"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/PT1H", Zone: "Nowhere/Special"}, ErrZone, []string{`"Nowhere/Special"`}},
		// Valid, but over before the timer was made.
		{Spec{Repeat: "R3/2020-01-01T00:00:00Z/PT1H", Created: created}, ErrNoOccurrence,
			[]string{"none after the creation time 2029-01-01T00:00:00Z"}},
		{Spec{Repeat: "R3/2030-01-01T00:00:00Z/PT1H", End: created}, ErrNoOccurrence,
			[]string{"the first occurrence, 2030-01-01T00:00:00Z, is after the end 2029-01-01T00:00:00Z"}},
	})
}

func TestEvery(t *testing.T) {
	runNext(t, []nextCase{
		// Anchored at Start: Start + k·D, aligned whatever `after` is.
		{spec: "@every 1h", start: "2030-01-01T00:00:00Z", after: "2030-01-01T05:30:00Z",
			want: []string{"2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}},
		{spec: "@every 1h", start: "2030-01-01T00:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z"}},
		{spec: "@every 7m", start: "2030-01-01T00:00:00Z", after: "2030-01-01T00:20:59.999Z",
			want: []string{"2030-01-01T00:21:00Z", "2030-01-01T00:28:00Z"}},
		// Anchored at Created: the first fire is one interval later; sub-second anchors stay.
		{spec: "@every 90s", created: "2030-01-01T00:00:10.5Z", after: "2000-01-01T00:00:00Z",
			want: []string{"2030-01-01T00:01:40.5Z", "2030-01-01T00:03:10.5Z"}},
		// Start in the past only aligns the grid; Created cuts what came before.
		{spec: "@every 1h", start: "2020-01-01T00:00:00Z", created: "2030-01-01T05:30:00Z", after: "2000-01-01T00:00:00Z",
			want: []string{"2030-01-01T06:00:00Z"}},
		// Exact hours ignore DST; calendar days do not.
		{spec: "@every 25h", zone: ny, start: "2030-03-09T00:00:00-05:00", after: "2030-03-09T00:00:00-05:00",
			want: []string{"2030-03-10T01:00:00-05:00", "2030-03-11T03:00:00-04:00"}},
		{spec: "@every P1D", zone: ny, start: "2030-03-09T02:30:00-05:00", after: "2030-03-09T02:30:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:30:00-04:00"}},
		{spec: "@every PT24H", zone: ny, start: "2030-03-09T02:30:00-05:00", after: "2030-03-09T02:30:00-05:00",
			want: []string{"2030-03-10T03:30:00-04:00", "2030-03-11T03:30:00-04:00"}},
		{spec: "CRON_TZ=Europe/Berlin @every P1M", start: "2030-01-31T09:00:00+01:00", after: "2030-01-31T09:00:00+01:00",
			want: []string{"2030-02-28T09:00:00+01:00", "2030-03-31T09:00:00+02:00"}},
		{spec: "@every 1s", start: "2030-01-01T00:00:00Z", after: "2030-01-01T00:00:00.5Z",
			want: []string{"2030-01-01T00:00:01Z"}},
		// Far from the anchor: no drift, no overflow, and nothing after MaxTime.
		{spec: "@every 1s", start: "2030-01-01T00:00:00Z", after: "2262-04-11T23:47:15.5Z", done: true,
			want: []string{"2262-04-11T23:47:16Z"}},
		{spec: "@every 1h", start: "2030-01-01T00:00:00Z", end: "2030-01-01T02:30:00Z", after: "2030-01-01T00:30:00Z", done: true,
			want: []string{"2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"}},
	})
}

// TestEveryAligned: from any instant, Next lands on the anchor's grid.
func TestEveryAligned(t *testing.T) {
	anchor := tm(t, "2030-01-01T00:00:00.123Z")
	for _, d := range []time.Duration{time.Second, 7 * time.Second, 90 * time.Minute, 25 * time.Hour, 1000*time.Hour + 1} {
		s, err := Compile(Spec{Cron: "@every " + d.String(), Start: anchor})
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < 2000; i++ {
			after := anchor.Add(time.Duration(i*i*7919) * time.Millisecond)
			got, ok := s.Next(after)
			if !ok || !got.After(after) || got.Sub(after) > d {
				t.Fatalf("@every %v: Next(%v) = %v, %v", d, after, got, ok)
			}
			if got.Sub(anchor)%d != 0 {
				t.Fatalf("@every %v: Next(%v) = %v is off the grid", d, after, got)
			}
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	start := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	runErr(t, []errCase{
		{Spec{Cron: "0 * * * *", Start: start, End: start.Add(-time.Second)}, ErrSpec, []string{"is before the start"}},
		{Spec{Cron: "0 0 1 1 *", Start: start, End: start.AddDate(0, 6, 0)}, ErrNoOccurrence,
			[]string{"the first occurrence, 2031-01-01T00:00:00Z, is after the end 2030-07-02T00:00:00Z"}},
		{Spec{Cron: "0 0 29 2 *", Start: start, End: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrNoOccurrence,
			[]string{"2032-02-29T00:00:00Z"}},
		{Spec{Cron: "@every 1h", Start: start, End: start.Add(-time.Hour)}, ErrSpec, []string{"before the start"}},
	})
}

// TestConcurrentUse runs one Schedule from many goroutines; -race checks it.
func TestConcurrentUse(t *testing.T) {
	for _, spec := range []Spec{
		{Cron: "*/5 * * * *", Zone: ny},
		{Cron: "@every 90s", Created: tm(t, "2030-01-01T00:00:00Z")},
		{Repeat: "R/2030-01-31T00:00:00/P1M", Zone: berlin},
	} {
		s, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		base := tm(t, "2030-03-01T00:00:00Z")
		want := s.Upcoming(base, 50)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				got := s.Upcoming(base, 50)
				if !equalTimes(got, want) {
					t.Errorf("goroutine %d: %v", g, got)
				}
				s.Due(base, base.Add(24*time.Hour), MisfireAll, 10)
			})
		}
		wg.Wait()
	}
}
