package node

import (
	"fmt"
	"sync"
	"testing"

	"github.com/timerd/timerd/internal/record"
)

// The applier hands each shard its records in the order the replay read
// them, and every record is applied when close returns, however the shards
// fall on the workers (a node in a cluster loads an arbitrary subset).
func TestApplierKeepsEachShardsOrder(t *testing.T) {
	for _, tc := range []struct {
		shards  []int
		workers int
	}{
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, 2},
		{[]int{3, 7, 11, 15, 19}, 2}, // all odd: shard % workers would use one worker
		{[]int{9}, 8},
		{[]int{5, 2, 200}, 3},
	} {
		t.Run(fmt.Sprint(tc.shards, tc.workers), func(t *testing.T) {
			var mu sync.Mutex
			got := map[int][]uint64{}
			a := newApplier(tc.shards, tc.workers, func(sh int, seq uint64, ops []record.Op) {
				mu.Lock()
				got[sh] = append(got[sh], seq)
				mu.Unlock()
			})
			const records = 5000 // many batches per worker
			for seq := uint64(1); seq <= records; seq++ {
				sh := tc.shards[int(seq*7919)%len(tc.shards)]
				if err := a.add(sh, seq, nil); err != nil {
					t.Fatal(err)
				}
			}
			a.close()
			total := 0
			for _, sh := range tc.shards {
				seqs := got[sh]
				total += len(seqs)
				for k := 1; k < len(seqs); k++ {
					if seqs[k] <= seqs[k-1] {
						t.Fatalf("shard %d: record %d applied after %d", sh, seqs[k], seqs[k-1])
					}
				}
			}
			if total != records {
				t.Fatalf("%d records applied when close returned, want %d", total, records)
			}
			used := map[int]bool{}
			for _, sh := range tc.shards {
				used[a.of[sh]] = true
			}
			if want := min(tc.workers, len(tc.shards)); len(used) != want {
				t.Fatalf("shards went to %d workers, want %d", len(used), want)
			}
		})
	}
}
