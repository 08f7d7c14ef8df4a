// Package shard is the core of a timerd node: the state of one shard of
// timers as a pure state machine, in the manner of etcd's raft. It holds
// the shard's timers in every form (the table), the liveness of its group
// records, its mark, the recurring timers' progress, the group commit queue
// and the fires in flight. It never reads the clock, starts no goroutine
// and does no I/O: every method takes the current time and the outcomes of
// I/O as arguments, and gathers what is to be done in a Ready.
//
// A driver (internal/node) owns one Shard per shard it serves, guards it
// with a lock of its own, and runs it:
//
//	mu.Lock()
//	s.Schedule(now, tok, req)      // or Cancel, Get, Due, Fired, Acked, Checkpoint, ...
//	rd := s.Ready()
//	mu.Unlock()
//	// outside the lock:
//	for _, r := range rd.Records { store.Write(fence, r.Ops, ack -> s.Acked(now, r.ID, seq, err)) }
//	for _, f := range rd.Fires   { publish(f) -> s.Fired(now, f.ID, err, permanent) }
//	for _, seq := range rd.Reads { read(seq) -> s.RecordRead(now, seq, ops, err) }
//	for _, r := range rd.Replies { answer r.Token with r.Value or r.Err }
//	rd.Mark, rd.PurgeBelow       -> s.MarkWritten, s.Purged
//
// Records must be written in the order Ready lists them, and before the
// records of any later Ready of the same shard.
//
// # What a 200 means
//
// An operation takes effect only when the record holding it is
// acknowledged (Acked); its reply is gathered then. Operations on a timer
// whose earlier change is not yet acknowledged wait for it (they are
// parked and run again), so at most one write per timer is in flight and
// a reply always describes stored state.
//
// # Where a timer is
//
// table.go describes the locations (far, near, loaded, firing, fired);
// convert.go is every move between them; view.go every reply and view.
// The shard arms its entries on a timing wheel it shares with the node's
// other shards (Wheel): wheel values carry the shard ID, and Due takes the
// ones the driver's wheel handed out.
//
// # Time
//
// Occurrences come from internal/cronfeed; a fire is handed out only when
// the wheel says its time (nominal plus jitter) has come, so none is
// early. Marks record completion as progress (checkpoint.go): every
// one-shot whose Put is in a record <= Mark.Seq and whose due time is <=
// Mark.Through has fired, so a restart neither loses nor repeats more than
// the last mark interval's fires, which their Nats-Msg-Id deduplicates.
package shard
