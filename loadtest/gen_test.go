package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
)

func testGenerator() *Generator {
	return &Generator{cfg: GenConfig{Run: "r1", Prefix: "timerd", Payload: 40, DelayMin: 2 * time.Second, DelayMax: 2 * time.Second,
		RecurFires: 3, RecurEvery: time.Second, Kinds: []string{kindIn}}, disabled: map[string]bool{}}
}

func TestScheduleMsg(t *testing.T) {
	g := testGenerator()
	now := time.Date(2030, 1, 2, 3, 4, 5, 250e6, time.UTC)
	for _, c := range []struct {
		kind, header, want string
		replace            bool
		start              time.Time
	}{
		{kind: kindIn, header: api.HeaderIn, want: "2s"},
		{kind: kindAt, header: api.HeaderAt, want: "2030-01-02T03:04:07.25Z"},
		{kind: kindCron, header: api.HeaderCron, want: "@every 1s"},
		{kind: kindRepeat, header: api.HeaderRepeat, want: "R3/2030-01-02T03:04:08Z/PT1S", start: time.Date(2030, 1, 2, 3, 4, 8, 0, time.UTC)},
		{kind: kindRepeat, header: api.HeaderRepeat, want: "R3/2030-01-02T03:04:08.5Z/PT1S", replace: true, start: time.Date(2030, 1, 2, 3, 4, 8, 5e8, time.UTC)},
	} {
		m, start := g.scheduleMsg("lt-r1-7", c.kind, now, 1, c.replace)
		if got := m.Header.Get(c.header); got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.kind, c.header, got, c.want)
		}
		if !c.start.IsZero() && start != c.start.UnixNano() {
			t.Errorf("%s: start %v, want %v", c.kind, time.Unix(0, start).UTC(), c.start)
		}
		if m.Subject != "timerd.schedule" || m.Header.Get(api.HeaderID) != "lt-r1-7" ||
			!strings.HasPrefix(m.Header.Get(api.HeaderSubject), "loadtest.r1.fire.") || len(m.Data) != 40 || !strings.HasPrefix(string(m.Data), "lt-r1-7#1#") {
			t.Errorf("%s: request %v %q", c.kind, m.Header, m.Data)
		}
		if (m.Header.Get(api.HeaderReplace) == "true") != c.replace {
			t.Errorf("%s: replace header %q", c.kind, m.Header.Get(api.HeaderReplace))
		}
		if c.kind == kindCron || c.kind == kindRepeat {
			if m.Header.Get(api.HeaderMisfire) != api.MisfireAll {
				t.Errorf("%s: recurring timers must ask for every missed occurrence", c.kind)
			}
		}
	}
}

func TestOccurrences(t *testing.T) {
	g := testGenerator()
	start := time.Date(2030, 1, 1, 0, 0, 10, 0, time.UTC)
	at := func(s int) int64 { return start.Add(time.Duration(s) * time.Second).UnixNano() }
	reply := func(next time.Time, created bool) api.ScheduleReply {
		return api.ScheduleReply{Next: api.FormatTime(next), Created: created}
	}
	for _, c := range []struct {
		name      string
		a         action
		rep       api.ScheduleReply
		must, may []int64
		ok        bool
	}{
		{"one-shot", action{kind: kindIn}, reply(start, true), []int64{at(0)}, nil, true},
		{"repeat created", action{kind: kindRepeat, start: at(0)}, reply(start, true), []int64{at(0), at(1), at(2)}, nil, true},
		{"repeat created late: earlier ones precede it", action{kind: kindRepeat, start: at(0)}, reply(start.Add(2*time.Second), true), []int64{at(2)}, nil, true},
		{"repeat retried: earlier ones may have fired", action{kind: kindRepeat, start: at(0)}, reply(start.Add(time.Second), false), []int64{at(1), at(2)}, []int64{at(0)}, true},
		{"cron created", action{kind: kindCron}, reply(start, true), []int64{at(0), at(1), at(2)}, nil, true},
		{"cron retried: unknown", action{kind: kindCron}, reply(start, false), nil, nil, false},
	} {
		must, may, ok, err := g.occurrences(&c.a, c.rep)
		if err != nil || ok != c.ok || !equal(must, c.must) || !equal(may, c.may) {
			t.Errorf("%s: must %v may %v ok %v err %v; want %v %v %v", c.name, must, may, ok, err, c.must, c.may, c.ok)
		}
	}
	if _, _, _, err := g.occurrences(&action{kind: kindIn}, api.ScheduleReply{Next: "soon"}); err == nil {
		t.Error("bad next accepted")
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryable(t *testing.T) {
	if !retryable(200, errTest) || !retryable(503, nil) || !retryable(429, nil) || retryable(400, nil) || retryable(409, nil) {
		t.Error("retryable misclassifies")
	}
}

var errTest = errors.New("no reply")

// With -fault mix the kinds go round and shift by one each round of the
// nodes, so every node meets every kind.
func TestFaultKind(t *testing.T) {
	seen := map[string]bool{}
	for k := 0; k < 9; k++ {
		seen[fmt.Sprintf("n%d %s", k%3+1, faultKind("mix", k, 3))] = true
	}
	if len(seen) != 9 {
		t.Errorf("9 faults over 3 nodes met %d node and kind pairs: %v", len(seen), seen)
	}
	if faultKind("mix", 0, 3) != "kill" || faultKind("mix", 1, 3) != "stop" || faultKind("stop", 5, 3) != "stop" {
		t.Error("mix starts with kill, then stop; a single kind stays")
	}
}
