package shard

import (
	"slices"
	"testing"
)

// Compaction's choice: the oldest records are rewritten only once the dead
// records behind them number at least compactMinDead and one for every 4
// live operations rewritten. (At 32 rewrites per record freed, 900k far
// timers were rewritten every ~110 dead records a shard: docs/benchmarks.md,
// "Compaction and purges with far timers".)
func TestCompactionPrefixRule(t *testing.T) {
	var r records
	r.init()
	const live = 40 // one old record holding these
	r.add(1)
	for range live {
		r.hold(1)
	}
	seq := uint64(2)
	dead := func(n int) {
		for range n {
			r.add(seq)
			seq++
		}
	}
	dead(9)
	if got := r.prefix(compactMinDead, compactPerDead, compactMaxOps); got != nil {
		t.Fatalf("%d live operations before 9 dead records: compacted %v, want nothing yet (over 4 rewrites per record freed)", live, got)
	}
	dead(1)
	if got := r.prefix(compactMinDead, compactPerDead, compactMaxOps); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("%d live operations before 10 dead records: compacted %v, want record 1", live, got)
	}
	if got := r.prefix(compactMinDead, compactPerDead, live-1); got != nil {
		t.Fatalf("a pass of at most %d operations compacted %v, want nothing", live-1, got)
	}
}
