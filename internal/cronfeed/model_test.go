package cronfeed

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// The reference model: the DST rules stated as directly as possible, by
// brute force over every minute of a window, independent of nextWall,
// resolveWall and the zone-period walk.
//
//   - wildcard hour: every instant whose wall clock matches;
//   - fixed hour: for every matching wall time W, the first instant whose
//     wall clock reads W or later. That is W's first occurrence if W occurs,
//     and the end of the gap if W is skipped.

// refMatch reports whether naive wall time w matches c.
func refMatch(c *cronSpec, w time.Time) bool {
	bit := func(mask uint64, v int) bool { return mask&(1<<uint(v)) != 0 }
	if !bit(c.month, int(w.Month())) || !bit(c.hour, w.Hour()) || !bit(c.minute, w.Minute()) || !bit(c.second, w.Second()) {
		return false
	}
	if c.years != nil && (w.Year() < firstYear || w.Year() > lastYear || !bit(c.years[(w.Year()-firstYear)/64], (w.Year()-firstYear)%64)) {
		return false
	}
	dom, dow := refDom(c, w), refDow(c, w)
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// refDom is the day-of-month rule as the Quartz javadoc states it, found
// by looking at the month's days rather than by cronday.go's arithmetic:
// L is the last day, L-n n days before it, and W the weekday nearest the
// day within its month (no ties can occur: a Saturday is 1 day from Friday
// and 2 from Monday, a Sunday 1 from Monday and 2 from Friday).
func refDom(c *cronSpec, w time.Time) bool {
	y, m, d := w.Date()
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if c.dom&(1<<uint(d)) != 0 {
		return true
	}
	for _, it := range c.domItems {
		target := it.n
		if it.fromEnd {
			target = last - it.n
		}
		if target < 1 || target > last {
			continue
		}
		if !it.weekday {
			if d == target {
				return true
			}
			continue
		}
		best := 0
		for e := 1; e <= last; e++ {
			wd := time.Date(y, m, e, 0, 0, 0, 0, time.UTC).Weekday()
			if wd != time.Saturday && wd != time.Sunday && (best == 0 || abs(e-target) < abs(best-target)) {
				best = e
			}
		}
		if d == best {
			return true
		}
	}
	return false
}

// refDow: the plain weekdays, d#n the nth such weekday counted from the
// 1st, dL one with no such weekday after it in the month.
func refDow(c *cronSpec, w time.Time) bool {
	_, m, d := w.Date()
	wd := int(w.Weekday())
	if c.dow&(1<<uint(wd)) != 0 {
		return true
	}
	for _, it := range c.dowItems {
		if it.weekday != wd {
			continue
		}
		if it.nth == 0 && w.AddDate(0, 0, 7).Month() != m || it.nth > 0 && (d-1)/7+1 == it.nth {
			return true
		}
	}
	return false
}

func abs(v int) int { return max(v, -v) }

// window is every minute of [from, to] with its wall clock in loc.
type window struct {
	loc     *time.Location
	instant []time.Time
	wall    []time.Time
	maxWall []time.Time // running maximum of wall: non-decreasing
}

func newWindow(from, to time.Time, loc *time.Location) *window {
	w := &window{loc: loc}
	var top time.Time
	for u := from; !u.After(to); u = u.Add(time.Minute) {
		wall := wallOf(u.In(loc))
		if wall.After(top) {
			top = wall
		}
		w.instant, w.wall, w.maxWall = append(w.instant, u), append(w.wall, wall), append(w.maxWall, top)
	}
	return w
}

// reference returns the occurrences of c in the window by the model.
func (w *window) reference(c *cronSpec) []time.Time {
	var out []time.Time
	if c.wildHour {
		for i, wall := range w.wall {
			if refMatch(c, wall) {
				out = append(out, w.instant[i])
			}
		}
		return out
	}
	last := w.maxWall[len(w.maxWall)-1]
	for wall := w.wall[0]; !wall.After(last); wall = wall.Add(time.Minute) {
		if !refMatch(c, wall) {
			continue
		}
		i := sort.Search(len(w.maxWall), func(i int) bool { return !w.maxWall[i].Before(wall) })
		if i < len(w.instant) && (len(out) == 0 || !out[len(out)-1].Equal(w.instant[i])) {
			out = append(out, w.instant[i])
		}
	}
	return out
}

var modelSpecs = []string{
	"30 2 * * *", "0 2 * * *", "*/15 2 * * *", "0,30 1-3 * * *", "15 1 * * *", "45 1 * * *",
	"0 3 * * *", "* 2 * * *", "30 2 * * 0", "0 0 * * *", "59 23 * * *", "10 0 * * *",
	"0 * * * *", "*/5 * * * *", "30 * * * *", "0 */2 * * *", "*/20 1-3 * * 0", "15,45 * * * *",
}

// modelWindows are ±26 hours around every transition of the fixture zones
// in 2030-2032, plus zones with stranger histories: a gap at midnight
// (Sao Paulo 2018), a whole skipped day (Apia 2011), a two-hour DST (Troll),
// and Dublin's negative DST.
func modelWindows(t *testing.T) map[string][]time.Time {
	t.Helper()
	out := map[string][]time.Time{}
	add := func(zone string, from, to time.Time) {
		loc, err := LoadZone(zone)
		if err != nil {
			t.Fatal(err)
		}
		for u := from.In(loc); ; {
			_, end := u.ZoneBounds()
			if end.IsZero() || end.After(to) {
				break
			}
			out[zone] = append(out[zone], end)
			u = end
		}
	}
	y2030, y2033 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, z := range []string{ny, berlin, sydney, lhi} {
		add(z, y2030, y2033)
	}
	add("America/Sao_Paulo", time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC))
	add("Pacific/Apia", time.Date(2011, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC))
	add("Antarctica/Troll", y2030, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	add("Europe/Dublin", y2030, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	out[ist] = []time.Time{time.Date(2030, 3, 10, 0, 0, 0, 0, time.UTC)}
	return out
}

func TestCronMatchesReferenceModel(t *testing.T) {
	const margin = 15 * time.Hour // keep clear of the window's edges
	windows := modelWindows(t)
	if n := len(windows[ny]) + len(windows[berlin]) + len(windows[sydney]) + len(windows[lhi]); n != 24 {
		t.Fatalf("found %d transitions in the four DST zones 2030-2032, want 24", n)
	}
	for zone, transitions := range windows {
		loc, _ := LoadZone(zone)
		for _, tr := range transitions {
			w := newWindow(tr.Add(-26*time.Hour), tr.Add(26*time.Hour), loc)
			from, to := w.instant[0].Add(margin), w.instant[len(w.instant)-1].Add(-margin)
			for _, spec := range modelSpecs {
				s, err := Compile(Spec{Cron: spec, Zone: zone})
				if err != nil {
					t.Fatal(err)
				}
				compareWithModel(t, fmt.Sprintf("%s in %s around %s", spec, zone, tr.In(loc)), s, w, from, to, 7)
			}
		}
	}
}

// compareWithModel checks s against the model over [from, to] of w:
// iterating Next gives exactly the model's occurrences, and Next from every
// stride-th minute (on it, 30 s after it, a nanosecond before it) gives the
// model's next one. It returns how many occurrences the model found.
func compareWithModel(t *testing.T, label string, s *Schedule, w *window, from, to time.Time, stride int) int {
	t.Helper()
	loc := w.loc
	var want []time.Time
	for _, u := range w.reference(s.cron) {
		if !u.Before(from) && !u.After(to) {
			want = append(want, u)
		}
	}
	var got []time.Time
	for u, ok := s.Next(from.Add(-time.Nanosecond)); ok && !u.After(to); u, ok = s.Next(u) {
		got = append(got, u)
	}
	if !equalTimes(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", label, fmtTimes(got, loc), fmtTimes(want, loc))
		return len(want)
	}
	for i := 0; i < len(w.instant); i += stride {
		for _, after := range []time.Time{w.instant[i], w.instant[i].Add(30 * time.Second), w.instant[i].Add(-time.Nanosecond)} {
			if after.Before(from) || after.After(to) {
				continue
			}
			k := sort.Search(len(want), func(k int) bool { return want[k].After(after) })
			if k == len(want) {
				continue
			}
			if got, ok := s.Next(after); !ok || !got.Equal(want[k]) {
				t.Errorf("%s: Next(%s) = %s, want %s", label, after.In(loc), got.In(loc), want[k].In(loc))
			}
		}
	}
	return len(want)
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// TestResolveWallModel checks the resolution of every wall minute around
// every transition against the model: the first instant reading it or later.
func TestResolveWallModel(t *testing.T) {
	for zone, transitions := range modelWindows(t) {
		loc, _ := LoadZone(zone)
		for _, tr := range transitions {
			w := newWindow(tr.Add(-6*time.Hour), tr.Add(30*time.Hour), loc)
			for wall := wallOf(tr.In(loc)).Add(-3 * time.Hour); wall.Before(wallOf(tr.In(loc)).Add(3 * time.Hour)); wall = wall.Add(time.Minute) {
				i := sort.Search(len(w.maxWall), func(i int) bool { return !w.maxWall[i].Before(wall) })
				got := resolveWall(wall, loc)
				if !got.Equal(w.instant[i]) {
					t.Errorf("%s: resolveWall(%s) = %s, want %s", zone, wall.Format("2006-01-02 15:04"), got, w.instant[i].In(loc))
				}
				if got.Location() != loc {
					t.Errorf("resolveWall result in %v, want %v", got.Location(), loc)
				}
			}
		}
	}
}
