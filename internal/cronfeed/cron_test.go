package cronfeed

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestCronCalendar(t *testing.T) {
	// 2030-05-01 is a Wednesday; 2030-01-01 a Tuesday; 2031-01-01 a Wednesday.
	runNext(t, []nextCase{
		// Month ends: day 31 only in long months.
		{spec: "0 0 31 * *", after: "2030-01-31T00:00:00Z",
			want: []string{"2030-03-31T00:00:00Z", "2030-05-31T00:00:00Z", "2030-07-31T00:00:00Z", "2030-08-31T00:00:00Z", "2030-10-31T00:00:00Z", "2030-12-31T00:00:00Z"}},
		{spec: "0 0 30 * *", after: "2030-01-30T00:00:00Z",
			want: []string{"2030-03-30T00:00:00Z", "2030-04-30T00:00:00Z"}},
		{spec: "59 23 31 12 *", after: "2030-06-01T00:00:00Z",
			want: []string{"2030-12-31T23:59:00Z", "2031-12-31T23:59:00Z"}},
		// Leap days, including the century year 2100 that is not one.
		{spec: "0 0 29 2 *", after: "2030-01-01T00:00:00Z",
			want: []string{"2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"}},
		{spec: "0 0 29 2 *", after: "2096-03-01T00:00:00Z",
			want: []string{"2104-02-29T00:00:00Z"}},
		{spec: "0 12 28-31 2 *", after: "2032-02-27T00:00:00Z",
			want: []string{"2032-02-28T12:00:00Z", "2032-02-29T12:00:00Z", "2033-02-28T12:00:00Z"}},
		// Descriptors.
		{spec: "@yearly", after: "2030-05-15T10:20:30Z", want: []string{"2031-01-01T00:00:00Z", "2032-01-01T00:00:00Z"}},
		{spec: "@annually", after: "2030-05-15T10:20:30Z", want: []string{"2031-01-01T00:00:00Z"}},
		{spec: "@monthly", after: "2030-05-15T10:20:30Z", want: []string{"2030-06-01T00:00:00Z", "2030-07-01T00:00:00Z"}},
		{spec: "@weekly", after: "2030-05-15T10:20:30Z", want: []string{"2030-05-19T00:00:00Z", "2030-05-26T00:00:00Z"}},
		{spec: "@daily", after: "2030-05-15T10:20:30Z", want: []string{"2030-05-16T00:00:00Z", "2030-05-17T00:00:00Z"}},
		{spec: "@midnight", after: "2030-05-15T10:20:30Z", want: []string{"2030-05-16T00:00:00Z"}},
		{spec: "@hourly", after: "2030-05-15T10:20:30Z", want: []string{"2030-05-15T11:00:00Z", "2030-05-15T12:00:00Z"}},
		{spec: "@Daily", after: "2030-05-15T10:20:30Z", want: []string{"2030-05-16T00:00:00Z"}},
		// Day of month OR day of week when both are restricted (Vixie).
		{spec: "0 0 13 * 5", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-03T00:00:00Z", "2030-05-10T00:00:00Z", "2030-05-13T00:00:00Z", "2030-05-17T00:00:00Z"}},
		{spec: "0 0 1-7 * MON", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-02T00:00:00Z", "2030-05-03T00:00:00Z", "2030-05-04T00:00:00Z", "2030-05-05T00:00:00Z",
				"2030-05-06T00:00:00Z", "2030-05-07T00:00:00Z", "2030-05-13T00:00:00Z"}},
		// ... AND when either starts with * (also */n, unlike robfig) or ?.
		{spec: "0 0 */2 * 5", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-03T00:00:00Z", "2030-05-17T00:00:00Z", "2030-05-31T00:00:00Z"}},
		{spec: "0 0 13 * *", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-13T00:00:00Z", "2030-06-13T00:00:00Z"}},
		{spec: "0 0 * * 5", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-03T00:00:00Z", "2030-05-10T00:00:00Z"}},
		{spec: "0 0 ? * MON", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-06T00:00:00Z", "2030-05-13T00:00:00Z"}},
		{spec: "0 0 1 * ?", after: "2030-05-01T00:00:00Z", want: []string{"2030-06-01T00:00:00Z"}},
		// Names, and 7 as Sunday.
		{spec: "0 9 * JAN-MAR MON-FRI", after: "2030-03-29T10:00:00Z",
			want: []string{"2031-01-01T09:00:00Z", "2031-01-02T09:00:00Z", "2031-01-03T09:00:00Z", "2031-01-06T09:00:00Z"}},
		{spec: "0 9 * jan,jul sat", after: "2030-05-01T00:00:00Z", want: []string{"2030-07-06T09:00:00Z"}},
		{spec: "0 0 * * 7", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-05T00:00:00Z"}},
		{spec: "0 0 * * 5-7", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-03T00:00:00Z", "2030-05-04T00:00:00Z", "2030-05-05T00:00:00Z", "2030-05-10T00:00:00Z"}},
		{spec: "0 0 * * 1-7/3", after: "2030-05-01T00:00:00Z", // Mon, Thu, Sun
			want: []string{"2030-05-02T00:00:00Z", "2030-05-05T00:00:00Z", "2030-05-06T00:00:00Z"}},
		{spec: "0 0 * * SAT-7", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-04T00:00:00Z", "2030-05-05T00:00:00Z", "2030-05-11T00:00:00Z"}},
		// Steps and ranges.
		{spec: "5/15 * * * *", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T00:05:00Z", "2030-05-01T00:20:00Z", "2030-05-01T00:35:00Z", "2030-05-01T00:50:00Z", "2030-05-01T01:05:00Z"}},
		{spec: "*/15 9-10 * * *", after: "2030-05-01T10:40:00Z",
			want: []string{"2030-05-01T10:45:00Z", "2030-05-02T09:00:00Z"}},
		{spec: "0 0 9-17/4 * * *", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T09:00:00Z", "2030-05-01T13:00:00Z", "2030-05-01T17:00:00Z", "2030-05-02T09:00:00Z"}},
		{spec: "0-10/5 0 0 * * *", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T00:00:05Z", "2030-05-01T00:00:10Z", "2030-05-02T00:00:00Z"}},
		{spec: "*/10 * * * * *", after: "2030-05-01T00:00:55.5Z",
			want: []string{"2030-05-01T00:01:00Z", "2030-05-01T00:01:10Z"}},
		{spec: "0 0 1 1,4,7,10 *", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-07-01T00:00:00Z", "2030-10-01T00:00:00Z", "2031-01-01T00:00:00Z"}},
		// A fraction of a second after a fire does not repeat it.
		{spec: "* * * * * *", after: "2030-05-01T00:00:00.999999999Z", want: []string{"2030-05-01T00:00:01Z"}},
		// Zone from the header, and from a matching prefix.
		{spec: "0 9 * * *", zone: berlin, after: "2030-05-01T00:00:00Z", want: []string{"2030-05-01T07:00:00Z"}},
		{spec: "CRON_TZ=Europe/Berlin 0 9 * * *", zone: berlin, after: "2030-05-01T00:00:00Z", want: []string{"2030-05-01T07:00:00Z"}},
		{spec: "  CRON_TZ=Asia/Kolkata\t0 9 * * *  ", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-01T03:30:00Z"}},
	})
}

func TestCronBounds(t *testing.T) {
	runNext(t, []nextCase{
		// Start and End are inclusive.
		{spec: "0 * * * *", start: "2030-01-01T05:00:00Z", end: "2030-01-01T07:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-01-01T05:00:00Z", "2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}, done: true},
		// Created is exclusive: what was due when the timer was made is not part of it.
		{spec: "0 * * * *", created: "2030-01-01T05:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-01-01T06:00:00Z"}},
		{spec: "0 * * * *", created: "2030-01-01T05:00:00Z", start: "2030-01-01T03:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-01-01T06:00:00Z"}},
		{spec: "0 * * * *", created: "2030-01-01T05:00:00Z", start: "2030-01-01T08:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-01-01T08:00:00Z"}},
		{spec: "0 0 1 1 *", end: "2031-01-01T00:00:00Z", after: "2029-06-01T00:00:00Z",
			want: []string{"2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"}, done: true},
	})
}

func TestCronFirst(t *testing.T) {
	for _, c := range []struct {
		spec, start, created, want string
	}{
		{"0 * * * *", "2030-01-01T05:00:00Z", "", "2030-01-01T05:00:00Z"},
		{"0 * * * *", "2030-01-01T05:00:01Z", "", "2030-01-01T06:00:00Z"},
		{"0 * * * *", "", "2030-01-01T05:00:00Z", "2030-01-01T06:00:00Z"},
		{"0 * * * *", "", "", ""}, // no lower bound: no first occurrence
	} {
		s, err := Compile(Spec{Cron: c.spec, Start: optTm(t, c.start), Created: optTm(t, c.created)})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := s.First()
		if c.want == "" {
			if ok {
				t.Errorf("%+v: First() = %v, want none", c, got)
			}
			continue
		}
		if !ok || !got.Equal(tm(t, c.want)) {
			t.Errorf("%+v: First() = %v, %v; want %s", c, got, ok, c.want)
		}
	}
}

func TestCronErrors(t *testing.T) {
	runErr(t, []errCase{
		// robfig v3.0.1 panics on these two (slice bounds): not here.
		{Spec{Cron: "TZ=UTC"}, ErrCron, []string{`"TZ=UTC"`, "followed by a space"}},
		{Spec{Cron: "CRON_TZ=Europe/Berlin"}, ErrCron, []string{"followed by a space"}},
		{Spec{Cron: "CRON_TZ= 0 0 * * *"}, ErrCron, []string{"needs a zone name"}},
		{Spec{Cron: "CRON_TZ=Mars/Olympus 0 0 * * *"}, ErrZone, []string{`"Mars/Olympus"`, "IANA"}},
		{Spec{Cron: "CRON_TZ=Local 0 0 * * *"}, ErrZone, []string{"differs between nodes"}},
		{Spec{Cron: "0 0 * * *", Zone: "Local"}, ErrZone, []string{"Local"}},
		{Spec{Cron: "0 0 * * *", Zone: "europe/berlin"}, ErrZone, []string{"case-sensitive"}},
		{Spec{Cron: "CRON_TZ=Europe/Berlin 0 0 * * *", Zone: "America/New_York"}, ErrZoneConflict,
			[]string{"Europe/Berlin", "America/New_York"}},
		// robfig's Next returns the zero time for these: rejected up front.
		{Spec{Cron: "0 0 30 2 *"}, ErrImpossible, []string{`"0 0 30 2 *"`, "day 30 never occurs in February"}},
		{Spec{Cron: "0 0 31 4,6,9,11 *"}, ErrImpossible, []string{"day 31 never occurs in April, June, September, November"}},
		{Spec{Cron: "0 0 31 2 */2"}, ErrImpossible, []string{"never occurs"}},
		// Malformed.
		{Spec{Cron: ""}, ErrSpec, []string{"no schedule"}},
		{Spec{Cron: "@daily", Repeat: "R/PT1H"}, ErrSpec, []string{"both"}},
		{Spec{Cron: "0 0 * *"}, ErrCron, []string{"has 4 fields", "want 5 fields"}},
		{Spec{Cron: "0 0 0 0 * * 2030"}, ErrCron, []string{"has 7 fields"}},
		{Spec{Cron: "60 * * * *"}, ErrCron, []string{`minute field "60"`, "0-59"}},
		{Spec{Cron: "0 24 * * *"}, ErrCron, []string{`hour field "24"`, "0-23"}},
		{Spec{Cron: "0 0 0 * *"}, ErrCron, []string{`day-of-month field "0"`, "1-31"}},
		{Spec{Cron: "0 0 * 13 *"}, ErrCron, []string{`month field "13"`, "JAN-DEC"}},
		{Spec{Cron: "0 0 * * 8"}, ErrCron, []string{`day-of-week field "8"`, "SUN-SAT"}},
		{Spec{Cron: "0 0 * * FRI-MON"}, ErrCron, []string{"day-of-week", "beyond end"}},
		{Spec{Cron: "*-5 * * * *"}, ErrCron, []string{`"*-5" is not a value`}},
		{Spec{Cron: "1,,2 * * * *"}, ErrCron, []string{"empty list item"}},
		{Spec{Cron: "*/0 * * * *"}, ErrCron, []string{"step"}},
		{Spec{Cron: "*/x * * * *"}, ErrCron, []string{"step after /"}},
		{Spec{Cron: "0 0 * * MON#6"}, ErrCron, []string{"day-of-week", "1 to 5"}},
		{Spec{Cron: "0 0 L-31 * *"}, ErrCron, []string{"day-of-month", "1 to 30"}},
		{Spec{Cron: "0 MON * * *"}, ErrCron, []string{"hour"}},
		{Spec{Cron: "0 0 * * 7/2"}, ErrCron, []string{"after Saturday"}},
		{Spec{Cron: "@reboot"}, ErrCron, []string{"unknown descriptor"}},
		{Spec{Cron: "@daily extra"}, ErrCron, []string{"unknown descriptor"}},
		{Spec{Cron: "@every", Created: time.Unix(0, 0)}, ErrCron, []string{"@every <duration>"}},
		{Spec{Cron: "@every 500ms", Created: time.Unix(0, 0)}, ErrCron, []string{"at least 1s"}},
		{Spec{Cron: "@every 0s", Created: time.Unix(0, 0)}, ErrCron, []string{"at least 1s"}},
		{Spec{Cron: "@every -5m", Created: time.Unix(0, 0)}, ErrCron, []string{`the interval "-5m" is neither`}},
		{Spec{Cron: "@every 1d", Created: time.Unix(0, 0)}, ErrCron, []string{"P1D"}},
		{Spec{Cron: "@every 1h"}, ErrSpec, []string{"anchor"}},
		{Spec{Cron: string(make([]byte, 600))}, ErrCron, []string{"too long"}},
	})
}

func TestCronStringAndLocation(t *testing.T) {
	s, err := Compile(Spec{Cron: "CRON_TZ=Europe/Berlin 0 9 * * 1-5"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Location().String() != berlin {
		t.Errorf("Location() = %v", s.Location())
	}
	if got, want := s.String(), `cron "0 0 9 * * 1-5" in Europe/Berlin`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	s, err = Compile(Spec{Cron: "0 9 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Location() != time.UTC {
		t.Errorf("default Location() = %v, want UTC", s.Location())
	}
}

// TestRobfigNextDiffers pins why Next is not robfig's: its SpecSchedule.Next
// skips a fixed time in the spring-forward gap and fires one in the
// fall-back hour twice. If this ever fails, robfig changed, and the
// comparison in docs/semantics.md needs another look.
func TestRobfigNextDiffers(t *testing.T) {
	upcoming := func(s cron.Schedule, after time.Time, n int) []time.Time {
		var out []time.Time
		for range n {
			after = s.Next(after)
			out = append(out, after)
		}
		return out
	}
	spring, _ := cron.ParseStandard("CRON_TZ=America/New_York 30 2 * * *")
	got := upcoming(spring, tm(t, "2030-03-09T12:00:00-05:00"), 2)
	if !got[0].Equal(tm(t, "2030-03-11T02:30:00-04:00")) {
		t.Errorf("robfig spring forward: %v; expected it to skip 2030-03-10", got)
	}
	fall, _ := cron.ParseStandard("CRON_TZ=America/New_York 30 1 * * *")
	got = upcoming(fall, tm(t, "2030-11-02T12:00:00-04:00"), 2)
	if !got[0].Equal(tm(t, "2030-11-03T01:30:00-04:00")) || !got[1].Equal(tm(t, "2030-11-03T01:30:00-05:00")) {
		t.Errorf("robfig fall back: %v; expected 01:30 EDT and 01:30 EST", got)
	}
	impossible, _ := cron.ParseStandard("0 0 30 2 *")
	if next := impossible.Next(tm(t, "2030-01-01T00:00:00Z")); !next.IsZero() {
		t.Errorf("robfig impossible spec: Next = %v, expected the zero time", next)
	}
	// robfig's day rule treats */2 as a restriction (OR); ours follows Vixie (AND).
	step, _ := cron.ParseStandard("0 0 */2 * 5")
	got = upcoming(step, tm(t, "2030-05-01T00:00:00Z"), 2)
	if !got[1].Equal(tm(t, "2030-05-05T00:00:00Z")) {
		t.Errorf("robfig */2 with a weekday: %v, expected May 3 and 5 (odd days OR Fridays)", got)
	}
}
