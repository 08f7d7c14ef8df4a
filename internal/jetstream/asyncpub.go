package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// PubAck is JetStream's acknowledgement of a stored message.
type PubAck struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Errors of asynchronous publishing.
var (
	ErrAckTimeout   = errors.New("jetstream: no acknowledgement in time")
	ErrNoStream     = errors.New("jetstream: no stream captures the subject (no responders)")
	ErrPubClosed    = errors.New("jetstream: publisher closed")
	errMalformedAck = errors.New("jetstream: malformed acknowledgement")
)

// APIError is an error answered by the JetStream API.
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("jetstream: %s (code %d, err_code %d)", e.Description, e.Code, e.ErrCode)
}

// AckFunc receives the outcome of one publish. It runs on the publisher's
// reply goroutine: it must be quick and must not block.
type AckFunc func(PubAck, error)

// AsyncPublisher publishes messages to JetStream with a reply inbox and hands
// each acknowledgement to a callback. One subscription serves every message,
// and no goroutine is started per message, which keeps the fire and store
// paths cheap at tens of thousands of messages a second. At most maxInFlight
// messages await their ack; Publish blocks beyond that (backpressure).
type AsyncPublisher struct {
	nc      *nats.Conn
	prefix  string
	timeout time.Duration
	slots   chan struct{}
	sub     *nats.Subscription

	mu      sync.Mutex // guards the fields below
	pending map[uint64]pendingPub
	next    uint64
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type pendingPub struct {
	cb     AckFunc
	msg    *nats.Msg // sent again after a reconnect
	sentAt time.Time
}

// NewAsyncPublisher subscribes its reply inbox and starts the goroutine that
// times out lost acknowledgements; Close stops both.
func NewAsyncPublisher(nc *nats.Conn, maxInFlight int, timeout time.Duration) (*AsyncPublisher, error) {
	p := &AsyncPublisher{
		nc:      nc,
		prefix:  nats.InboxPrefix + "timerd." + nuid.Next() + ".",
		timeout: timeout,
		slots:   make(chan struct{}, maxInFlight),
		pending: make(map[uint64]pendingPub),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	sub, err := nc.Subscribe(p.prefix+"*", p.onReply)
	if err != nil {
		return nil, fmt.Errorf("subscribe ack inbox: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("ack inbox limits: %w", err)
	}
	p.sub = sub
	go p.sweep()
	return p, nil
}

// Publish sends msg to JetStream; cb gets the ack or the error exactly once.
// It blocks while maxInFlight messages are unacknowledged, until ctx ends.
func (p *AsyncPublisher) Publish(ctx context.Context, msg *nats.Msg, cb AckFunc) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return ErrPubClosed
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return ErrPubClosed
	}
	p.next++
	token := p.next
	p.pending[token] = pendingPub{cb: cb, msg: msg, sentAt: time.Now()}
	p.mu.Unlock()

	msg.Reply = p.prefix + strconv.FormatUint(token, 36)
	if err := p.nc.PublishMsg(msg); err != nil {
		if p.take(token) != nil {
			return fmt.Errorf("publish %s: %w", msg.Subject, err)
		}
		return nil // already completed (closed meanwhile): cb was called
	}
	return nil
}

// InFlight is the number of messages awaiting their ack.
func (p *AsyncPublisher) InFlight() int { return len(p.slots) }

// take removes a pending entry and frees its slot; nil if it was not pending.
func (p *AsyncPublisher) take(token uint64) AckFunc {
	p.mu.Lock()
	e, ok := p.pending[token]
	if ok {
		delete(p.pending, token)
	}
	p.mu.Unlock()
	if !ok {
		return nil
	}
	<-p.slots
	return e.cb
}

func (p *AsyncPublisher) onReply(m *nats.Msg) {
	token, err := strconv.ParseUint(m.Subject[len(p.prefix):], 36, 64)
	if err != nil {
		return
	}
	cb := p.take(token)
	if cb == nil {
		return // timed out earlier
	}
	cb(parseAck(m))
}

func parseAck(m *nats.Msg) (PubAck, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return PubAck{}, ErrNoStream
	}
	if ack, ok := fastAck(m.Data); ok {
		return ack, nil
	}
	var reply struct {
		PubAck
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		return PubAck{}, fmt.Errorf("%w: %v", errMalformedAck, err)
	}
	if reply.Error != nil {
		return PubAck{}, reply.Error
	}
	if reply.Stream == "" {
		return PubAck{}, errMalformedAck
	}
	return reply.PubAck, nil
}

// fastAck parses the common acknowledgement {"stream":"S","seq":N} (with an
// optional "domain" or "duplicate":true after it) without reflection; any
// other shape is left to encoding/json.
func fastAck(data []byte) (PubAck, bool) {
	const streamKey, seqKey = `{"stream":"`, `","seq":`
	if !bytes.HasPrefix(data, []byte(streamKey)) {
		return PubAck{}, false
	}
	rest := data[len(streamKey):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || !bytes.HasPrefix(rest[end:], []byte(seqKey)) {
		return PubAck{}, false
	}
	for _, c := range rest[:end] { // plain names only: no escapes, no control bytes
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return PubAck{}, false
		}
	}
	ack := PubAck{Stream: string(rest[:end])}
	num := rest[end+len(seqKey):]
	i := 0
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		ack.Seq = ack.Seq*10 + uint64(num[i]-'0')
		i++
	}
	if i == 0 || i > 19 || i == len(num) || (num[0] == '0' && i > 1) {
		return PubAck{}, false
	}
	switch tail := num[i:]; {
	case bytes.Equal(tail, []byte("}")):
	case bytes.Equal(tail, []byte(`,"duplicate":true}`)):
		ack.Duplicate = true
	default:
		return PubAck{}, false // domain, errors, anything unusual
	}
	return ack, true
}

// sweep times out lost acknowledgements, and sends again what awaits its
// ack when the connection was re-established: an ack the server sent while
// the client was away is lost, and waiting out the timeout would add its
// length to every such message's delay. Sending again is safe: messages
// carry Nats-Msg-Id, and a stream answers a duplicate with the original's
// sequence.
func (p *AsyncPublisher) sweep() {
	defer close(p.done)
	t := time.NewTicker(min(p.timeout/4, 100*time.Millisecond))
	defer t.Stop()
	reconnects := p.nc.Stats().Reconnects
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if r := p.nc.Stats().Reconnects; r != reconnects && p.nc.IsConnected() {
				reconnects = r
				p.resend(now)
			}
			var expired []uint64
			p.mu.Lock()
			for token, e := range p.pending {
				if now.Sub(e.sentAt) > p.timeout {
					expired = append(expired, token)
				}
			}
			p.mu.Unlock()
			for _, token := range expired {
				if cb := p.take(token); cb != nil {
					cb(PubAck{}, ErrAckTimeout)
				}
			}
		}
	}
}

// resend publishes again every message sent before now and not yet
// acknowledged.
func (p *AsyncPublisher) resend(now time.Time) {
	var again []*nats.Msg
	p.mu.Lock()
	for token, e := range p.pending {
		if e.sentAt.Before(now) && e.msg != nil {
			again = append(again, e.msg)
			e.sentAt = now
			p.pending[token] = e
		}
	}
	p.mu.Unlock()
	for _, m := range again {
		_ = p.nc.PublishMsg(m) // a failure is timed out as any other
	}
}

// Drain waits until every published message has its outcome, or ctx ends.
func (p *AsyncPublisher) Drain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for p.InFlight() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Close stops the publisher; messages still awaiting an ack get ErrPubClosed.
func (p *AsyncPublisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	left := p.pending
	p.pending = map[uint64]pendingPub{}
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	_ = p.sub.Unsubscribe()
	for range left {
		<-p.slots
	}
	for _, e := range left {
		e.cb(PubAck{}, ErrPubClosed)
	}
}
