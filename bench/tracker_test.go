package main

import (
	"reflect"
	"testing"
	"time"
)

func testWorkload(n int) *Workload {
	w := &Workload{Timers: n, Payload: 32, Due: time.Second, Spread: time.Second, Batch: 1, InFlight: 1, BatchInFlight: 1, Subjects: 1}
	if err := w.Normalize(); err != nil {
		panic(err)
	}
	return w
}

func TestTrackerCountsEveryOutcome(t *testing.T) {
	w := testWorkload(6)
	tr := NewTracker(w, time.Second)
	epoch := time.Unix(1000, 0)
	tr.Start(epoch)
	for i := 0; i < 6; i++ {
		tr.Scheduled(i, i != 5) // 5 failed
	}
	tr.Cancelled(3, tr.Due(3)-int64(time.Millisecond)) // cancelled before its due
	tr.Cancelled(4, tr.Due(4)+int64(time.Millisecond)) // cancelled after its due: its fire is fine

	tr.Fire(0, tr.Due(0)+int64(2*time.Millisecond), tr.Due(0)) // on time
	tr.Fire(0, tr.Due(0)+int64(3*time.Millisecond), 0)         // duplicate
	tr.Fire(1, tr.Due(1)-1, 0)                                 // early by 1ns
	tr.Fire(3, tr.Due(3)+1, 0)                                 // after its cancel
	tr.Fire(4, tr.Due(4)+1, tr.Due(4)+5)                       // allowed, but a wrong Timer-Due
	tr.Fire(99, 0, 0)                                          // no such timer
	// 2 never fires: lost.

	s := tr.Stats()
	want := FireStats{Scheduled: 5, Failed: 1, Cancelled: 2, Fired: 4, Lost: 1, Duplicates: 1, Early: 1, AfterCancel: 1, Unknown: 1, DueMismatch: 1}
	got := s
	got.FireRate, got.LagP50Ms, got.LagP99Ms, got.LagP999Ms, got.LagMaxMs, got.Timeline = 0, 0, 0, 0, 0, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
	if s.LagMaxMs < 1.99 || s.LagMaxMs > 2.02 {
		t.Errorf("max lag %v ms, want about 2", s.LagMaxMs)
	}
	if tr.Outstanding() != 1 {
		t.Errorf("outstanding %d, want 1 (timer 2)", tr.Outstanding())
	}
}

func TestTrackerFireRate(t *testing.T) {
	w := testWorkload(11)
	tr := NewTracker(w, time.Second)
	tr.Start(time.Unix(0, 0))
	for i := 0; i < 11; i++ {
		tr.Scheduled(i, true)
		tr.Fire(i, tr.Due(i), 0)
	}
	// 11 fires evenly over the 1s spread: 10 intervals in 1s.
	if r := tr.Stats().FireRate; r < 9.99 || r > 10.01 {
		t.Errorf("fire rate %v, want 10", r)
	}
}
