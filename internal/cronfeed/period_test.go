package cronfeed

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Period
	}{
		{"PT30S", Period{Clock: 30 * time.Second}},
		{"P1DT2H", Period{Days: 1, Clock: 2 * time.Hour}},
		{"P1Y2M3DT4H5M6.5S", Period{Years: 1, Months: 2, Days: 3, Clock: 4*time.Hour + 5*time.Minute + 6500*time.Millisecond}},
		{"P2W", Period{Days: 14}},
		{"P1W2D", Period{Days: 9}},
		{"P1M", Period{Months: 1}},
		{"PT1M", Period{Clock: time.Minute}},
		{"P1MT1M", Period{Months: 1, Clock: time.Minute}},
		{"PT36H", Period{Clock: 36 * time.Hour}},
		{"PT0.1S", Period{Clock: 100 * time.Millisecond}},
		{"PT1,5S", Period{Clock: 1500 * time.Millisecond}},
		{"PT0.000000001S", Period{Clock: 1}},
		{"PT0.0000000015S", Period{Clock: 2}}, // rounded half up
		{"PT0.1H", Period{Clock: 6 * time.Minute}},
		{"PT1.5H", Period{Clock: 90 * time.Minute}},
		{"P1.5D", Period{Days: 1, Clock: 12 * time.Hour}},
		{"P0.5W", Period{Clock: 84 * time.Hour}},
		{"PT1000000.123456789S", Period{Clock: 1000000*time.Second + 123456789}},
		{"pt1m", Period{Clock: time.Minute}},
		{"p1y", Period{Years: 1}},
		{"PT0S", Period{}},
		{"P0D", Period{}},
		{"P1000Y", Period{Years: 1000}},
		{"P12000M", Period{Months: 12000}},
		{"PT876000H", Period{Clock: 876000 * time.Hour}},
	} {
		got, err := ParsePeriod(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		back, err := ParsePeriod(got.String())
		if err != nil || back != got {
			t.Errorf("ParsePeriod(%q).String() = %q, which parses to %+v, %v", c.in, got.String(), back, err)
		}
	}
}

func TestParsePeriodErrors(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"", "want the form"},
		{"P", "want the form"},
		{"PT", "want the form"},
		{"1D", "want the form"},
		{"P1", "want the form"},
		{"P12", "needs a unit"},
		{"PYD", "needs a number"},
		{"P-1D", "needs a number"},
		{"P.5D", "needs a number"},
		{"P1.D", "decimal point needs digits"},
		{"P1H", "belongs after T"},
		{"PT1D", "belongs before T"},
		{"PT1W", "belongs before T"},
		{"P1X", `unknown unit 'x'`},
		{"PT1H2H", "out of order or repeated"},
		{"PT1M1H", "out of order or repeated"},
		{"P1D1W", "out of order or repeated"},
		{"P1DT", "nothing after T"},
		{"P1DTT1H", "T appears twice"},
		{"PT1.5H30M", "only on the last unit"},
		{"P1.5Y", "cannot be fractional"},
		{"P1.5M", "cannot be fractional"},
		{"P1001Y", "at most 1000 years"},
		{"P12001M", "at most 1000 years"},
		{"P366001D", "at most 1000 years"},
		{"PT876001H", "at most 100 years"},
		{"PT999999999H", "at most 100 years"},
		{"P99999999999D", "too large"},
		{"P1D " + strings.Repeat("1", 70), "too long"},
	} {
		_, err := ParsePeriod(c.in)
		if !errors.Is(err, ErrPeriod) {
			t.Errorf("ParsePeriod(%q): error %v does not wrap ErrPeriod", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "cronfeed: invalid ISO 8601 duration") {
			t.Errorf("ParsePeriod(%q): error %q lacks %q", c.in, err, c.why)
		}
	}
}

func TestPeriodString(t *testing.T) {
	for _, c := range []struct {
		p    Period
		want string
	}{
		{Period{}, "PT0S"},
		{Period{Years: 1, Months: 2, Days: 3}, "P1Y2M3D"},
		{Period{Clock: 90 * time.Minute}, "PT1H30M"},
		{Period{Clock: 1500 * time.Millisecond}, "PT1.5S"},
		{Period{Clock: 1}, "PT0.000000001S"},
		{Period{Days: 1, Clock: 12 * time.Hour}, "P1DT12H"},
		{Period{Clock: 36 * time.Hour}, "PT36H"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestPeriodAddTo(t *testing.T) {
	for _, c := range []struct {
		period, zone, from string
		k                  int
		want               string
	}{
		// Months clamp to the month's last day; each k from the start.
		{"P1M", "", "2030-01-31T10:00:00Z", 1, "2030-02-28T10:00:00Z"},
		{"P1M", "", "2030-01-31T10:00:00Z", 2, "2030-03-31T10:00:00Z"},
		{"P1M", "", "2030-01-31T10:00:00Z", 13, "2031-02-28T10:00:00Z"},
		{"P1M", "", "2032-01-31T10:00:00Z", 1, "2032-02-29T10:00:00Z"},
		{"P1M", "", "2030-03-31T10:00:00Z", -1, "2030-02-28T10:00:00Z"},
		{"P1M", "", "2030-03-31T10:00:00Z", -3, "2029-12-31T10:00:00Z"},
		{"P1M", "", "2030-03-31T10:00:00Z", -14, "2029-01-31T10:00:00Z"},
		{"P1Y", "", "2032-02-29T12:00:00Z", 1, "2033-02-28T12:00:00Z"},
		{"P1Y", "", "2032-02-29T12:00:00Z", 4, "2036-02-29T12:00:00Z"},
		{"P1Y", "", "2096-02-29T12:00:00Z", 4, "2100-02-28T12:00:00Z"},
		{"P1M1D", "", "2030-01-30T00:00:00Z", 1, "2030-03-01T00:00:00Z"},
		{"P1M1D", "", "2030-01-30T00:00:00Z", 2, "2030-04-01T00:00:00Z"},
		{"P2W", "", "2030-12-25T00:00:00Z", 1, "2031-01-08T00:00:00Z"},
		// P1D keeps the wall clock; PT24H is 24 hours.
		{"P1D", ny, "2030-03-09T09:00:00-05:00", 1, "2030-03-10T09:00:00-04:00"},
		{"PT24H", ny, "2030-03-09T09:00:00-05:00", 1, "2030-03-10T10:00:00-04:00"},
		{"P1D", ny, "2030-11-02T09:00:00-04:00", 1, "2030-11-03T09:00:00-05:00"},
		{"PT24H", ny, "2030-11-02T09:00:00-04:00", 1, "2030-11-03T08:00:00-05:00"},
		{"P1DT1H", ny, "2030-03-09T01:30:00-05:00", 1, "2030-03-10T03:30:00-04:00"},
		// Into the gap: the first instant after it.
		{"P1D", ny, "2030-03-09T02:30:00-05:00", 1, "2030-03-10T03:00:00-04:00"},
		{"P1D", ny, "2030-03-09T02:30:00-05:00", 2, "2030-03-11T02:30:00-04:00"},
		{"P1D", lhi, "2030-10-05T02:15:00+10:30", 1, "2030-10-06T02:30:00+11:00"},
		{"P1M", berlin, "2030-02-28T02:30:00+01:00", 1, "2030-03-28T02:30:00+01:00"},
		{"P1Y", berlin, "2029-03-31T02:30:00+02:00", 1, "2030-03-31T03:00:00+02:00"},
		// Into a repeated hour: the first occurrence, east and west of Greenwich.
		{"P1D", berlin, "2030-10-26T02:30:00+02:00", 1, "2030-10-27T02:30:00+02:00"},
		{"P1D", berlin, "2030-10-26T02:30:00+02:00", 2, "2030-10-28T02:30:00+01:00"},
		{"P1D", ny, "2030-11-02T01:30:00-04:00", 1, "2030-11-03T01:30:00-04:00"},
		{"P1D", sydney, "2030-04-06T02:30:00+11:00", 1, "2030-04-07T02:30:00+11:00"},
		// k = 0 is t itself, even in the second pass of a repeated hour.
		{"P1D", berlin, "2030-10-27T02:30:00+01:00", 0, "2030-10-27T02:30:00+01:00"},
		{"P1D", berlin, "2030-10-27T02:30:00+01:00", -1, "2030-10-26T02:30:00+02:00"},
		// Exact time far beyond time.Duration's 292 years.
		{"PT1S", "", "2000-01-01T00:00:00Z", 9467107200, "2300-01-01T00:00:00Z"},
		{"PT1H", "", "2300-01-01T00:00:00Z", -2629752, "2000-01-01T00:00:00Z"},
	} {
		loc, err := LoadZone(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParsePeriod(c.period)
		if err != nil {
			t.Fatal(err)
		}
		from := tm(t, c.from).In(loc)
		got := p.AddTo(from, c.k)
		if want := tm(t, c.want); !got.Equal(want) || got.Location() != loc {
			t.Errorf("%s.AddTo(%s, %d) in %s = %s, want %s", c.period, c.from, c.k, loc, got.Format(time.RFC3339Nano), c.want)
		}
		if c.k == 0 && got != from {
			t.Errorf("%s.AddTo(t, 0) changed t: %v -> %v", c.period, from, got)
		}
	}
}

func TestPeriodAddToSaturates(t *testing.T) {
	base := tm(t, "2030-01-01T00:00:00Z")
	for _, c := range []struct {
		p    Period
		k    int
		want time.Time
	}{
		{Period{Clock: time.Hour}, 1 << 40, farFuture},
		{Period{Clock: time.Hour}, -(1 << 40), farPast},
		{Period{Days: 1}, 1 << 40, farFuture},
		{Period{Months: 1}, -(1 << 40), farPast},
		{Period{Years: 1000}, 1 << 20, farFuture},
		{Period{Clock: 100 * 365 * 24 * time.Hour}, 1 << 40, farFuture},
	} {
		if got := c.p.AddTo(base, c.k); !got.Equal(c.want) {
			t.Errorf("%v.AddTo(%d) = %v, want %v", c.p, c.k, got, c.want)
		}
	}
}

func TestParseDelay(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Period
	}{
		{"1500ms", Period{Clock: 1500 * time.Millisecond}},
		{"2h45m", Period{Clock: 2*time.Hour + 45*time.Minute}},
		{"0s", Period{}},
		{"PT30S", Period{Clock: 30 * time.Second}},
		{"P1DT2H", Period{Days: 1, Clock: 2 * time.Hour}},
	} {
		if got, err := ParseDelay(c.in); err != nil || got != c.want {
			t.Errorf("ParseDelay(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in       string
		sentinel error
		why      string
	}{
		{"", ErrDelay, "want a Go duration"},
		{"-1s", ErrDelay, "cannot be negative"},
		{"1d", ErrDelay, `"P1DT2H"`},
		{"soon", ErrDelay, `"soon"`},
		{"P", ErrPeriod, "want the form"},
	} {
		_, err := ParseDelay(c.in)
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseDelay(%q) error %v; want %v containing %q", c.in, err, c.sentinel, c.why)
		}
	}
}
