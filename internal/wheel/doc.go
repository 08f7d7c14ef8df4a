// Package wheel is a hierarchical timing wheel for tens of millions of
// timers: the node's in-memory index of what is due when.
//
// It is a pure data structure. It starts no goroutines, never reads the
// clock and imports nothing of the project: time is an argument, an int64
// count of nanoseconds on the caller's scale (the node passes Unix
// nanoseconds), exactly as etcd's raft is driven by Tick. The wheel holds a
// due time and one uint64 per timer, the caller's id or index; payloads,
// headers and subjects live elsewhere, and the wheel's state is rebuilt
// from the store after a restart, so it has no Encode or Decode.
//
// # Usage
//
// The node loop owns one Wheel, sleeps on a single runtime timer set to
// Next, and resets that timer whenever an Add is earlier:
//
//	w := wheel.New(time.Millisecond, time.Now().UnixNano())
//	h := w.Add(dueUnixNano, id) // keep h to cancel
//	...
//	w.Cancel(h)
//	...
//	if due, ok := w.Next(); ok {
//		timer.Reset(time.Until(time.Unix(0, due)))
//	}
//	...
//	// when the timer fires (or on any wake-up):
//	var fired []uint64
//	w.Advance(time.Now().UnixNano(), func(id uint64, due int64) {
//		fired = append(fired, id) // fn must not call the wheel
//	})
//
// A Wheel is not safe for concurrent use. The callback given to Advance
// must not call Add, Cancel, Advance or Next; they panic if it does. The
// wheel's time only moves forward: Advance with an earlier now (a wall
// clock stepped back) does nothing, and entries wait until now passes the
// wheel's time again.
//
// # Guarantees
//
//   - Never early: Advance(now) hands out an entry only when due <= now, to
//     the nanosecond, whatever the tick.
//   - Everything due: Advance(now) hands out every entry with due <= now,
//     including entries added with a due at or before the wheel's time,
//     however far in the past.
//   - In order: within one Advance call, entries come out in nondecreasing
//     due order, across ticks and levels, not just within a tick. Entries
//     with equal due come out in an order fixed by the sequence of calls
//     made on the wheel (no map iteration, no randomness): replaying the
//     same calls replays the same order.
//   - Exactly once: an entry is handed out once, or cancelled once, never
//     both. Advance with a now earlier than the wheel's time does nothing.
//   - Next is never later than the earliest due. It is exact when the next
//     slot to handle is small (the common case) and otherwise the start of
//     that slot; after Advance(now) it is later than now unless something
//     due by now was added since, so a loop that sleeps until Next never
//     spins.
//   - Handles are valid for exactly one entry life: the zero Handle is
//     never valid, and a handle of an entry that was cancelled or handed
//     out stays invalid even after its slab slot is reused, because the
//     slot's generation changes. Cancel of such a handle returns false.
//
// # Why hierarchical
//
// A single flat wheel of 1 ms slots would need 3.6 million slots to cover
// an hour and 31.5 billion to cover a year, and a hashed wheel (nats-server's
// thw: 4096 one-second slots holding maps) keeps far-future entries in the
// same slots as near ones, so every sweep looks at entries that are not
// due. A sorted structure (the runtime's timer heap, a B-tree) pays
// O(log n) per add and cancel, with cache misses at millions of entries.
//
// The hierarchical wheel (Varghese and Lauck, "Hashed and Hierarchical
// Timing Wheels", 1987; Kafka's SystemTimer and Linux's timer wheel are
// well-known instances) keeps several wheels of 256 slots. Level 0 has one
// slot per tick (1 ms by default, 256 ms in all); each slot of level l
// spans 256^l ticks, so level 1 covers 65.5 s, level 2 4.7 h, level 3
// 49.7 days, level 4 34.8 years, and enough levels are created to cover
// every tick of the int64 range (six with a 1 ms tick, eight with 1 ns).
// A due years ahead costs the same as one a second ahead: one slot, found
// by arithmetic.
//
// # Placement
//
// Ticks are counted from New's now. Seen from the current tick cur, an
// entry due in tick t > cur goes to level l, the highest 8-bit digit in
// which t differs from cur, in the slot given by t's digit l. So t's
// higher digits equal cur's and its digit l is greater than cur's: every
// occupied slot of a level lies ahead of the current position there, and
// every slot of level l lies inside the current slot of level l+1. An entry
// due by the wheel's time or in the current tick goes to the pending list
// instead, to be handed out, in order, by the next Advance.
//
// # Advance, cascading and huge jumps
//
// Advance does not step tick by tick. A bitmap per level (256 bits) and a
// mask of non-empty levels give the next event in O(1): the first occupied
// slot of the lowest non-empty level, and the tick at which the current
// position reaches it. Advance jumps straight to that tick and handles the
// slot, then looks for the next event, until the next event lies beyond
// now. Empty time costs nothing, so a jump of a year over an empty wheel
// costs as much as a jump of one tick.
//
// Handling a slot of level 0 moves its entries, all in the current tick,
// to the queue. Handling a slot of a higher level cascades it: each entry
// is placed again relative to the new current tick, which sends it to a
// lower level, or to the queue when it is already due. An entry passes
// through each level at most once on its way down, so cascading costs
// amortized O(levels) = O(1) per entry. When the whole of a higher slot is
// due (a jump past its end, as after the machine slept or the node
// restarted hours later) and it is not huge, it goes to the queue
// directly, so catching up touches each entry once.
//
// The queue holds what left the slots, sorted by due with a stable bucket
// or radix sort (insertion sort for a few entries), so even a million
// entries due in one tick come out in due order at a cost per entry that
// does not grow with their number. It has two parts. Entries already due are freed
// as they are queued and carry their value with them, so handing them out
// touches only the queue. Entries of the current tick that are not yet
// due stay in the slab and stay cancellable; a cancelled one is dropped
// when it reaches the front.
//
// If the callback panics, the entry it was given counts as handed out and
// the rest stay queued for the next Advance; those already due by then can
// no longer be cancelled.
//
// # Memory
//
// Entries live in a slab: fixed-size chunks of a 24-byte struct with no
// pointers (due, value, generation, location), addressed by a uint32
// index. Chunks are never moved, so growing copies nothing, and the garbage
// collector sees one pointer per 4096 entries and never scans an entry.
// Freed entries go on a stack of indices (4 bytes per free slot) and are
// reused last-freed first, so in steady state Add, Cancel and Advance
// allocate nothing, and taking a free entry reads nothing from the slab.
//
// The lists are index-linked, but not with one link per entry: each
// slot's list is an unrolled list of 64-byte blocks (one cache line) of 15
// entry indices and the list's own index, every block but the tail full,
// with the list's block indices kept in order in a small table. Each entry
// records its block and position, so Cancel moves the list's last index
// into the hole: O(1) with no search. Walking a list reads the table in
// sequence and then blocks and entries whose loads are all independent,
// and it loads the next block's entries before working on the current
// one, so the processor overlaps the cache misses. A prev/next list of
// entry indices, this package's first version, makes it chase one miss
// after another: a catch-up over 1e6 entries cost about 230 ns per entry
// with it, against about 50 now; and it costs 8 bytes per entry instead of
// 4.5. A slot that is all due and big is read in slab order instead (its
// indices ordered by stretch of the slab first), so each page of the slab
// is visited once.
// Altogether a live entry costs about 29 bytes, measured by the
// benchmarks.
//
// # Complexity
//
//	Add     O(1)
//	Cancel  O(1)
//	Next    O(1) amortized: cached until an Advance, an earlier Add, or the
//	        Cancel of the entry it reported; computing it scans at most one
//	        slot and the pending list, each only when small
//	Advance O(1) per occupied slot reached, plus amortized O(1) per entry
//	        cascaded or handed out (the sorts are linear)
//	Len     O(1)
package wheel
