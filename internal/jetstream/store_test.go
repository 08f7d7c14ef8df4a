package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/store"
	"github.com/timerd/timerd/internal/store/storetest"
)

// Every test here starts its servers, connections and stores with cleanups
// that stop them: none may leave a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jsEnv is an embedded server with JetStream on loopback, file storage in
// a directory of the test, and a client connection to it.
type jsEnv struct {
	t   *testing.T
	dir string
	ns  *server.Server
	nc  *nats.Conn
}

// newEnv starts a server in a fresh directory; restart reuses it.
func newEnv(t *testing.T) *jsEnv {
	e := &jsEnv{t: t, dir: t.TempDir()}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *jsEnv) start() {
	e.t.Helper()
	ns, err := StartEmbedded(context.Background(), EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: e.dir, Name: "storetest"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ns = ns
	if e.nc, err = nats.Connect(ns.ClientURL(), nats.MaxReconnects(0)); err != nil {
		e.t.Fatal(err)
	}
}

// stop closes the connection and shuts the server down (and may be called twice).
func (e *jsEnv) stop() {
	if e.nc != nil {
		e.nc.Close()
		e.nc = nil
	}
	if e.ns != nil {
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
		e.ns = nil
	}
}

func (e *jsEnv) restart() { e.stop(); e.start() }

func (e *jsEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), storetest.Timeout)
	e.t.Cleanup(cancel)
	return ctx
}

// open opens (creating) the bucket with cfg's other fields.
func (e *jsEnv) open(cfg StoreConfig) *Store {
	e.t.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = "timers"
	}
	st, err := OpenStore(e.ctx(), e.nc, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(st.Close)
	return st
}

// The JetStream store passes the script Mem passes.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, shards int) store.Store {
		return newEnv(t).open(StoreConfig{Shards: shards})
	})
}

// The same with one fenced write a shard in flight, as on a replicated
// bucket (cmd/timerd TestNATSClusterServerFailures runs it on R3). Its
// queue has no bound to pass, so the in-flight test is left out: 70,000
// writes one after another only take long.
func TestSerialStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, shards int) store.Store {
		return newEnv(t).open(StoreConfig{Shards: shards, Serial: true})
	}, "LockAroundWritesBeyondInFlight")
}

// A bucket made by an earlier version (a plain KV bucket, which denies
// deletes by sequence) has its dead records removed by subject instead.
func TestLegacyBucketConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, shards int) store.Store {
		e := newEnv(t)
		js, err := jetstream.New(e.nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateKeyValue(e.ctx(), jetstream.KeyValueConfig{Bucket: "timers", Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
		st := e.open(StoreConfig{Shards: shards})
		if !st.denyDelete {
			t.Fatal("a KV bucket's stream taken as allowing deletes")
		}
		return st
	}, "LockAroundWritesBeyondInFlight")
}

// A bucket this version makes allows deletes by sequence, and is still a
// KV bucket to nats.go (and the nats CLI).
func TestNewBucketAllowsDeletes(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 1})
	if st.denyDelete {
		t.Fatal("the new bucket's stream denies deletes")
	}
	js, _ := jetstream.New(e.nc)
	kv, err := js.KeyValue(e.ctx(), "timers")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(e.ctx(), "cfg"); err != nil {
		t.Fatalf("cfg through nats.go's KV: %v", err)
	}
}

// The fence is checked by the server, not by the store: a write made with
// a plain JetStream client under the old revision is refused the same way,
// with the error codes storeErr maps.
func TestFenceEnforcedByServer(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 1})
	f := storetest.Claim(t, st, 0, "a")
	if _, err := st.UpdateLease(e.ctx(), 0, store.Lease{Node: "b"}, f.Rev); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("$KV.timers.t.0.raw")
	st.fenced(msg, f)
	msg.Data = []byte("x")
	reply, err := e.nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseAck(reply)
	if !errors.Is(st.storeErr(err), store.ErrFenced) {
		t.Fatalf("a raw publish under the replaced lease: %v (%s), want a fencing error", err, reply.Data)
	}
}

// A bucket deleted under a running store: writes and reads say ErrGone.
func TestStoreBucketDeleted(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 2})
	f := storetest.Claim(t, st, 0, "a")
	seq, err := storetest.WriteWait(t, st, f, storetest.Ops("x"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(e.ctx())
	defer cancel()
	events, err := st.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.js.DeleteKeyValue(e.ctx(), "timers"); err != nil {
		t.Fatal(err)
	}
	t.Run("running watch ends", func(t *testing.T) {
		// The node takes a watch that ends by itself for a deleted bucket.
		deadline := time.After(3 * time.Second)
		for {
			select {
			case _, ok := <-events:
				if !ok {
					return
				}
			case <-deadline:
				storetest.BugTest(t, "cluster.go:115 (Store.Watch): a watch running when its bucket is deleted neither ends nor reports "+
					"anything; the node's membership loop (member.go:203) waits on it for ever instead of dying")
				t.Fatal("the watch did not end within 3s of its bucket's deletion")
			}
		}
	})
	_, err = storetest.WriteWait(t, st, f, storetest.Ops("y"))
	if !errors.Is(err, store.ErrGone) {
		t.Fatalf("write to a deleted bucket: %v, want store.ErrGone", err)
	}
	if err := storetest.MarkWait(t, st, f, store.Mark{Through: 1, Seq: 1}); !errors.Is(err, store.ErrGone) {
		t.Fatalf("mark to a deleted bucket: %v, want store.ErrGone", err)
	}
	for _, op := range []struct {
		name string
		bug  string
		call func() error
	}{
		{"ReadRecord", "store.go:227 (Store.ReadRecord): GetMsg on a KV stream is a direct get ($JS.API.DIRECT.GET), " +
			"which a deleted stream answers with no responders (nats.ErrNoResponders), not ErrStreamNotFound, so gone() " +
			"does not map it to store.ErrGone",
			func() error { _, err := st.ReadRecord(e.ctx(), seq); return err }},
		{"PurgeBelow", "", func() error { return st.PurgeBelow(e.ctx(), 0, seq) }},
		{"Info", "", func() error { _, err := st.Info(e.ctx()); return err }},
		{"Replay", "", func() error { _, _, err := storetest.ReplayAll(t, st, []int{0}); return err }},
		{"ReadMark", "store.go:264 (Store.ReadMark): kv.Get is a direct get too", func() error { _, err := st.ReadMark(e.ctx(), 0); return err }},
		{"Leases", "cluster.go:22 (Store.Leases): kv.Get is a direct get too", func() error { _, _, err := st.Leases(e.ctx()); return err }},
		{"UpdateLease", "cluster.go:41 (Store.UpdateLease): a KV write to a deleted stream fails with jetstream.ErrNoStreamResponse, which gone() does not map", func() error { _, err := st.UpdateLease(e.ctx(), 0, store.Lease{Node: "b"}, f.Rev); return err }},
		{"Beat", "cluster.go:64 (Store.Beat): jetstream.ErrNoStreamResponse is not mapped, so the node's heartbeat loop (member.go:156) never dies of a deleted bucket", func() error { return st.Beat(e.ctx(), store.Member{Node: "a"}) }},
		{"Members", "cluster.go:74 (Store.Members): the KV watch answers the legacy nats.ErrStreamNotFound, and gone() checks only jetstream.ErrStreamNotFound", func() error { _, err := st.Members(e.ctx()); return err }},
		{"Leave", "cluster.go:101 (Store.Leave): jetstream.ErrNoStreamResponse is not mapped", func() error { return st.Leave(e.ctx(), "a") }},
		{"Watch", "cluster.go:111 (Store.Watch): the legacy nats.ErrStreamNotFound is not mapped", func() error { _, err := st.Watch(e.ctx()); return err }},
	} {
		t.Run(op.name, func(t *testing.T) {
			if err := op.call(); !errors.Is(err, store.ErrGone) {
				if op.bug != "" {
					storetest.BugTest(t, op.bug+": "+err.Error())
				}
				t.Errorf("%s on a deleted bucket: %v, want store.ErrGone", op.name, err)
			}
		})
	}
}

// MustExist refuses a missing bucket instead of creating an empty one.
func TestOpenStoreMustExist(t *testing.T) {
	e := newEnv(t)
	_, err := OpenStore(e.ctx(), e.nc, StoreConfig{Bucket: "missing", Shards: 4, MustExist: true})
	if !errors.Is(err, ErrNoBucket) {
		t.Fatalf("OpenStore of a missing bucket with MustExist: %v, want ErrNoBucket", err)
	}
	created := e.open(StoreConfig{Bucket: "there", Shards: 4})
	created.Close()
	st := e.open(StoreConfig{Bucket: "there", Shards: 9, MustExist: true})
	if st.Shards() != 4 {
		t.Fatalf("an existing bucket opened with Shards 9 has %d shards, want its own 4", st.Shards())
	}
}

// A lease key of the single-node timerd renewed recently means that node
// runs: OpenStore refuses. A stale one is removed and OpenStore goes on.
func TestOpenStoreLegacyLease(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 1})
	put := func(alive time.Time) {
		t.Helper()
		v := fmt.Sprintf(`{"node":"old","alive":%d}`, alive.UnixNano())
		if _, err := st.kv.Put(e.ctx(), "lease", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	put(time.Now())
	_, err := OpenStore(e.ctx(), e.nc, StoreConfig{Bucket: "timers", Shards: 1, LegacyLeaseTTL: time.Minute})
	if err == nil || !strings.Contains(err.Error(), `node "old"`) {
		t.Fatalf("OpenStore beside a live single-node timerd: %v, want a refusal naming it", err)
	}
	put(time.Now().Add(-2 * time.Minute))
	again, err := OpenStore(e.ctx(), e.nc, StoreConfig{Bucket: "timers", Shards: 1, LegacyLeaseTTL: time.Minute})
	if err != nil {
		t.Fatalf("OpenStore beside a stale legacy lease: %v", err)
	}
	defer again.Close()
	if _, err := st.kv.Get(e.ctx(), "lease"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the stale legacy lease is still there: %v", err)
	}
}

// A write larger than a message can be is refused before it is sent, as
// store.ErrTooLarge, counting the fence headers the store adds.
func TestStoreWriteTooLarge(t *testing.T) {
	e := newEnv(t)
	st := e.open(StoreConfig{Shards: 1})
	f := storetest.Claim(t, st, 0, "a")
	limit := int(e.nc.MaxPayload())
	for _, size := range []int{limit + 1, limit - 20} { // a record; a record that fits only without its headers
		ops := recordOfSize(size)
		var called atomic.Bool
		err := st.Write(f, ops, func(uint64, error) { called.Store(true) })
		if called.Load() {
			t.Errorf("write of %d bytes refused at once, and called back too", size)
		}
		if errors.Is(err, store.ErrTooLarge) {
			continue
		}
		if size <= limit {
			storetest.BugTest(t, "store.go:216 (Store.Write) compares the record alone with the max payload, but the two fence "+
				"headers (~110 bytes) count too: a record within ~110 bytes of the limit passes the check and "+
				"nats.go refuses it with "+fmt.Sprint(err)+", not store.ErrTooLarge")
		}
		t.Errorf("write of a %d-byte record (max payload %d): %v, want store.ErrTooLarge", size, limit, err)
	}
	if !e.nc.IsConnected() {
		t.Fatal("the connection closed")
	}
}

// recordOfSize is one put whose encoded record is exactly size bytes.
func recordOfSize(size int) []record.Op {
	ops := storetest.Ops("big")
	ops[0].Timer.Payload = nil
	for pad := size - len(record.AppendOps(nil, ops)); ; pad-- {
		ops[0].Timer.Payload = make([]byte, pad)
		if n := len(record.AppendOps(nil, ops)); n <= size {
			if n < size {
				panic(fmt.Sprintf("no record of exactly %d bytes", size))
			}
			return ops
		}
	}
}
