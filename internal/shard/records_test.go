package shard

import (
	"errors"
	"slices"
	"testing"
)

// The rules records.collect follows: the dead run at the head goes by
// prefix; dead records behind a live one go one by one once they have been
// dead for a whole round; nothing live goes; a guarded record stays until
// the record guarding it is removed, and a failed purge removes nothing.
func TestRecordsCollect(t *testing.T) {
	var r records
	r.init()
	for seq := uint64(1); seq <= 10; seq++ {
		r.add(seq)
		r.hold(seq)
	}
	// 1 lives long (a far timer); 2..5 die.
	for _, seq := range []uint64{2, 3, 4, 5} {
		r.drop(seq)
	}
	if r.collect(false, false, 64) {
		t.Fatalf("purge asked with 4 dead records behind a live head and no round: below %d deletes %v", r.below, r.deletes)
	}
	if r.collect(false, true, 64) {
		t.Fatalf("records dead for less than a round removed: below %d deletes %v", r.below, r.deletes)
	}
	if !r.collect(false, true, 64) {
		t.Fatal("nothing asked at the second round")
	}
	if r.below != 0 || !slices.Equal(sorted(r.deletes), []uint64{2, 3, 4, 5}) {
		t.Fatalf("second round: below %d deletes %v, want the 4 dead ones one by one", r.below, r.deletes)
	}
	r.purged(nil)
	if r.stored() != 6 {
		t.Fatalf("%d records stored, want 6", r.stored())
	}

	// 8's Put is replaced by a Put in 11: 11 is guarded by 8 once its own
	// timer goes, and stays until 8 is removed.
	r.add(11)
	r.hold(11)
	r.guards(8, 11)
	r.drop(8)
	r.collect(false, true, 64)
	if !r.collect(false, true, 64) || !slices.Equal(r.deletes, []uint64{8}) {
		t.Fatalf("deletes %v, want 8 alone (11 is live)", r.deletes)
	}
	r.drop(11) // while 8's removal is in flight: 11 stays guarded
	r.purged(errors.New("timeout"))
	if !r.collect(false, false, 64) || !slices.Equal(r.deletes, []uint64{8}) {
		t.Fatalf("a failed purge is not asked for again: %v", r.deletes)
	}
	if r.holds[11] != 1 {
		t.Fatalf("11 is held %d times after 8's removal failed, want 1 (its guard)", r.holds[11])
	}
	r.purged(nil)
	r.collect(false, true, 64)
	if !r.collect(false, true, 64) || !slices.Equal(r.deletes, []uint64{11}) {
		t.Fatalf("deletes %v, want 11 once 8 is removed", r.deletes)
	}
	r.purged(nil)

	// A record held only by the guard of one removed in the same purge goes
	// with it, after it.
	r.add(12)
	r.hold(12)
	r.add(13)
	r.hold(13)
	r.guards(12, 13)
	r.drop(12)
	r.drop(13)
	r.collect(false, true, 64)
	if !r.collect(false, true, 64) || !slices.Equal(r.deletes, []uint64{12, 13}) {
		t.Fatalf("deletes %v, want 12 then 13", r.deletes)
	}
	r.purged(nil)

	// The head dies: everything before the next live record goes by prefix.
	r.drop(1)
	for _, seq := range []uint64{6, 7} {
		r.drop(seq)
	}
	if !r.collect(true, false, 64) || r.below != 9 {
		t.Fatalf("forced: below %d, want 9 (1, 6 and 7 dead at the head)", r.below)
	}
	r.purged(nil)
	if r.stored() != 2 {
		t.Fatalf("%d records stored, want 9 and 10", r.stored())
	}
}

func sorted(s []uint64) []uint64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
