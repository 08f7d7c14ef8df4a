// Package pipe pipelines NATS requests for the bench and loadtest tools: many
// requests in flight over one reply subscription, without a goroutine per
// request, with a timeout per request.
package pipe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Errors of pipelined requests.
var (
	ErrNoResponders = errors.New("pipe: no responders")
	ErrTimeout      = errors.New("pipe: no reply in time")
	ErrClosed       = errors.New("pipe: closed")
)

// Pipeline sends requests with at most limit awaiting their reply, over one
// reply subscription and without a goroutine per request: the way a fast
// client pipelines. The bench drives every contender through it, so
// differences in rate are the servers'. Reply callbacks run on the
// subscription's goroutine, one at a time, and must not block on Send.
type Pipeline struct {
	nc      *nats.Conn
	prefix  string
	sub     *nats.Subscription
	slots   chan struct{}
	timeout time.Duration

	mu      sync.Mutex
	pending map[uint64]pendingReq
	next    uint64
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type pendingReq struct {
	cb     func(*nats.Msg, error)
	sentAt time.Time
}

// NewPipeline subscribes the reply inbox on nc.
func New(nc *nats.Conn, limit int, timeout time.Duration) (*Pipeline, error) {
	p := &Pipeline{nc: nc, prefix: "_INBOX.bench." + nuid.Next() + ".", slots: make(chan struct{}, max(limit, 1)),
		timeout: timeout, pending: map[uint64]pendingReq{}, stop: make(chan struct{}), done: make(chan struct{})}
	sub, err := nc.Subscribe(p.prefix+"*", p.onReply)
	if err != nil {
		return nil, fmt.Errorf("subscribe reply inbox: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	p.sub = sub
	go p.sweep()
	return p, nil
}

// Send publishes msg as a request; cb gets the reply or an error exactly
// once. It blocks while limit requests await replies, until ctx ends.
func (p *Pipeline) Send(ctx context.Context, msg *nats.Msg, cb func(*nats.Msg, error)) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return ErrClosed
	}
	p.next++
	token := p.next
	p.pending[token] = pendingReq{cb: cb, sentAt: time.Now()}
	p.mu.Unlock()
	msg.Reply = p.prefix + strconv.FormatUint(token, 36)
	if err := p.nc.PublishMsg(msg); err != nil {
		p.complete(token, nil, err)
	}
	return nil
}

// complete hands a request's outcome to its callback, once, and only then
// frees its slot: when Wait returns, every callback has returned.
func (p *Pipeline) complete(token uint64, m *nats.Msg, err error) {
	p.mu.Lock()
	e, ok := p.pending[token]
	delete(p.pending, token)
	p.mu.Unlock()
	if !ok {
		return // timed out earlier, or closed
	}
	e.cb(m, err)
	<-p.slots
}

func (p *Pipeline) onReply(m *nats.Msg) {
	token, err := strconv.ParseUint(m.Subject[len(p.prefix):], 36, 64)
	if err != nil {
		return
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		p.complete(token, nil, ErrNoResponders)
		return
	}
	p.complete(token, m, nil)
}

func (p *Pipeline) sweep() {
	defer close(p.done)
	t := time.NewTicker(max(p.timeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			var expired []uint64
			p.mu.Lock()
			for token, e := range p.pending {
				if now.Sub(e.sentAt) > p.timeout {
					expired = append(expired, token)
				}
			}
			p.mu.Unlock()
			for _, token := range expired {
				p.complete(token, nil, ErrTimeout)
			}
		}
	}
}

// Wait returns when every request sent so far has its outcome, or ctx ends.
func (p *Pipeline) Wait(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for len(p.slots) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// InFlight is the number of requests awaiting their reply.
func (p *Pipeline) InFlight() int { return len(p.slots) }

// Close stops the pipeline; requests still pending get ErrClosed.
func (p *Pipeline) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	left := p.pending
	p.pending = map[uint64]pendingReq{}
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	_ = p.sub.Unsubscribe()
	for _, e := range left {
		e.cb(nil, ErrClosed)
		<-p.slots
	}
}
