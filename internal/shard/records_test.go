package shard

import (
	"slices"
	"testing"
)

// Compaction's choice: the oldest records are rewritten only once the dead
// records behind them number at least compactMinDead and one for every
// compactPerDead live operations rewritten.
func TestCompactionPrefixRule(t *testing.T) {
	var r records
	r.init()
	const live = 10 * compactPerDead // one old record holding these
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
	dead(live/compactPerDead - 1)
	if got := r.prefix(compactMinDead, compactPerDead, compactMaxOps); got != nil {
		t.Fatalf("%d live operations before %d dead records: compacted %v, want nothing yet", live, live/compactPerDead-1, got)
	}
	dead(1)
	if got := r.prefix(compactMinDead, compactPerDead, compactMaxOps); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("%d live operations before %d dead records: compacted %v, want record 1", live, live/compactPerDead, got)
	}
	if got := r.prefix(compactMinDead, compactPerDead, live-1); got != nil {
		t.Fatalf("a pass of at most %d operations compacted %v, want nothing", live-1, got)
	}
}
