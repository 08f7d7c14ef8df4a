package cronfeed

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// tm parses an RFC 3339 instant of a fixture.
func tm(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad fixture time %q: %v", s, err)
	}
	return v
}

// optTm is tm for optional fixture times: "" is the zero time.
func optTm(t testing.TB, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return tm(t, s)
}

// nextCase is one row of a (spec, dialect, zone, after, want) table: the
// occurrences strictly after `after`, in order. A spec starting with R is a
// Timer-Repeat, anything else a Timer-Cron, read in dialect ("" if none is
// declared). want lists the next few occurrences; with done set, there are
// no more after them.
type nextCase struct {
	spec, dialect string
	zone, after   string
	want          []string
	done          bool
	// Optional bounds.
	start, end, created string
}

func (c nextCase) compile(t testing.TB) *Schedule {
	t.Helper()
	spec := Spec{Dialect: c.dialect, Zone: c.zone, Start: optTm(t, c.start), End: optTm(t, c.end), Created: optTm(t, c.created)}
	if strings.HasPrefix(c.spec, "R") {
		spec.Repeat = c.spec
	} else {
		spec.Cron = c.spec
	}
	s, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile(%q (%s) in %q): %v", c.spec, c.dialect, c.zone, err)
	}
	return s
}

// runNext checks every row: Upcoming, and Next from each wanted instant
// (and a nanosecond before it) individually, so that both the iteration and
// the entry from an arbitrary instant are exercised.
func runNext(t *testing.T, cases []nextCase) {
	t.Helper()
	for _, c := range cases {
		name := c.spec + " in " + c.zone + " after " + c.after
		if c.dialect != "" {
			name = c.dialect + " " + name
		}
		t.Run(name, func(t *testing.T) {
			s := c.compile(t)
			after := tm(t, c.after)
			n := len(c.want)
			if c.done {
				n++
			}
			got := s.Upcoming(after, n)
			if len(got) != len(c.want) {
				t.Fatalf("got %d occurrences %v, want %d %v", len(got), fmtTimes(got, s.Location()), len(c.want), c.want)
			}
			prev := after
			for i, w := range c.want {
				want := tm(t, w)
				if !got[i].Equal(want) {
					t.Errorf("occurrence %d: got %s, want %s", i, got[i].In(s.Location()).Format(time.RFC3339Nano), w)
				}
				if got[i].Location() != time.UTC {
					t.Errorf("occurrence %d not in UTC: %v", i, got[i].Location())
				}
				if n, ok := s.Next(want.Add(-time.Nanosecond)); !ok || !n.Equal(want) {
					t.Errorf("Next(%s - 1ns) = %s, %v; want %s", w, n.In(s.Location()).Format(time.RFC3339Nano), ok, w)
				}
				if i > 0 && !got[i].After(prev) {
					t.Errorf("occurrence %d not after the previous one", i)
				}
				prev = got[i]
			}
		})
	}
}

func fmtTimes(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, v := range ts {
		out[i] = v.In(loc).Format(time.RFC3339Nano)
	}
	return out
}

// errCase is a spec that Compile must reject with sentinel, its message
// containing every fragment.
type errCase struct {
	spec      Spec
	sentinel  error
	fragments []string
}

func runErr(t *testing.T, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.spec.Cron+c.spec.Repeat+"|"+c.spec.Dialect+"|"+c.spec.Zone, func(t *testing.T) {
			s, err := Compile(c.spec)
			if err == nil {
				t.Fatalf("Compile succeeded (%s); want %v", s, c.sentinel)
			}
			if s != nil {
				t.Errorf("Compile returned a schedule with its error")
			}
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("error %q does not wrap %q", err, c.sentinel)
			}
			for _, f := range c.fragments {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q lacks %q", err, f)
				}
			}
		})
	}
}
