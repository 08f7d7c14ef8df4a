package shard

import "slices"

// records is the liveness of the shard's group records, so that dead ones
// are removed from the store. A record is held by
//
//   - its live operations: the current Put of a stored timer, the latest
//     Progress of a recurring one, the latest Failed of a set-aside one;
//   - guards: a record whose operations made an older Put obsolete (a
//     replace, a pause or resume, a Delete) is held until that older
//     record is removed, else a replay of the older record alone would
//     bring the old definition back.
//
// A record nothing holds is dead. The dead records at the head of the
// shard go together, in one purge by prefix; dead records behind a live
// one (a timer due in a month, say) go one by one once they have been
// dead for a whole round, so that no long-lived timer keeps the records
// after it, and none has to be rewritten to let them go.
type records struct {
	holds map[uint64]int32    // stored record -> holds; -1: in the purge in flight
	order []uint64            // stored record seqs, ascending (removed ones are skipped)
	gone  int                 // seqs in order no longer stored
	dead  int                 // stored records nothing holds, not in the purge
	guard map[uint64][]uint64 // record -> the newer records it holds
	acked uint64              // highest record seq acknowledged or replayed

	// Dead records behind the head, by the round they died in (they may
	// have come back to life since: checked when they are taken).
	young, old []uint64

	// The purge in flight (or to ask again when it failed).
	below   uint64   // by prefix: every record below
	deletes []uint64 // one by one
	doomed  []uint64 // every record the purge removes
	retry   bool

	purgedBelow uint64 // every record below has been removed (or asked to be)
}

// maxDeletes bounds the records one purge removes one by one (a request
// each, so a backlog, after a restart say, goes at 64 shards x 512 a
// round rather than in one burst); the rest wait for the next round.
const maxDeletes = 512

func (r *records) init() {
	r.holds = make(map[uint64]int32)
	r.guard = make(map[uint64][]uint64)
}

// add registers record seq, stored or replayed, holding nothing yet.
func (r *records) add(seq uint64) {
	if _, ok := r.holds[seq]; ok || seq < r.purgedBelow {
		return
	}
	r.holds[seq] = 0
	r.dead++
	if n := len(r.order); n == 0 || r.order[n-1] < seq {
		r.order = append(r.order, seq)
	} else {
		i, _ := slices.BinarySearch(r.order, seq)
		r.order = slices.Insert(r.order, i, seq)
	}
	r.acked = max(r.acked, seq)
}

// settled says record seq, added, has taken the holds of its operations:
// if it holds nothing it is dead already. (Not in add: most records are
// held at once, and the list of the dead would cost 8 B a record.)
func (r *records) settled(seq uint64) {
	if v, ok := r.holds[seq]; ok && v == 0 {
		r.young = append(r.young, seq)
	}
}

// hold counts one more hold on record seq.
func (r *records) hold(seq uint64) {
	v, ok := r.holds[seq]
	if !ok || v < 0 {
		return // removed already: cannot be (callers hold only records they just read or wrote)
	}
	if v == 0 {
		r.dead--
	}
	r.holds[seq] = v + 1
}

// drop counts one hold less on record seq.
func (r *records) drop(seq uint64) {
	if v, ok := r.holds[seq]; ok && v > 0 {
		r.holds[seq] = v - 1
		if v == 1 {
			r.dead++
			r.young = append(r.young, seq)
		}
	}
}

// guards makes record g outlive record p, older, while p is stored.
func (r *records) guards(p, g uint64) {
	if p == 0 || p >= g {
		return
	}
	if _, stored := r.holds[p]; !stored {
		return
	}
	if _, ok := r.holds[g]; !ok {
		return
	}
	r.guard[p] = append(r.guard[p], g)
	r.hold(g)
}

// stored is the number of records not yet removed.
func (r *records) stored() int { return len(r.holds) }

// collect chooses the records the next purge removes: the dead run at the
// head, once min of them have gathered (or when force), and, at a round
// (or when force), the dead records behind a live head that died before
// the last round. A record held only by guards of records the purge
// removes goes with them: the prefix goes first, and the records one by
// one in ascending order, so an older record is always removed before the
// ones it guards. It returns whether there is a purge to ask for (below,
// deletes). A failed purge is asked for again as it was.
func (r *records) collect(force, round bool, min int) bool {
	if r.retry {
		r.retry = false
		return true
	}
	if len(r.doomed) > 0 {
		return false // in flight
	}
	credit := make(map[uint64]int32)
	// The dead run at the head.
	k, run := 0, 0
	for ; k < len(r.order); k++ {
		seq := r.order[k]
		v, ok := r.holds[seq]
		if !ok {
			continue
		}
		if v != credit[seq] {
			break
		}
		run++
		for _, g := range r.guard[seq] {
			credit[g]++
		}
	}
	headEnd := r.acked + 1 // the first record that stays
	if k < len(r.order) {
		headEnd = r.order[k]
	}
	if run == 0 && k > 0 {
		r.order, r.gone = r.order[k:], r.gone-k
	}
	if run > 0 && (force || round || run >= min) {
		for _, seq := range r.order[:k] {
			if _, ok := r.holds[seq]; ok {
				r.doom(seq)
			} else {
				r.gone--
			}
		}
		r.order = r.order[k:]
		r.below = headEnd
	}
	// Dead records behind the head.
	if force {
		r.old = append(r.old, r.young...)
		r.young = r.young[:0]
	}
	if force || round {
		clear(credit)
		var later []uint64
		for n, seq := range r.old {
			if seq < headEnd {
				continue // goes with the head
			}
			if v, ok := r.holds[seq]; !ok || v != 0 {
				continue // came back to life, or taken already
			}
			if len(r.deletes) >= maxDeletes {
				later = append(later, r.old[n:]...)
				break
			}
			r.doomOne(seq, credit)
		}
		r.old = append(later, r.young...)
		r.young = nil
		slices.Sort(r.deletes)
	}
	if len(r.doomed) == 0 {
		return false
	}
	r.purgedBelow = max(r.purgedBelow, r.below)
	return true
}

// doomOne removes seq one by one, and with it the records held only by
// its guards and theirs.
func (r *records) doomOne(seq uint64, credit map[uint64]int32) {
	r.doom(seq)
	r.deletes = append(r.deletes, seq)
	for _, g := range r.guard[seq] {
		credit[g]++
		if v := r.holds[g]; v > 0 && v == credit[g] {
			r.doomOne(g, credit)
		}
	}
}

func (r *records) doom(seq uint64) {
	if r.holds[seq] == 0 {
		r.dead--
	}
	r.holds[seq] = -1
	r.doomed = append(r.doomed, seq)
}

// purged takes the outcome of the purge collect chose: the records it
// removed release the ones they guarded.
func (r *records) purged(err error) {
	if err != nil {
		r.retry = true
		return
	}
	for _, seq := range r.doomed {
		delete(r.holds, seq)
		for _, g := range r.guard[seq] {
			r.drop(g)
		}
		delete(r.guard, seq)
	}
	r.gone += len(r.deletes)
	r.below, r.deletes, r.doomed = 0, nil, nil
	if r.gone > 1024 && r.gone > len(r.order)/2 {
		r.order = slices.DeleteFunc(r.order, func(seq uint64) bool {
			_, ok := r.holds[seq]
			return !ok
		})
		r.gone = 0
	}
}
