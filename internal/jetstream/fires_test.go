package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/store/storetest"
)

// fireEnv is a server, a FirePublisher on its own connection, and a
// stream FIRES capturing fire.js.>.
type fireEnv struct {
	*jsEnv
	fp *FirePublisher
	js jetstream.JetStream
}

func newFireEnv(t *testing.T, streamCfg jetstream.StreamConfig) *fireEnv {
	e := &fireEnv{jsEnv: newEnv(t)}
	var err error
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	streamCfg.Name, streamCfg.Subjects = "FIRES", []string{"fire.js.>"}
	if _, err := e.js.CreateStream(e.ctx(), streamCfg); err != nil {
		t.Fatal(err)
	}
	if e.fp, err = NewFirePublisher(e.ctx(), e.nc, 64, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.fp.Close)
	return e
}

// fireResult is what a fire's callback reported.
type fireResult struct {
	err  error
	goid uint64
}

// publish sends a fire and returns what Publish answered and the channel
// its callback reports on.
func (e *fireEnv) publish(msg *nats.Msg) (chan fireResult, bool, error) {
	ch := make(chan fireResult, 2)
	settled, err := e.fp.Publish(msg, func(err error) { ch <- fireResult{err, storetest.Goid()} })
	return ch, settled, err
}

func fire(subject string, data []byte, msgID string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(api.HeaderMsgID, msgID)
	return m
}

func (e *fireEnv) subscribe(subject string) *nats.Subscription {
	e.t.Helper()
	sub, err := e.nc.SubscribeSync(subject)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	return sub
}

// A subject no stream captures is a plain publish: settled at once, and
// the callback never runs.
func TestFirePlainSettledAtOnce(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{})
	sub := e.subscribe("fire.plain.>")
	ch, settled, err := e.publish(fire("fire.plain.a", []byte("x"), "m1"))
	if !settled || err != nil {
		t.Fatalf("plain fire: settled %v, %v; want settled, no error", settled, err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "x" || m.Header.Get(api.HeaderMsgID) != "m1" {
		t.Fatalf("the plain fire did not arrive as sent: %v, %v", m, err)
	}
	select {
	case r := <-ch:
		t.Fatalf("a settled fire was also called back (%v)", r.err)
	case <-time.After(100 * time.Millisecond):
	}
}

// A subject a stream captures goes through JetStream: not settled at
// once; the stream's ack comes later, on another goroutine; a duplicate
// (same Nats-Msg-Id) counts as stored, and is stored once.
func TestFireCapturedAckedLater(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{Duplicates: time.Minute})
	for _, id := range []string{"m1", "m1", "m2"} {
		ch, settled, err := e.publish(fire("fire.js.a", []byte("x"), id))
		if settled || err != nil {
			t.Fatalf("captured fire %s: settled %v, %v; want an ack later", id, settled, err)
		}
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("captured fire %s: %v", id, r.err)
			}
			if r.goid == storetest.Goid() {
				t.Fatal("the fire's callback ran on the publisher's goroutine")
			}
		case <-time.After(storetest.Timeout):
			t.Fatalf("captured fire %s: no ack", id)
		}
	}
	s, err := e.js.Stream(e.ctx(), "FIRES")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(e.ctx()); err != nil || info.State.Msgs != 2 {
		t.Fatalf("stream FIRES after m1, m1, m2: %+v, %v; want 2 messages", info.State, err)
	}
}

// A stream created after the publisher started is learned from the
// server's advisory, without waiting for the periodic refresh (5s).
func TestFireLearnsNewStream(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{})
	const streams = 50
	missed := 0
	for i := range streams {
		subject := fmt.Sprintf("late%d.x", i)
		if e.fp.Captured(subject) {
			t.Fatalf("%s captured before any stream captures it", subject)
		}
		cfg := jetstream.StreamConfig{Name: fmt.Sprintf("LATE%d", i), Subjects: []string{fmt.Sprintf("late%d.>", i)}}
		if _, err := e.js.CreateStream(e.ctx(), cfg); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for !e.fp.Captured(subject) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !e.fp.Captured(subject) {
			missed++
		}
	}
	if missed > 0 {
		storetest.BugTest(t, fmt.Sprintf("fires.go:90 (FirePublisher.refreshLoop): nats-server 2.15.2 sends the stream-created "+
			"advisory before it registers the stream with the account (server/stream.go:1198 vs 1203), so the listing the "+
			"advisory triggers can miss the new stream; its subjects are then plain publishes until the 5s refresh "+
			"(missed %d of %d here)", missed, streams))
		t.Fatalf("%d of %d new streams not learned within 1s of their creation", missed, streams)
	}
}

// A fire the server could never take is refused before it is sent, as a
// permanent error, and the connection stays open: a subject over the
// limit, a message over the server's max payload (headers counted). At
// the limits exactly, it goes out.
func TestFireUnpublishable(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{})
	sub := e.subscribe("fire.>")
	limit := int(e.nc.MaxPayload())
	headerSize := len("NATS/1.0\r\n") + len(api.HeaderMsgID+": m\r\n") + len("\r\n")
	long := "fire." + strings.Repeat("a", api.MaxSubjectLen-len("fire."))
	for _, c := range []struct {
		name string
		msg  *nats.Msg
		ok   bool
	}{
		{"subject at the limit", fire(long, nil, "m"), true},
		{"subject over the limit", fire(long+"b", nil, "m"), false},
		{"payload at the limit", fire("fire.big", make([]byte, limit-headerSize), "m"), true},
		{"payload one over", fire("fire.big", make([]byte, limit-headerSize+1), "m"), false},
		{"captured, payload one over", fire("fire.js.big", make([]byte, limit-headerSize+1), "m"), false},
	} {
		ch, settled, err := e.publish(c.msg)
		switch {
		case !c.ok && (!settled || !errors.Is(err, ErrUnpublishable) || !e.fp.Permanent(err)):
			t.Errorf("%s: settled %v, %v; want settled with a permanent ErrUnpublishable", c.name, settled, err)
		case c.ok && (!settled || err != nil):
			t.Errorf("%s: settled %v, %v; want sent", c.name, settled, err)
		case c.ok:
			if m, err := sub.NextMsg(5 * time.Second); err != nil || m.Subject != c.msg.Subject || len(m.Data) != len(c.msg.Data) {
				t.Errorf("%s: the fire did not arrive: %v", c.name, err)
			}
		}
		select {
		case r := <-ch:
			t.Errorf("%s: settled and also called back (%v)", c.name, r.err)
		default:
		}
		if !e.nc.IsConnected() {
			t.Fatalf("%s: the connection closed", c.name)
		}
	}
}

// A stream that refuses the fire for good (larger than its max message
// size) answers an error Permanent recognizes.
func TestFireRefusedByStreamIsPermanent(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{MaxMsgSize: 64})
	ch, settled, err := e.publish(fire("fire.js.a", make([]byte, 200), "m1"))
	if settled || err != nil {
		t.Fatalf("settled %v, %v; want an ack later", settled, err)
	}
	select {
	case r := <-ch:
		if r.err == nil || !e.fp.Permanent(r.err) {
			t.Fatalf("a fire over the stream's max message size: %v, want a permanent error", r.err)
		}
	case <-time.After(storetest.Timeout):
		t.Fatal("no answer")
	}
}

// Fires awaiting their ack when the publisher closes are called back
// exactly once (stored, or ErrPubClosed), and Close returns.
func TestFireCloseWithFiresInFlight(t *testing.T) {
	e := newFireEnv(t, jetstream.StreamConfig{})
	var chans []chan fireResult
	for range 50 {
		ch, _, err := e.publish(fire("fire.js.a", []byte("x"), fmt.Sprintf("m-%d", len(chans))))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	e.fp.Close()
	for i, ch := range chans {
		select {
		case r := <-ch:
			if r.err != nil && !errors.Is(r.err, ErrPubClosed) {
				t.Fatalf("fire %d: %v, want stored or ErrPubClosed", i, r.err)
			}
		case <-time.After(storetest.Timeout):
			t.Fatalf("fire %d never called back after Close", i)
		}
		select {
		case r := <-ch:
			t.Fatalf("fire %d called back twice (then %v)", i, r.err)
		case <-time.After(time.Millisecond):
		}
	}
	e.fp.Close() // twice is harmless
}
