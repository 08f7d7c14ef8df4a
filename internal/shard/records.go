package shard

import "slices"

// records is the liveness of the shard's group records: how many live
// operations each holds, so that dead ones are purged. A record holds a
// live operation while it has the current Put of a stored timer or the
// latest Progress of a recurring one. Deletes are never live: records are
// purged by prefix (everything of the shard below a sequence), so a Delete
// can never be purged before the Put it kills, which is older.
type records struct {
	live  map[uint64]int32 // record seq -> live operations in it
	order []uint64         // record seqs, ascending, not yet purged
	dead  int              // records in order with no live operation
	acked uint64           // highest record seq acknowledged or replayed

	purgedBelow uint64 // every record below has been purged (or asked to be)
	unpurged    int    // records dropped from order since the last purge
	retryPurge  bool   // the last purge failed: ask again
}

func (r *records) init() { r.live = make(map[uint64]int32) }

// add registers record seq, stored or replayed, holding nothing yet.
func (r *records) add(seq uint64) {
	if _, ok := r.live[seq]; ok || seq < r.purgedBelow {
		return
	}
	r.live[seq] = 0
	r.dead++
	if n := len(r.order); n == 0 || r.order[n-1] < seq {
		r.order = append(r.order, seq)
	} else {
		i, _ := slices.BinarySearch(r.order, seq)
		r.order = slices.Insert(r.order, i, seq)
	}
	r.acked = max(r.acked, seq)
}

// hold counts one more live operation in record seq.
func (r *records) hold(seq uint64) {
	v, ok := r.live[seq]
	if !ok {
		return // purged already: cannot be (callers hold only records they just read or wrote)
	}
	if v == 0 {
		r.dead--
	}
	r.live[seq] = v + 1
}

// drop counts one live operation less in record seq.
func (r *records) drop(seq uint64) {
	if v, ok := r.live[seq]; ok && v > 0 {
		r.live[seq] = v - 1
		if v == 1 {
			r.dead++
		}
	}
}

// collect drops the dead records at the head and returns the sequence
// below which every record of the shard may be purged: 0 when there is
// nothing new, or fewer than min records and not forced.
func (r *records) collect(force bool, min int) uint64 {
	for len(r.order) > 0 && r.live[r.order[0]] == 0 {
		delete(r.live, r.order[0])
		r.order = r.order[1:]
		r.dead--
		r.unpurged++
	}
	if r.unpurged == 0 && !r.retryPurge || !force && !r.retryPurge && r.unpurged < min {
		return 0
	}
	below := r.acked + 1
	if len(r.order) > 0 {
		below = r.order[0]
	}
	if below <= r.purgedBelow && !r.retryPurge {
		return 0
	}
	r.purgedBelow, r.unpurged, r.retryPurge = max(r.purgedBelow, below), 0, false
	return below
}

// prefix chooses records to compact: the longest run of the oldest
// records in which at least minDead records are dead and rewriting the live
// operations costs at most perDead of them for each dead record freed
// (they go out grouped, dozens to a record), with at most maxOps live
// operations in all. It returns the records holding those operations (none
// when no run qualifies).
func (r *records) prefix(minDead, perDead, maxOps int) []uint64 {
	best, ops, dead := -1, 0, 0
	for k, seq := range r.order {
		live := int(r.live[seq])
		if live == 0 {
			dead++
		}
		ops += live
		if ops > maxOps {
			break
		}
		if dead >= minDead && ops <= perDead*dead {
			best = k
		}
	}
	var out []uint64
	for _, seq := range r.order[:best+1] {
		if r.live[seq] > 0 {
			out = append(out, seq)
		}
	}
	return out
}
