package jetstream

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/store/storetest"
)

// blockDamage damages the stream's only message block while the server
// is stopped.
type blockDamage struct {
	name   string
	damage func(t *testing.T, dir string)
	// lost: the server keeps counting a message it can no longer read
	// (Msgs says it has it; GetMsg and consumers skip it).
	lost bool
}

func blockFile(dir string) string {
	return filepath.Join(dir, "jetstream", "$G", "streams", "KV_timers", "msgs", "1.blk")
}

func rewrite(t *testing.T, dir string, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(blockFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blockFile(dir), fn(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func flip(from, to func(n int) int) func([]byte) []byte {
	return func(b []byte) []byte {
		for i := from(len(b)); i < to(len(b)); i++ {
			b[i] ^= 0xA5
		}
		return b
	}
}

var blockDamages = []blockDamage{
	{name: "truncated to half", damage: func(t *testing.T, dir string) {
		rewrite(t, dir, func(b []byte) []byte { return b[:len(b)/2] })
	}},
	{name: "second half zeroed", damage: func(t *testing.T, dir string) {
		rewrite(t, dir, func(b []byte) []byte { clear(b[len(b)/2:]); return b })
	}},
	{name: "bytes flipped in the middle", lost: true, damage: func(t *testing.T, dir string) {
		rewrite(t, dir, flip(func(n int) int { return n / 2 }, func(n int) int { return n/2 + 64 }))
	}},
	{name: "bytes flipped in the last message", lost: true, damage: func(t *testing.T, dir string) {
		rewrite(t, dir, flip(func(n int) int { return n - 200 }, func(n int) int { return n - 150 }))
	}},
	{name: "bytes flipped, index.db removed", damage: func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(filepath.Dir(blockFile(dir)), "index.db")); err != nil {
			t.Fatal(err)
		}
		rewrite(t, dir, flip(func(n int) int { return n / 2 }, func(n int) int { return n/2 + 64 }))
	}},
}

// What a replay does with a message block damaged while the server was
// down. nats-server 2.15.2 checks every message's checksum and never
// delivers a damaged one; what it reports depends on the damage:
//
//   - a block cut short or zeroed from some point on (a crash mid-write,
//     a torn disk): on restart it keeps the messages before the damage and
//     counts the rest as deleted (LastSeq stays, NumDeleted grows, no Lost
//     data reported), exactly as if they had been purged;
//   - bytes changed inside a message, with index.db intact: it keeps
//     counting the message (State.Msgs unchanged) but a direct get answers
//     not found and consumers skip it, silently;
//   - bytes changed with index.db gone: it rebuilds the block up to the
//     damaged message and drops everything from there (LastSeq moves back).
//
// The contract: Replay hands over every record the server can still read,
// or fails with store.ErrDamaged naming --skip-corrupt (and with
// SkipCorrupt loads the rest and counts the skipped). A message the
// server still counts but cannot read is damage, and must not pass
// silently.
func TestReplayDamagedBlock(t *testing.T) {
	for _, d := range blockDamages {
		t.Run(d.name, func(t *testing.T) {
			e := newEnv(t)
			st := e.open(StoreConfig{Shards: 2})
			fences := []store.Fence{storetest.Claim(t, st, 0, "a"), storetest.Claim(t, st, 1, "a")}
			written := writeAsync(t, st, fences, 100)
			st.Close()
			e.stop()
			d.damage(t, e.dir)
			e.start()

			st = e.open(StoreConfig{})
			si, err := st.stream.Info(e.ctx())
			if err != nil {
				t.Fatal(err)
			}
			// What the server can still read, message by message.
			var readable []storetest.Written
			readMsgs := uint64(0)
			for seq := si.State.FirstSeq; seq <= si.State.LastSeq; seq++ {
				if _, err := st.stream.GetMsg(e.ctx(), seq); err == nil {
					readMsgs++
				}
			}
			for _, w := range written {
				if _, err := st.ReadRecord(e.ctx(), w.Seq); err == nil {
					readable = append(readable, w)
				} else if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("ReadRecord(%d) of a damaged block: %v, want a record or store.ErrNotFound", w.Seq, err)
				}
			}
			t.Logf("%d of %d records readable; server state: %d msgs (%d readable), last %d, %d deleted, lost %v",
				len(readable), len(written), si.State.Msgs, readMsgs, si.State.LastSeq, si.State.NumDeleted, si.State.Lost)
			if len(readable) == len(written) {
				t.Fatal("the damage damaged nothing: the test no longer tests anything")
			}
			if unreadable := si.State.Msgs > readMsgs; unreadable != d.lost {
				t.Fatalf("nats-server counts %d messages and reads %d: not what this test documents (lost=%v); update the doc comment",
					si.State.Msgs, readMsgs, d.lost)
			}

			got, stats, err := storetest.ReplayAll(t, st, []int{0, 1})
			switch {
			case err != nil:
				if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "--skip-corrupt") {
					t.Fatalf("replay: %v, want store.ErrDamaged naming --skip-corrupt", err)
				}
				st = e.open(StoreConfig{SkipCorrupt: true})
				if got, stats, err = storetest.ReplayAll(t, st, []int{0, 1}); err != nil || stats.Skipped == 0 {
					t.Fatalf("replay with SkipCorrupt: %+v, %v; want the readable records and a count of the skipped", stats, err)
				}
				stats.Skipped = 0
			case d.lost:
				// A known limitation (docs/operations.md, "What an operator sees for each fault"): nats-server
				// still counts a message whose bytes are damaged in place but
				// skips it when delivering. Replay cannot tell that from a
				// purge by another node running meanwhile without reading
				// every gap in the stream's sequences.
				storetest.BugTest(t, "limitation: a record damaged in place in a block is skipped by the server's delivery, unseen")
				t.Errorf("the server counts %d messages and delivers %d, and Replay reported nothing (stats %+v)", si.State.Msgs, readMsgs, stats)
			}
			storetest.CheckReplay(t, got, stats, readable)
		})
	}
}
