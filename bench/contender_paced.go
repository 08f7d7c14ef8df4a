package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
)

// paced is the floor for "publish each timer at its due time into a dedup
// stream": a plain NATS client that holds the schedule itself, in memory,
// and at each due time publishes the message timerd would have fired
// (same subject, payload and the headers Timer-Id, Timer-Due, Timer-Fire
// and Nats-Msg-Id) through JetStream asynchronously, with acks, into the
// capture stream timerd's fires go to with -capture (same config). The
// fires are read back by the same ordered consumer and their lag is the
// same measure as every contender's: the stream's stored time minus the
// due time. Nothing is durable and nothing is shared between processes:
// it is what JetStream itself allows on this machine, not a timer service.
//
// Its publisher connects to the server as timerd's node does: in process
// when the server is embedded (js-paced), over 127.0.0.1 when it is the
// nats-server binary (js-paced-bin). It keeps as many publishes awaiting
// their ack as timerd's fire publisher does.
type paced struct {
	natsServer
	name string

	pub   *nats.Conn // its own connection, as timerd has its own
	order []int32    // timer indexes in due order: the schedule
	// state is per timer: pending, published or cancelled; a cancel and a
	// fire race by compare-and-swap, so exactly one of them wins.
	state  []atomic.Int32
	cancel context.CancelFunc
	done   chan struct{} // closed when the fire loop has returned
}

const (
	pacedPending int32 = iota
	pacedPublished
	pacedCancelled
)

// pacedInFlight is how many fires may await their ack: what timerd's fire
// publisher allows (jetstream.NewFirePublisher in serve and nodetest).
const pacedInFlight = 8192

// errNoRestart says a contender keeps nothing across a restart; the
// restart phase skips it.
var errNoRestart = errors.New("holds its schedule in memory only: nothing to restart")

func (c *paced) Name() string { return c.name }
func (c *paced) About() string {
	return "the floor: a client holding the schedule in memory publishes each fire at its due time (async JetStream publish with acks, Nats-Msg-Id) into the dedup capture stream; same consumer"
}
func (c *paced) Fires() bool { return true }

func (c *paced) Start(ctx context.Context, env *Env) error {
	if err := c.start(ctx, env, c.name); err != nil {
		return err
	}
	var err error
	c.pub, err = c.ownConn("bench " + c.name + " publisher")
	return err
}

// Prepare creates the capture stream whether or not -capture is given:
// the floor only means something as fires into a dedup stream.
func (c *paced) Prepare(ctx context.Context, r *Run) error { return createCaptureStream(ctx, r.JS) }

func (c *paced) Observe(ctx context.Context, r *Run) (func(), error) {
	return observeStream(ctx, r, captureStream)
}

// Ingest takes every timer into the in-memory schedule, sorts it by due
// time and starts the fire loop; no server is involved, so its "ingest
// rate" is not compared with anything.
func (c *paced) Ingest(ctx context.Context, r *Run) error {
	js, err := jetstream.New(c.pub, jetstream.WithPublishAsyncMaxPending(pacedInFlight),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { r.fail("fire ack", err) }))
	if err != nil {
		return err
	}
	c.order = make([]int32, r.W.Timers)
	c.state = make([]atomic.Int32, r.W.Timers)
	for i := range c.order {
		c.order[i] = int32(i)
		r.T.Scheduled(i, true)
	}
	slices.SortFunc(c.order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(r.T.Due(int(a)), r.T.Due(int(b))), cmp.Compare(a, b))
	})
	loopCtx, cancel := context.WithCancel(ctx)
	c.cancel, c.done = cancel, make(chan struct{})
	go c.fireLoop(loopCtx, r, js)
	return nil
}

// fireLoop is the naive client: one goroutine walking the sorted schedule,
// sleeping on one timer until the next due time, then publishing every
// timer due by now.
func (c *paced) fireLoop(ctx context.Context, r *Run, js jetstream.JetStream) {
	defer close(c.done)
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for k := 0; k < len(c.order); {
		now := time.Now().UnixNano()
		if due := r.T.Due(int(c.order[k])); due > now {
			wake.Reset(time.Duration(due - now))
			select {
			case <-ctx.Done():
				return
			case <-wake.C:
			}
			continue
		}
		for ; k < len(c.order) && r.T.Due(int(c.order[k])) <= now; k++ {
			i := int(c.order[k])
			if !c.state[i].CompareAndSwap(pacedPending, pacedPublished) {
				continue // cancelled
			}
			if err := publishPaced(ctx, js, fireOf(r, i)); err != nil {
				r.fail("fire", err)
				if ctx.Err() != nil {
					return
				}
			}
		}
	}
	select { // the acks of the last fires, for the error count
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
	}
}

// fireOf is timer i's fire as timerd publishes it: the timer's subject and
// payload, and the four headers of PROTOCOL.md with the same values.
func fireOf(r *Run, i int) *nats.Msg {
	due := time.Unix(0, r.T.Due(i))
	id := r.W.ID(i)
	m := &nats.Msg{Subject: r.W.Subject(i), Data: r.W.PayloadOf(i), Header: make(nats.Header, 4)}
	m.Header[api.HeaderID] = []string{id}
	m.Header[api.HeaderDue] = []string{api.FormatTime(due)}
	m.Header[api.HeaderFire] = []string{strconv.Itoa(1)}
	m.Header[api.HeaderMsgID] = []string{api.MsgID(id, due.UnixNano())}
	return m
}

// publishPaced publishes m asynchronously, waiting (a bounded number of
// times) while pacedInFlight publishes await their ack.
func publishPaced(ctx context.Context, js jetstream.JetStream, m *nats.Msg) error {
	const stall, tries = time.Second, 60
	var err error
	for try := 0; try < tries && ctx.Err() == nil; try++ {
		if _, err = js.PublishMsgAsync(m, jetstream.WithStallWait(stall)); !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
	}
	return fmt.Errorf("still %d publishes awaiting acks after %v: %w", pacedInFlight, stall*tries, err)
}

// Cancel takes timers out of the schedule unless the fire loop took them
// first; a cancel confirmed here is one whose fire will not be published.
func (c *paced) Cancel(_ context.Context, r *Run, idx []int) error {
	for _, i := range idx {
		if c.state[i].CompareAndSwap(pacedPending, pacedCancelled) {
			r.T.Cancelled(i, time.Now().UnixNano())
		}
	}
	return nil
}

func (c *paced) Restart(context.Context, *Run) (time.Time, error) { return time.Time{}, errNoRestart }
func (c *paced) Probe(context.Context, *Run) error                { return errNoRestart }

func (c *paced) Stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
	if c.pub != nil {
		c.pub.Close()
		c.pub = nil
	}
	c.natsServer.Stop()
}
