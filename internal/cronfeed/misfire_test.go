package cronfeed

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseMisfire(t *testing.T) {
	for in, want := range map[string]Misfire{"": MisfireOnce, "once": MisfireOnce, "skip": MisfireSkip, "all": MisfireAll, "ALL": MisfireAll, "Skip": MisfireSkip} {
		if got, err := ParseMisfire(in); err != nil || got != want {
			t.Errorf("ParseMisfire(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"never", "twice", " all"} {
		if _, err := ParseMisfire(in); !errors.Is(err, ErrMisfire) {
			t.Errorf("ParseMisfire(%q) error %v, want ErrMisfire", in, err)
		}
	}
	for m, want := range map[Misfire]string{MisfireOnce: "once", MisfireSkip: "skip", MisfireAll: "all", Misfire(9): "Misfire(9)"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(m), m.String(), want)
		}
	}
}

func TestDue(t *testing.T) {
	hourly := Spec{Cron: "0 * * * *", Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	ended := hourly
	ended.End = time.Date(2030, 1, 1, 5, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name           string
		spec           Spec
		policy         Misfire
		limit          int
		lastFired, now string
		fire           []string
		next           string // "" = none left
	}{
		{"skip drops the missed", hourly, MisfireSkip, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"once fires the most recent", hourly, MisfireOnce, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"all fires every one", hourly, MisfireAll, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T04:00:00Z", "2030-01-01T05:00:00Z", "2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"all pages by limit", hourly, MisfireAll, 2, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T04:00:00Z", "2030-01-01T05:00:00Z"}, "2030-01-01T06:00:00Z"},
		{"all second page", hourly, MisfireAll, 2, "2030-01-01T05:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"all exactly limit", hourly, MisfireAll, 4, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T04:00:00Z", "2030-01-01T05:00:00Z", "2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"now on an occurrence counts it", hourly, MisfireAll, 10, "2030-01-01T05:00:00Z", "2030-01-01T07:00:00Z",
			[]string{"2030-01-01T06:00:00Z", "2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"never fired: from First", hourly, MisfireAll, 10, "", "2030-01-01T03:30:00Z",
			[]string{"2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z", "2030-01-01T03:00:00Z"}, "2030-01-01T04:00:00Z"},
		{"never fired, once", hourly, MisfireOnce, 10, "", "2030-01-01T03:30:00Z",
			[]string{"2030-01-01T03:00:00Z"}, "2030-01-01T04:00:00Z"},
		{"never fired, not due yet", hourly, MisfireOnce, 10, "", "2030-01-01T00:30:00Z",
			nil, "2030-01-01T01:00:00Z"},
		{"nothing missed", hourly, MisfireOnce, 10, "2030-01-01T07:00:00Z", "2030-01-01T07:30:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"limit 0 fires nothing", hourly, MisfireOnce, 0, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"limit 0, all", hourly, MisfireAll, 0, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"clock behind the last fire", hourly, MisfireAll, 10, "2030-01-01T07:00:00Z", "2030-01-01T06:00:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"end passed while down, once", ended, MisfireOnce, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T05:00:00Z"}, ""},
		{"end passed while down, all", ended, MisfireAll, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T04:00:00Z", "2030-01-01T05:00:00Z"}, ""},
		{"end passed while down, skip", ended, MisfireSkip, 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			nil, ""},
		{"unknown policy acts as once", hourly, Misfire(42), 10, "2030-01-01T03:00:00Z", "2030-01-01T07:30:00Z",
			[]string{"2030-01-01T07:00:00Z"}, "2030-01-01T08:00:00Z"},
		{"no lower bound: nothing missed", Spec{Cron: "0 * * * *"}, MisfireAll, 10, "", "2030-01-01T07:30:00Z",
			nil, "2030-01-01T08:00:00Z"},
		{"repeat, once", Spec{Repeat: "R/2030-01-01T00:00:00Z/PT10M"}, MisfireOnce, 10, "2030-01-01T00:10:00Z", "2030-01-01T07:35:00Z",
			[]string{"2030-01-01T07:30:00Z"}, "2030-01-01T07:40:00Z"},
		{"repeat ran out", Spec{Repeat: "R3/2030-01-01T00:00:00Z/PT1H"}, MisfireOnce, 10, "2030-01-01T00:00:00Z", "2030-01-01T07:35:00Z",
			[]string{"2030-01-01T02:00:00Z"}, ""},
		{"DST, once, fixed time", Spec{Cron: "30 1 * * *", Zone: ny, Created: tm(t, "2030-11-01T00:00:00Z")}, MisfireOnce, 10,
			"2030-11-02T01:30:00-04:00", "2030-11-03T01:45:00-05:00",
			[]string{"2030-11-03T01:30:00-04:00"}, "2030-11-04T01:30:00-05:00"},
		{"DST, all, wildcard hour", Spec{Cron: "0 * * * *", Zone: ny, Created: tm(t, "2030-11-01T00:00:00Z")}, MisfireAll, 10,
			"2030-11-03T00:00:00-04:00", "2030-11-03T01:30:00-05:00",
			[]string{"2030-11-03T01:00:00-04:00", "2030-11-03T01:00:00-05:00"}, "2030-11-03T02:00:00-05:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Compile(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			fire, next, ok := s.Due(optTm(t, c.lastFired), tm(t, c.now), c.policy, c.limit)
			var want []time.Time
			for _, f := range c.fire {
				want = append(want, tm(t, f))
			}
			if !equalTimes(fire, want) {
				t.Errorf("fire = %v, want %v", fmtTimes(fire, s.Location()), c.fire)
			}
			switch {
			case c.next == "" && ok:
				t.Errorf("next = %v, want none", next)
			case c.next != "" && (!ok || !next.Equal(tm(t, c.next))):
				t.Errorf("next = %v, %v; want %s", next, ok, c.next)
			}
		})
	}
}

// TestDueModel compares Due with a plain enumeration of the occurrences in
// (lastFired, now], for random schedules and windows.
func TestDueModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	created := tm(t, "2030-01-01T00:00:00Z")
	day := 24 * time.Hour
	for _, c := range []struct {
		spec   Spec
		window time.Duration // longest downtime tried
	}{
		{Spec{Cron: "* * * * * *", Created: created}, 10 * time.Minute},
		{Spec{Cron: "*/7 * * * *", Zone: ny, Created: created}, 3 * day},
		{Spec{Cron: "30 2 * * *", Zone: ny, Created: created}, 30 * day},
		{Spec{Cron: "0 0 29 2 *", Created: created}, 3000 * day},
		{Spec{Cron: "0 9 * * MON-FRI", Zone: lhi, Created: created}, 30 * day},
		{Spec{Cron: "@every 1h1s", Created: created}, 3 * day},
		{Spec{Repeat: "R/2030-01-31T10:00:00/P1M", Zone: berlin}, 300 * day},
		{Spec{Repeat: "R40/P1D/2030-03-01T00:00:00Z"}, 30 * day},
	} {
		s, err := Compile(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := s.First()
		for range 40 {
			last := first.Add(time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
			now := last.Add(time.Duration(rng.Int64N(int64(c.window))))
			if rng.IntN(4) == 0 {
				last = time.Time{}
				now = first.Add(time.Duration(rng.Int64N(int64(c.window))))
			}
			var missed []time.Time
			from := last
			if from.IsZero() {
				from = first.Add(-time.Nanosecond)
			}
			for u, ok := s.Next(from); ok && !u.After(now); u, ok = s.Next(u) {
				missed = append(missed, u)
			}
			wantNext, wantOK := s.Next(now)
			if now.Before(from) {
				wantNext, wantOK = s.Next(from)
			}
			fire, next, ok := s.Due(last, now, MisfireOnce, 5)
			if len(missed) > 0 && (len(fire) != 1 || !fire[0].Equal(missed[len(missed)-1])) ||
				len(missed) == 0 && len(fire) != 0 || ok != wantOK || !next.Equal(wantNext) {
				t.Fatalf("%s: once(%v, %v) = %v, %v, %v; missed %v, next %v", s, last, now, fire, next, ok, missed, wantNext)
			}
			fire, next, ok = s.Due(last, now, MisfireAll, 1000000)
			if !equalTimes(fire, missed) || ok != wantOK || !next.Equal(wantNext) {
				t.Fatalf("%s: all(%v, %v) = %d fires, %v; missed %d", s, last, now, len(fire), next, len(missed))
			}
			if fire, next, _ = s.Due(last, now, MisfireSkip, 5); len(fire) != 0 || !next.Equal(wantNext) {
				t.Fatalf("%s: skip(%v, %v) = %v, %v", s, last, now, fire, next)
			}
		}
	}
}

func TestDueOnceIsCheapAfterLongDowntime(t *testing.T) {
	// A year of an every-second timer missed: once must not enumerate it.
	s, err := Compile(Spec{Cron: "* * * * * *", Created: tm(t, "2030-01-01T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	now := tm(t, "2031-01-01T12:34:56.789Z")
	allocs := testing.AllocsPerRun(3, func() {
		fire, next, ok := s.Due(tm(t, "2030-01-01T00:00:01Z"), now, MisfireOnce, 1)
		if len(fire) != 1 || !fire[0].Equal(tm(t, "2031-01-01T12:34:56Z")) || !ok || !next.Equal(tm(t, "2031-01-01T12:34:57Z")) {
			t.Fatalf("once = %v, %v, %v", fire, next, ok)
		}
	})
	if allocs > 10 {
		t.Errorf("Due(once) allocated %v times: it should not depend on the backlog", allocs)
	}
}

func TestFiresLeft(t *testing.T) {
	for _, c := range []struct{ max, fired, want int }{
		{0, 5, math.MaxInt}, {-1, 0, math.MaxInt}, {3, 0, 3}, {3, 1, 2}, {3, 3, 0}, {3, 5, 0},
	} {
		if got := FiresLeft(c.max, c.fired); got != c.want {
			t.Errorf("FiresLeft(%d, %d) = %d, want %d", c.max, c.fired, got, c.want)
		}
	}
}
