package cronfeed

import (
	"errors"
	"testing"
	"time"
)

// Run one for longer with, for example:
//
//	go test ./internal/cronfeed -run '^$' -fuzz '^FuzzCron$' -fuzztime 60s
//
// Without -fuzz, go test runs the seeds below as unit tests.

var fuzzZones = []string{"", "UTC", ny, berlin, sydney, lhi, ist, "Pacific/Apia", "Antarctica/Troll", "Europe/Dublin", "Mars/Base", "Local"}

var sentinels = []error{ErrPeriod, ErrDelay, ErrCron, ErrRepeat, ErrDialect, ErrZone, ErrZoneConflict, ErrImpossible, ErrNoOccurrence, ErrSpec}

// fuzzDialects are the Timer-Cron-Dialect values FuzzCron tries, valid and not.
var fuzzDialects = []string{"", DialectStandard, DialectQuartz, DialectEventBridge, "EventBridge", "vixie"}

var fuzzCreated = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// checkCompiled checks what every compiled schedule must satisfy, from after.
func checkCompiled(t *testing.T, spec Spec, s *Schedule, err error, after time.Time) {
	t.Helper()
	if err != nil {
		for _, sentinel := range sentinels {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("Compile(%+v): error %q wraps no sentinel", spec, err)
	}
	if _, ok := s.First(); !ok && s.bounded() {
		t.Fatalf("Compile(%+v) accepted a schedule without a first occurrence", spec)
	}
	prev := after
	for i := range 6 {
		next, ok := s.Next(prev)
		if !ok {
			return
		}
		if !next.After(prev) || next.After(MaxTime) || next.Location() != time.UTC {
			t.Fatalf("%s: Next(%v) = %v (occurrence %d)", s, prev, next, i)
		}
		if !spec.End.IsZero() && next.After(spec.End) || !spec.Start.IsZero() && next.Before(spec.Start) {
			t.Fatalf("%s: Next(%v) = %v outside [%v, %v]", s, prev, next, spec.Start, spec.End)
		}
		// Nothing lies between prev and next: Next from halfway agrees.
		if mid := prev.Add(next.Sub(prev) / 2); mid.After(prev) {
			if again, ok := s.Next(mid); !ok || !again.Equal(next) {
				t.Fatalf("%s: Next(%v) = %v but Next(%v) = %v, %v", s, prev, next, mid, again, ok)
			}
		}
		prev = next
	}
}

func FuzzCron(f *testing.F) {
	for _, seed := range []string{
		"0 0 * * *", "*/5 * * * *", "30 2 * * *", "30 1 * * *", "0 */2 * * *", "15,45 1-3 * * 0",
		"0 0 13 * 5", "0 0 */2 * 5", "0 0 29 2 *", "0 0 30 2 *", "0 0 31 4 *", "59 23 31 12 *",
		"0 9 * JAN-MAR MON-FRI", "0 0 * * 7", "0 0 * * 1-7/3", "*/10 * * * * *", "0-10/5 0 0 * * *",
		"@yearly", "@monthly", "@weekly", "@daily", "@hourly", "@every 90s", "@every P1D", "@every PT0.5S",
		"CRON_TZ=Europe/Berlin 0 9 * * *", "TZ=UTC", "TZ=UTC ", "CRON_TZ=", "TZ= ", "CRON_TZ=Local 0 0 * * *",
		"*-5 * * * *", "1,,2 * * * *", "*/0 * * * *", "0 0 L * *", "0 0 * * MON#2", "@reboot", "@every",
		"? ? ? ? ? ?", "0 0 0 0 0 0 0", "", " ", "@", "-", "*/", "/5 * * * *", "5- * * * *",
		// Quartz, EventBridge and the special days, in every dialect.
		"0 15 10 ? * 6L", "0 15 10 L * ?", "0 15 10 ? * 6#3", "0 0 12 1/5 * ?", "0 15 10 ? * MON-FRI 2027",
		"0 15 10 L-2 * ?", "0 0 0 15W * ?", "0 0 0 1W,31W * ?", "0 0 18 LW * ?", "0 0 0 ? 2 6#5", "0 0 0 30W 2 ?",
		"0 0 22-2 * * ?", "0 0 12 ? * FRI-MON", "0 0 12 ? * L", "0 0 12 ? * 1L,SUN#1", "0 0 0 L-30 2 ?",
		"cron(0 10 * * ? *)", "cron(0/15 * * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)",
		"cron(0 0 1 1 ? 2300)", "cron(0 0 29 2 ? 2027)", "cron(0 0 1 1 ? */100)", "cron(0 12 * * ?)", "cron(", "cron()",
		"CRON_TZ=America/New_York cron(0/30 * ? 11 1#1 2030)", "rate(5 minutes)", "0 9 * * FRI#3", "30 2 L * SUNL",
		"0 0 */16 * FRI#2", "0 0 L-31W * ?", "0 0 LW-1 * ?", "0 0 ?,1 * *", "0 0 12 ? * 7#5 1970-2262/7",
	} {
		for d := range fuzzDialects[:4] {
			f.Add(seed, uint8(2), int64(1900000000), uint8(d))
		}
	}
	f.Fuzz(func(t *testing.T, cron string, zone uint8, after int64, dialect uint8) {
		spec := Spec{Cron: cron, Dialect: fuzzDialects[int(dialect)%len(fuzzDialects)],
			Zone: fuzzZones[int(zone)%len(fuzzZones)], Created: fuzzCreated}
		s, err := Compile(spec)
		checkCompiled(t, spec, s, err, time.Unix(after%(1<<36), 0))
		if err != nil {
			return
		}
		// Persisted with the dialect it was read in, the spec means the same.
		again := spec
		again.Dialect = s.Dialect()
		if s2, err := Compile(again); err != nil || s2.String() != s.String() {
			t.Fatalf("%s: recompiled in %q: %v, %v", s, s.Dialect(), s2, err)
		}
	})
}

func FuzzRepeat(f *testing.F) {
	for _, seed := range []string{
		"R3/2030-01-01T00:00:00Z/PT1H", "R/2030-01-01T00:00:00Z/PT1H", "R5/P1D/2030-01-10T00:00:00Z",
		"R/P1D/2030-01-10T00:00:00Z", "R2/2030-01-01T00:00:00Z/2030-01-01T06:00:00Z", "R/2030-03-09T09:00:00/2030-03-10T09:00:00",
		"R3/PT1H", "R/P1W", "R/2030-01-31T00:00:00Z/P1M", "R/2032-02-29T12:00:00Z/P1Y", "R/2030-03-09T02:30:00/P1D",
		"R2/20300101T000000Z/PT1H", "R2/2030-01-01/P1D", "R2/2030-01-01T00:00:00.250+0100/PT1S", "R0/2030-01-01T00:00:00Z/PT1H",
		"R/PT1H/PT2H", "R3", "R3//PT1H", "R3/2030-02-30T00:00:00Z/PT1H", "R/0001-01-01T00:00:00Z/PT1S",
		"R/9999-12-31T23:59:59Z/PT1S", "R/P1000Y/9999-12-31T00:00:00Z", "R/0001-01-01T00:00:00Z/P1000Y", "R999999999/P1D/2030-01-01",
	} {
		f.Add(seed, uint8(3), int64(1900000000), int64(0))
	}
	f.Fuzz(func(t *testing.T, repeat string, zone uint8, after, start int64) {
		spec := Spec{Repeat: repeat, Zone: fuzzZones[int(zone)%len(fuzzZones)], Created: fuzzCreated}
		if start != 0 {
			spec.Start = time.Unix(start%(1<<36), 0)
		}
		s, err := Compile(spec)
		checkCompiled(t, spec, s, err, time.Unix(after%(1<<36), 0))
	})
}

func FuzzPeriod(f *testing.F) {
	for _, seed := range []string{
		"PT30S", "P1DT2H", "P1Y2M3DT4H5M6.5S", "P2W", "PT0.0000000015S", "P1.5D", "pt1m", "P1000Y",
		"PT876000H", "P", "PT", "P1H", "PT1D", "P1.5Y", "PT1.5H30M", "P99999999999D", "P1,5W", "P0D",
	} {
		f.Add(seed, int64(3))
	}
	base := time.Date(2030, 3, 9, 2, 30, 0, 0, time.UTC)
	loc, _ := LoadZone(ny)
	f.Fuzz(func(t *testing.T, s string, k int64) {
		p, err := ParsePeriod(s)
		if err != nil {
			if !errors.Is(err, ErrPeriod) {
				t.Fatalf("ParsePeriod(%q): %v does not wrap ErrPeriod", s, err)
			}
			return
		}
		if back, err := ParsePeriod(p.String()); err != nil || back != p {
			t.Fatalf("ParsePeriod(%q) = %+v; String %q parses to %+v, %v", s, p, p.String(), back, err)
		}
		if p.IsZero() {
			return
		}
		// Occurrences increase with k, in a zone with DST.
		k %= 1 << 20
		from := base.In(loc)
		a, b := p.addN(from, k), p.addN(from, k+1)
		if !b.After(a) && !(a.Equal(farFuture) || b.Equal(farPast)) {
			t.Fatalf("%s: AddTo(%d) = %v, AddTo(%d) = %v", s, k, a, k+1, b)
		}
	})
}

func FuzzNext(f *testing.F) {
	specs := []Spec{
		{Cron: "30 2 * * *", Zone: ny}, {Cron: "30 1 * * *", Zone: ny}, {Cron: "*/5 * * * *", Zone: lhi},
		{Cron: "0 */2 * * *", Zone: berlin}, {Cron: "0 0 29 2 *", Zone: sydney}, {Cron: "15,45 1-3 * * 0", Zone: lhi},
		{Cron: "* * * * * *", Zone: "Pacific/Apia"}, {Cron: "0 9 * * MON-FRI", Zone: "Antarctica/Troll"},
		{Cron: "@every 1h1s", Start: fuzzCreated}, {Cron: "@every P1M", Zone: berlin, Start: fuzzCreated.AddDate(0, 0, 30)},
		{Repeat: "R/2030-03-09T02:30:00/P1D", Zone: ny}, {Repeat: "R/P1D/2031-01-10T00:00:00Z", Zone: lhi},
		{Repeat: "R100/2030-01-31T10:00:00/P1M1DT1H", Zone: sydney},
		{Cron: "0 * * * *", Zone: ny, Start: fuzzCreated, End: fuzzCreated.AddDate(2, 0, 0)},
	}
	for i := range specs {
		f.Add(uint8(i), int64(1900000000), uint32(0))
		f.Add(uint8(i), int64(1951887600), uint32(1e9-1)) // 2031-11-09 around the fall-back
	}
	f.Fuzz(func(t *testing.T, which uint8, after int64, nanos uint32) {
		spec := specs[int(which)%len(specs)]
		s, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		checkCompiled(t, spec, s, err, time.Unix(after%(1<<36), int64(nanos%1e9)))
	})
}
