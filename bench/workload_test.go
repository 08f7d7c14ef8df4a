package main

import (
	"testing"
	"time"
)

func TestDueOffsetsCoverTheWindowOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 1000, 4096, 99991} {
		for _, shuffle := range []bool{false, true} {
			w := Workload{Timers: n, Payload: 64, Due: 5 * time.Second, Spread: 10 * time.Second,
				Shuffle: shuffle, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1, Seed: 7}
			if err := w.Normalize(); err != nil {
				t.Fatal(err)
			}
			seen := make([]bool, n)
			for i := 0; i < n; i++ {
				p := w.position(i)
				if p < 0 || p >= n || seen[p] {
					t.Fatalf("n=%d shuffle=%v: position(%d) = %d repeats or is out of range", n, shuffle, i, p)
				}
				seen[p] = true
				d := w.DueOffset(i)
				if d < w.Due || d > w.LastDueOffset() {
					t.Fatalf("n=%d: due %v outside [%v, %v]", n, d, w.Due, w.LastDueOffset())
				}
			}
		}
	}
}

func TestShuffleScatters(t *testing.T) {
	w := Workload{Timers: 1000, Spread: time.Second, Shuffle: true}
	inOrder := 0
	for i := 1; i < w.Timers; i++ {
		if w.DueOffset(i) > w.DueOffset(i-1) {
			inOrder++
		}
	}
	if inOrder > 900 || inOrder < 100 {
		t.Errorf("%d of 999 neighbours in due order: not shuffled", inOrder)
	}
}

func TestFireRateSetsSpread(t *testing.T) {
	w := Workload{Timers: 1_000_000, Payload: 64, FireRate: 20000, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1}
	if err := w.Normalize(); err != nil {
		t.Fatal(err)
	}
	if w.Spread != 50*time.Second {
		t.Errorf("spread %v, want 50s", w.Spread)
	}
	if r := w.OfferedFireRate(); r != 20000 {
		t.Errorf("offered rate %v", r)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	w := Workload{Payload: 20}
	for _, i := range []int{0, 1, 255, 1 << 20, 123456789} {
		p := w.PayloadOf(i)
		if len(p) != 20 || p[19] != 'x' {
			t.Fatalf("payload %q", p)
		}
		got, ok := IndexOf(p)
		if !ok || got != i {
			t.Errorf("IndexOf(PayloadOf(%d)) = %d, %v", i, got, ok)
		}
	}
	if _, ok := IndexOf([]byte("short")); ok {
		t.Error("short payload accepted")
	}
	if _, ok := IndexOf([]byte("zzzzzzzzzzzzzzzzzz")); ok {
		t.Error("non-hex payload accepted")
	}
}

func TestCancelShare(t *testing.T) {
	w := Workload{CancelShare: 0.1, Seed: 3}
	n := 0
	for i := 0; i < 100000; i++ {
		if w.Cancelled(i) {
			n++
		}
	}
	if n < 9500 || n > 10500 {
		t.Errorf("%d of 100000 cancelled, want about 10000", n)
	}
	w.CancelShare = 0
	if w.Cancelled(5) {
		t.Error("share 0 cancels")
	}
}

func TestNormalizeRejects(t *testing.T) {
	base := Workload{Timers: 10, Payload: 64, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1}
	for name, mut := range map[string]func(*Workload){
		"no timers":     func(w *Workload) { w.Timers = 0 },
		"tiny payload":  func(w *Workload) { w.Payload = 4 },
		"cancel > 1":    func(w *Workload) { w.CancelShare = 2 },
		"zero inflight": func(w *Workload) { w.InFlight = 0 },
	} {
		w := base
		mut(&w)
		if w.Normalize() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFarTimersStayOutOfTheRun(t *testing.T) {
	w := Workload{Timers: 1000, Far: 900, FarDue: 720 * time.Hour, Payload: 64, Due: 5 * time.Second, FireRate: 20,
		Shuffle: true, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1, Seed: 3}
	if err := w.Normalize(); err != nil {
		t.Fatal(err)
	}
	if w.Spread != 5*time.Second || w.OfferedFireRate() != 20 {
		t.Fatalf("spread %v, offered %v: want the near 100 over 5s", w.Spread, w.OfferedFireRate())
	}
	far := 0
	for i := 0; i < w.Timers; i++ {
		d := w.DueOffset(i)
		if w.IsFar(i) {
			far++
			if d < w.FarDue {
				t.Fatalf("far timer %d due at %v, before %v", i, d, w.FarDue)
			}
		} else if d < w.Due || d > w.LastDueOffset() {
			t.Fatalf("near timer %d due %v outside [%v, %v]", i, d, w.Due, w.LastDueOffset())
		}
	}
	if far != 900 {
		t.Fatalf("%d far, want 900", far)
	}
	tr := NewTracker(&w, 0)
	tr.Start(time.Now())
	for i := 0; i < w.Timers; i++ {
		tr.Scheduled(i, true)
	}
	if got := tr.Outstanding(); got != 100 {
		t.Fatalf("outstanding %d, want the 100 near ones", got)
	}
	for i := 0; i < w.Timers; i++ {
		if !w.IsFar(i) {
			tr.Fire(i, tr.Due(i), 0)
		}
	}
	st := tr.Stats()
	if tr.Outstanding() != 0 || st.Lost != 0 || st.FarPending != 900 || st.Scheduled != 1000 {
		t.Fatalf("after the near fires: outstanding %d, %+v", tr.Outstanding(), st)
	}
	if err := (&Workload{Timers: 10, Far: 10, Payload: 64, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1}).Normalize(); err == nil {
		t.Fatal("-far as large as -timers accepted")
	}
}
