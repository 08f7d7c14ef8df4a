package cronfeed

import (
	"testing"
	"time"
)

// DST fixtures, one table per zone, both transitions of 2030, 2031 and 2032.
// The rules under test (ARCHITECTURE.md, "Time semantics"):
//
//   - fixed hour, wall time in the gap: once, at the first instant after it;
//   - fixed hour, wall time repeated: once, at its first occurrence;
//   - wildcard hour (* or */n): every real instant whose wall clock matches.
//
// Transitions (local wall clock):
//
//	America/New_York     2030-03-10 02:00 EST -> 03:00 EDT   2030-11-03 02:00 EDT -> 01:00 EST
//	                     2031-03-09, 2031-11-02; 2032-03-14, 2032-11-07
//	Europe/Berlin        2030-03-31 02:00 CET -> 03:00 CEST  2030-10-27 03:00 CEST -> 02:00 CET
//	                     2031-03-30, 2031-10-26; 2032-03-28, 2032-10-31
//	Australia/Sydney     2030-04-07 03:00 AEDT -> 02:00 AEST 2030-10-06 02:00 AEST -> 03:00 AEDT
//	                     2031-04-06, 2031-10-05; 2032-04-04, 2032-10-03
//	Australia/Lord_Howe  2030-04-07 02:00 +11 -> 01:30 +1030 2030-10-06 02:00 +1030 -> 02:30 +11
//	                     2031-04-06, 2031-10-05; 2032-04-04, 2032-10-03
//	Asia/Kolkata         +05:30 all year

const (
	ny     = "America/New_York"
	berlin = "Europe/Berlin"
	sydney = "Australia/Sydney"
	lhi    = "Australia/Lord_Howe"
	ist    = "Asia/Kolkata"
)

func TestDSTNewYork(t *testing.T) {
	runNext(t, []nextCase{
		// Spring forward: 02:00-02:59 do not exist.
		{spec: "30 2 * * *", zone: ny, after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:30:00-04:00"}},
		{spec: "0 2 * * *", zone: ny, after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:00:00-04:00"}},
		// Several gap times collapse into one fire; so does a real 03:00.
		{spec: "0,30 2 * * *", zone: ny, after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:00:00-04:00", "2030-03-11T02:30:00-04:00"}},
		{spec: "0 2,3 * * *", zone: ny, after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:00:00-04:00", "2030-03-11T03:00:00-04:00"}},
		{spec: "* 2 * * *", zone: ny, after: "2030-03-10T01:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:00:00-04:00", "2030-03-11T02:01:00-04:00"}},
		{spec: "59 1 * * *", zone: ny, after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T01:59:00-05:00", "2030-03-11T01:59:00-04:00"}},
		// Six fields: seconds in the gap.
		{spec: "30 0 2 * * *", zone: ny, after: "2030-03-10T01:59:59-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-03-11T02:00:30-04:00"}},
		{spec: "30 59 1 * * *", zone: ny, after: "2030-03-10T01:00:00-05:00",
			want: []string{"2030-03-10T01:59:30-05:00"}},
		// Fall back: 01:00-01:59 occur twice; fixed times fire on the first pass.
		{spec: "30 1 * * *", zone: ny, after: "2030-11-02T12:00:00-04:00",
			want: []string{"2030-11-03T01:30:00-04:00", "2030-11-04T01:30:00-05:00"}},
		{spec: "0 1 * * *", zone: ny, after: "2030-11-03T00:00:00-04:00",
			want: []string{"2030-11-03T01:00:00-04:00", "2030-11-04T01:00:00-05:00"}},
		{spec: "0 2 * * *", zone: ny, after: "2030-11-02T12:00:00-04:00",
			want: []string{"2030-11-03T02:00:00-05:00", "2030-11-04T02:00:00-05:00"}},
		{spec: "*/20 1 * * *", zone: ny, after: "2030-11-03T00:59:00-04:00",
			want: []string{"2030-11-03T01:00:00-04:00", "2030-11-03T01:20:00-04:00", "2030-11-03T01:40:00-04:00", "2030-11-04T01:00:00-05:00"}},
		// From inside the repeated hour.
		{spec: "45 1 * * *", zone: ny, after: "2030-11-03T01:40:00-04:00",
			want: []string{"2030-11-03T01:45:00-04:00", "2030-11-04T01:45:00-05:00"}},
		{spec: "45 1 * * *", zone: ny, after: "2030-11-03T01:30:00-05:00",
			want: []string{"2030-11-04T01:45:00-05:00"}},
		{spec: "15 1 * * *", zone: ny, after: "2030-11-03T01:30:00-05:00",
			want: []string{"2030-11-04T01:15:00-05:00"}},
		{spec: "30 2 * * *", zone: ny, after: "2030-11-03T01:30:00-05:00",
			want: []string{"2030-11-03T02:30:00-05:00"}},
		// Wildcard hours follow real time.
		{spec: "0 * * * *", zone: ny, after: "2030-03-10T00:30:00-05:00",
			want: []string{"2030-03-10T01:00:00-05:00", "2030-03-10T03:00:00-04:00", "2030-03-10T04:00:00-04:00"}},
		{spec: "0 * * * *", zone: ny, after: "2030-11-03T00:30:00-04:00",
			want: []string{"2030-11-03T01:00:00-04:00", "2030-11-03T01:00:00-05:00", "2030-11-03T02:00:00-05:00"}},
		{spec: "@hourly", zone: ny, after: "2030-11-03T00:30:00-04:00",
			want: []string{"2030-11-03T01:00:00-04:00", "2030-11-03T01:00:00-05:00", "2030-11-03T02:00:00-05:00"}},
		{spec: "*/5 * * * *", zone: ny, after: "2030-03-10T01:50:00-05:00",
			want: []string{"2030-03-10T01:55:00-05:00", "2030-03-10T03:00:00-04:00", "2030-03-10T03:05:00-04:00"}},
		{spec: "*/5 * * * *", zone: ny, after: "2030-11-03T01:50:00-04:00",
			want: []string{"2030-11-03T01:55:00-04:00", "2030-11-03T01:00:00-05:00", "2030-11-03T01:05:00-05:00"}},
		{spec: "*/30 * * * *", zone: ny, after: "2030-11-03T01:40:00-05:00",
			want: []string{"2030-11-03T02:00:00-05:00"}},
		// A stepped hour is a wildcard hour: 02:00 on the spring day never happens.
		{spec: "0 */2 * * *", zone: ny, after: "2030-03-10T00:30:00-05:00",
			want: []string{"2030-03-10T04:00:00-04:00"}},
		{spec: "0 */2 * * *", zone: ny, after: "2030-11-03T00:30:00-04:00",
			want: []string{"2030-11-03T02:00:00-05:00"}},
		{spec: "30 * 10 3 *", zone: ny, after: "2030-03-10T01:00:00-05:00",
			want: []string{"2030-03-10T01:30:00-05:00", "2030-03-10T03:30:00-04:00"}},
		// 2031 and 2032.
		{spec: "30 2 * * *", zone: ny, after: "2031-03-08T12:00:00-05:00",
			want: []string{"2031-03-09T03:00:00-04:00", "2031-03-10T02:30:00-04:00"}},
		{spec: "30 1 * * *", zone: ny, after: "2031-11-01T12:00:00-04:00",
			want: []string{"2031-11-02T01:30:00-04:00", "2031-11-03T01:30:00-05:00"}},
		{spec: "30 2 * * *", zone: ny, after: "2032-03-13T12:00:00-05:00",
			want: []string{"2032-03-14T03:00:00-04:00", "2032-03-15T02:30:00-04:00"}},
		{spec: "30 1 * * *", zone: ny, after: "2032-11-06T12:00:00-04:00",
			want: []string{"2032-11-07T01:30:00-04:00", "2032-11-08T01:30:00-05:00"}},
		{spec: "0 * * * *", zone: ny, after: "2032-11-07T00:30:00-04:00",
			want: []string{"2032-11-07T01:00:00-04:00", "2032-11-07T01:00:00-05:00"}},
		// The prefix names the zone when the header does not.
		{spec: "CRON_TZ=America/New_York 30 2 * * *", after: "2030-03-09T12:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00"}},
		{spec: "TZ=America/New_York 30 1 * * *", zone: ny, after: "2030-11-02T12:00:00-04:00",
			want: []string{"2030-11-03T01:30:00-04:00", "2030-11-04T01:30:00-05:00"}},
	})
}

func TestDSTBerlin(t *testing.T) {
	// East of Greenwich time.Date picks the second pass of a repeated hour:
	// these rows prove the first one is taken.
	runNext(t, []nextCase{
		{spec: "30 2 * * *", zone: berlin, after: "2030-03-30T12:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-01T02:30:00+02:00"}},
		{spec: "*/20 2 * * *", zone: berlin, after: "2030-03-30T12:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-01T02:00:00+02:00"}},
		{spec: "30 2 * * *", zone: berlin, after: "2030-10-26T12:00:00+02:00",
			want: []string{"2030-10-27T02:30:00+02:00", "2030-10-28T02:30:00+01:00"}},
		{spec: "30 2 * * *", zone: berlin, after: "2030-10-27T02:30:00+01:00",
			want: []string{"2030-10-28T02:30:00+01:00"}},
		{spec: "*/20 2 * * *", zone: berlin, after: "2030-10-27T01:00:00+02:00",
			want: []string{"2030-10-27T02:00:00+02:00", "2030-10-27T02:20:00+02:00", "2030-10-27T02:40:00+02:00", "2030-10-28T02:00:00+01:00"}},
		{spec: "0 3 * * *", zone: berlin, after: "2030-10-27T02:10:00+01:00",
			want: []string{"2030-10-27T03:00:00+01:00"}},
		{spec: "0 * * * *", zone: berlin, after: "2030-10-27T01:30:00+02:00",
			want: []string{"2030-10-27T02:00:00+02:00", "2030-10-27T02:00:00+01:00", "2030-10-27T03:00:00+01:00"}},
		{spec: "0 * * * *", zone: berlin, after: "2030-03-31T01:30:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00"}},
		{spec: "0 0 2 * * SUN", zone: berlin, after: "2031-03-29T00:00:00+01:00",
			want: []string{"2031-03-30T03:00:00+02:00", "2031-04-06T02:00:00+02:00"}},
		{spec: "30 2 * * *", zone: berlin, after: "2031-10-25T12:00:00+02:00",
			want: []string{"2031-10-26T02:30:00+02:00", "2031-10-27T02:30:00+01:00"}},
		{spec: "30 2 * * *", zone: berlin, after: "2032-03-27T12:00:00+01:00",
			want: []string{"2032-03-28T03:00:00+02:00", "2032-03-29T02:30:00+02:00"}},
		{spec: "30 2 * * *", zone: berlin, after: "2032-10-30T12:00:00+02:00",
			want: []string{"2032-10-31T02:30:00+02:00", "2032-11-01T02:30:00+01:00"}},
	})
}

func TestDSTSydney(t *testing.T) {
	runNext(t, []nextCase{
		// April: 03:00 AEDT -> 02:00 AEST, 02:00-02:59 twice.
		{spec: "30 2 * * *", zone: sydney, after: "2030-04-06T12:00:00+11:00",
			want: []string{"2030-04-07T02:30:00+11:00", "2030-04-08T02:30:00+10:00"}},
		{spec: "0 * * * *", zone: sydney, after: "2030-04-07T01:30:00+11:00",
			want: []string{"2030-04-07T02:00:00+11:00", "2030-04-07T02:00:00+10:00", "2030-04-07T03:00:00+10:00"}},
		// October: 02:00 AEST -> 03:00 AEDT, 02:00-02:59 skipped.
		{spec: "30 2 * * *", zone: sydney, after: "2030-10-05T12:00:00+10:00",
			want: []string{"2030-10-06T03:00:00+11:00", "2030-10-07T02:30:00+11:00"}},
		{spec: "0 * * * *", zone: sydney, after: "2030-10-06T01:30:00+10:00",
			want: []string{"2030-10-06T03:00:00+11:00", "2030-10-06T04:00:00+11:00"}},
		{spec: "30 2 * * *", zone: sydney, after: "2031-04-05T12:00:00+11:00",
			want: []string{"2031-04-06T02:30:00+11:00", "2031-04-07T02:30:00+10:00"}},
		{spec: "30 2 * * *", zone: sydney, after: "2031-10-04T12:00:00+10:00",
			want: []string{"2031-10-05T03:00:00+11:00"}},
		{spec: "30 2 * * *", zone: sydney, after: "2032-04-03T12:00:00+11:00",
			want: []string{"2032-04-04T02:30:00+11:00", "2032-04-05T02:30:00+10:00"}},
		{spec: "30 2 * * *", zone: sydney, after: "2032-10-02T12:00:00+10:00",
			want: []string{"2032-10-03T03:00:00+11:00"}},
	})
}

func TestDSTLordHowe(t *testing.T) {
	// A 30-minute shift: the gap is 02:00-02:29, the repeat 01:30-01:59.
	runNext(t, []nextCase{
		{spec: "15 2 * * *", zone: lhi, after: "2030-10-05T12:00:00+10:30",
			want: []string{"2030-10-06T02:30:00+11:00", "2030-10-07T02:15:00+11:00"}},
		{spec: "30 2 * * *", zone: lhi, after: "2030-10-05T12:00:00+10:30",
			want: []string{"2030-10-06T02:30:00+11:00", "2030-10-07T02:30:00+11:00"}},
		{spec: "0,15,30 2 * * *", zone: lhi, after: "2030-10-05T12:00:00+10:30",
			want: []string{"2030-10-06T02:30:00+11:00", "2030-10-07T02:00:00+11:00", "2030-10-07T02:15:00+11:00"}},
		{spec: "*/15 * * * *", zone: lhi, after: "2030-10-06T01:40:00+10:30",
			want: []string{"2030-10-06T01:45:00+10:30", "2030-10-06T02:30:00+11:00", "2030-10-06T02:45:00+11:00"}},
		{spec: "0 * * * *", zone: lhi, after: "2030-10-06T01:30:00+10:30",
			want: []string{"2030-10-06T03:00:00+11:00"}},
		{spec: "45 1 * * *", zone: lhi, after: "2030-04-06T12:00:00+11:00",
			want: []string{"2030-04-07T01:45:00+11:00", "2030-04-08T01:45:00+10:30"}},
		{spec: "45 1 * * *", zone: lhi, after: "2030-04-07T01:35:00+10:30",
			want: []string{"2030-04-08T01:45:00+10:30"}},
		{spec: "*/15 * * * *", zone: lhi, after: "2030-04-07T01:40:00+11:00",
			want: []string{"2030-04-07T01:45:00+11:00", "2030-04-07T01:30:00+10:30", "2030-04-07T01:45:00+10:30", "2030-04-07T02:00:00+10:30"}},
		{spec: "15 2 * * *", zone: lhi, after: "2031-10-04T12:00:00+10:30",
			want: []string{"2031-10-05T02:30:00+11:00"}},
		{spec: "45 1 * * *", zone: lhi, after: "2031-04-05T12:00:00+11:00",
			want: []string{"2031-04-06T01:45:00+11:00", "2031-04-07T01:45:00+10:30"}},
		{spec: "15 2 * * *", zone: lhi, after: "2032-10-02T12:00:00+10:30",
			want: []string{"2032-10-03T02:30:00+11:00"}},
		{spec: "45 1 * * *", zone: lhi, after: "2032-04-03T12:00:00+11:00",
			want: []string{"2032-04-04T01:45:00+11:00", "2032-04-05T01:45:00+10:30"}},
	})
}

func TestNoDSTKolkata(t *testing.T) {
	runNext(t, []nextCase{
		{spec: "30 2 * * *", zone: ist, after: "2030-03-10T00:00:00+05:30",
			want: []string{"2030-03-10T02:30:00+05:30", "2030-03-11T02:30:00+05:30"}},
		{spec: "0 * * * *", zone: ist, after: "2030-11-03T00:30:00+05:30",
			want: []string{"2030-11-03T01:00:00+05:30", "2030-11-03T02:00:00+05:30"}},
		{spec: "0 0 29 2 *", zone: ist, after: "2030-01-01T00:00:00+05:30",
			want: []string{"2032-02-29T00:00:00+05:30"}},
		{spec: "@daily", zone: ist, after: "2031-12-31T23:59:59+05:30",
			want: []string{"2032-01-01T00:00:00+05:30"}},
	})
}

// TestZoneEndLeapYear: on the last UTC day of a leap year served by a
// zone's TZ footer rule, time.Time.ZoneBounds returns an end before the
// instant (golang/go#81583), and nextReal, walking from period to period,
// stopped moving (found by FuzzCron: testdata/fuzz/FuzzCron/346520d6a3598eb2).
// zoneEnd must always move forward, and never past an offset change.
func TestZoneEndLeapYear(t *testing.T) {
	for _, zone := range []string{ny, berlin, sydney, lhi} {
		loc, _ := LoadZone(zone)
		for u := time.Date(2040, 12, 29, 0, 0, 0, 0, time.UTC).In(loc); u.Year() < 2042; u = u.Add(97 * time.Minute) {
			end := zoneEnd(u)
			if !end.After(u) {
				t.Fatalf("%s: zoneEnd(%s) = %s, not after it", zone, u, end)
			}
			if _, off := u.Zone(); offsetAt(end.Add(-time.Nanosecond), loc) != time.Duration(off)*time.Second {
				t.Fatalf("%s: the offset changes between %s and zoneEnd = %s", zone, u, end)
			}
		}
	}
	runNext(t, []nextCase{
		{spec: "0 * 29 2 *", zone: ny, after: "2040-03-02T00:00:00Z",
			want: []string{"2044-02-29T00:00:00-05:00", "2044-02-29T01:00:00-05:00"}},
		{spec: "cron(0 * 1 1 ? */100)", zone: ny, after: "2030-01-01T00:00:00Z",
			want: []string{"2070-01-01T00:00:00-05:00"}},
	})
}
