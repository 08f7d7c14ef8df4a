package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
)

// FirePublisher publishes fires. Where a JetStream stream captures the fire's
// subject it publishes through JetStream and reports the stream's ack, so
// the caller can retry until the occurrence is stored (the stream's
// duplicate window drops repeats by Nats-Msg-Id). Where no stream captures
// it, the fire is a plain NATS publish.
//
// Which subjects are captured is learned from the streams' configurations,
// refreshed when JetStream announces a stream change and every few seconds,
// never by trying: a JetStream publish to a subject with only core
// subscribers would deliver the message and then time out.
type FirePublisher struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *AsyncPublisher
	log *slog.Logger

	mu      sync.RWMutex // guards filters and cache
	filters []string
	cache   map[string]bool

	refresh chan struct{}
	advSub  *nats.Subscription
	stop    chan struct{}
	done    chan struct{}
}

// NewFirePublisher loads the stream subjects once and starts the refresh
// goroutine; Close stops it.
func NewFirePublisher(ctx context.Context, nc *nats.Conn, maxInFlight int, log *slog.Logger) (*FirePublisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	pub, err := NewAsyncPublisher(nc, maxInFlight, 5*time.Second)
	if err != nil {
		return nil, err
	}
	f := &FirePublisher{nc: nc, js: js, pub: pub, log: log, refresh: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := f.load(ctx); err != nil {
		pub.Close()
		return nil, err
	}
	f.advSub, err = nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.*.*", func(*nats.Msg) {
		select {
		case f.refresh <- struct{}{}:
		default:
		}
	})
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("subscribe stream advisories: %w", err)
	}
	go f.refreshLoop()
	return f, nil
}

func (f *FirePublisher) load(ctx context.Context) error {
	var filters []string
	lister := f.js.ListStreams(ctx)
	for info := range lister.Info() {
		filters = append(filters, info.Config.Subjects...)
	}
	if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("list streams: %w", err)
	}
	f.mu.Lock()
	f.filters, f.cache = filters, make(map[string]bool)
	f.mu.Unlock()
	return nil
}

func (f *FirePublisher) refreshLoop() {
	defer close(f.done)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		case <-f.refresh:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := f.load(ctx); err != nil {
			f.log.Warn("refreshing stream subjects", "err", err)
		}
		cancel()
	}
}

// Captured reports whether a stream captures subject.
func (f *FirePublisher) Captured(subject string) bool {
	f.mu.RLock()
	c, ok := f.cache[subject]
	filters := f.filters
	f.mu.RUnlock()
	if ok {
		return c
	}
	for _, filter := range filters {
		if SubjectMatches(filter, subject) {
			c = true
			break
		}
	}
	f.mu.Lock()
	if len(f.cache) > 1<<16 {
		f.cache = make(map[string]bool)
	}
	f.cache[subject] = c
	f.mu.Unlock()
	return c
}

// Publish sends one fire. A plain publish (no stream captures the subject)
// is settled at once: settled is true and err its outcome. A JetStream
// publish is settled later: done gets the stream's verdict from the ack
// goroutine, never from the caller's; a duplicate ack counts as success
// (the occurrence is stored). A fire that cannot be published at all (its
// subject or size beyond what the server accepts: publishing it would make
// the server close the connection) is refused before it is sent, with an
// error Permanent reports as such.
func (f *FirePublisher) Publish(msg *nats.Msg, done func(error)) (settled bool, err error) {
	if err := f.check(msg); err != nil {
		return true, err
	}
	if !f.Captured(msg.Subject) {
		return true, f.nc.PublishMsg(msg)
	}
	if err := f.pub.Publish(context.Background(), msg, func(_ PubAck, err error) { done(err) }); err != nil {
		return true, err
	}
	return false, nil
}

// ErrUnpublishable is a fire the server could never accept.
var ErrUnpublishable = errors.New("jetstream: the fire cannot be published")

// check refuses what the server cannot take: a subject longer than the
// protocol allows (its control line would exceed the server's limit, and
// the server closes such a connection) or a message over its max payload.
func (f *FirePublisher) check(msg *nats.Msg) error {
	if len(msg.Subject) > api.MaxSubjectLen {
		return fmt.Errorf("%w: subject of %d bytes, the limit is %d", ErrUnpublishable, len(msg.Subject), api.MaxSubjectLen)
	}
	size := len(msg.Data)
	if len(msg.Header) > 0 {
		size += 12 // NATS/1.0 and the blank line
		for k, vs := range msg.Header {
			for _, v := range vs {
				size += len(k) + len(v) + 4
			}
		}
	}
	if limit := f.nc.MaxPayload(); int64(size) > limit {
		return fmt.Errorf("%w: %d bytes, the server's max payload is %d", ErrUnpublishable, size, limit)
	}
	return nil
}

// Permanent reports whether retrying cannot fix err (see the function).
func (f *FirePublisher) Permanent(err error) bool { return Permanent(err) }

// Permanent reports whether a fire's error cannot get better by retrying:
// the message is too large for the server or the stream, or its subject or
// headers are refused.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnpublishable) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, nats.ErrBadHeaderMsg) {
		return true
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrCode {
		case 10054: // JSStreamMessageExceedsMaximumErr: larger than the stream's max_msg_size
			return true
		}
	}
	return false
}

// InFlight is the number of JetStream fires awaiting their ack.
func (f *FirePublisher) InFlight() int { return f.pub.InFlight() }

// Flush makes sure plain publishes so far have reached the server.
func (f *FirePublisher) Flush(ctx context.Context) error { return f.nc.FlushWithContext(ctx) }

// Drain waits for every JetStream fire's outcome.
func (f *FirePublisher) Drain(ctx context.Context) error { return f.pub.Drain(ctx) }

// Close stops the refresh goroutine and the ack inbox.
func (f *FirePublisher) Close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	<-f.done
	_ = f.advSub.Unsubscribe()
	f.pub.Close()
}

// SubjectMatches reports whether a NATS subject filter (with * and >)
// matches a literal subject.
func SubjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case ft == ">":
			return true
		case ft != "*" && ft != st:
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}
