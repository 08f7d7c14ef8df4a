package node

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/timerd/timerd/internal/record"
)

// The far tier against a map: random adds and removes, with ids crafted so
// that many share hash bits (long probe runs, wrap-around, backward shifts).
func TestFarTierAgainstMap(t *testing.T) {
	f := newFarTier(time.Second)
	want := map[string]int64{} // id -> due
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 200000 {
		id := fmt.Sprintf("id-%d", rng.IntN(5000))
		i, ok := f.find(id)
		due, exists := want[id]
		if ok != exists || (ok && f.ents[i].due != due) {
			t.Fatalf("step %d: find(%q) = %v, %v; want due %d, %v", step, id, i, ok, due, exists)
		}
		if exists && rng.IntN(2) == 0 {
			f.remove(i)
			delete(want, id)
		} else if !exists {
			due := rng.Int64N(1000) * int64(time.Second)
			if !f.add(id, 0, uint64(step), uint64(step), 0, due, true) {
				t.Fatalf("add(%q) refused", id)
			}
			want[id] = due
		}
		if f.count != len(want) || f.idx.used != len(want) {
			t.Fatalf("step %d: count %d, index %d, want %d", step, f.count, f.idx.used, len(want))
		}
	}
	// Every live entry comes out of the buckets exactly once, in due order
	// by bucket.
	got := map[string]bool{}
	for _, r := range f.takeDue(1<<62, nil) {
		id := string(f.id(r.i))
		if got[id] {
			t.Fatalf("%q taken twice", id)
		}
		got[id] = true
	}
	if len(got) != len(want) {
		t.Fatalf("buckets hand out %d entries, want %d", len(got), len(want))
	}
}

func TestFarIndexCollisions(t *testing.T) {
	var x farIndex
	// Entries whose hashes all land on a few home slots near the end of the
	// table, so probe runs wrap around.
	live := map[uint32]uint64{}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 50000 {
		i := uint32(rng.IntN(600))
		if h, ok := live[i]; ok {
			x.delete(h, i)
			delete(live, i)
		} else {
			h := uint64(1022+rng.IntN(4))%1024 | uint64(rng.IntN(3))<<40
			x.insert(h, i)
			live[i] = h
		}
		if step%997 == 0 {
			for i, h := range live {
				if !x.has(h, i) {
					t.Fatalf("step %d: entry %d (hash %x) lost", step, i, h)
				}
			}
		}
	}
}

// has reports whether slot content for (h, i) is reachable from h's home.
func (x *farIndex) has(h uint64, i uint32) bool {
	mask := uint64(len(x.slots) - 1)
	want := uint64(uint32(h))<<32 | uint64(i+1)
	for k := h & mask; x.slots[k] != 0; k = (k + 1) & mask {
		if x.slots[k] == want {
			return true
		}
	}
	return false
}

func TestFiredSetGenerations(t *testing.T) {
	var f firedSet
	keep := time.Second
	fired := func(id string, hash uint64) *timer {
		return &timer{rec: &record.Timer{ID: id, ReqHash: hash, Revision: hash + 1, Due: int64(hash)}}
	}
	f.rotate(0, keep)
	f.add(fired("a", 1))
	f.add(fired("b", 2))
	if g := f.get("a"); g == nil || !g.done || g.rec.ReqHash != 1 || g.rec.Revision != 2 || g.rec.Due != 1 || g.oneShot() != true {
		t.Fatalf("get a: %+v", g)
	}
	f.add(fired("a", 3)) // fired again under the same id: the newer one answers
	if g := f.get("a"); g == nil || g.rec.ReqHash != 3 {
		t.Fatalf("get a after a second fire: %+v", g)
	}
	f.forget("b")
	if f.get("b") != nil || f.get("c") != nil {
		t.Fatal("forgotten or unknown id answered")
	}
	f.rotate(int64(keep)/2, keep) // too early: nothing moves
	f.rotate(int64(keep), keep)   // a new generation: a is still known
	if f.get("a") == nil {
		t.Fatal("a forgotten after one rotation (kept less than keep)")
	}
	f.rotate(2*int64(keep), keep)
	if f.get("a") != nil {
		t.Fatal("a still known after two rotations")
	}
}
