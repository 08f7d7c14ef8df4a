package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
)

// dupWindow is the duplicate window of the stream the load test creates:
// longer than any outage the fault options make, so a fire repeated after
// a restart is still recognized.
const dupWindow = 5 * time.Minute

// ensureStream makes sure a stream captures the run's fire subjects: the
// named one if it exists and does, else it is created over loadtest.>.
func ensureStream(ctx context.Context, js jetstream.JetStream, name, run string) error {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"loadtest.>"},
			Storage: jetstream.FileStorage, Duplicates: dupWindow})
		if err != nil {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	for _, s := range info.Config.Subjects {
		if s == "loadtest.>" || s == ">" || s == FireSubjects(run) {
			return nil
		}
	}
	return fmt.Errorf("stream %s exists but does not capture %s (its subjects: %v)", name, FireSubjects(run), info.Config.Subjects)
}

// recordFire hands one fire to the model: at is its stored time (from a
// stream) or its receipt time (core NATS).
func recordFire(model *Model, hdr nats.Header, at int64) {
	var nominal int64
	if v := hdr.Get(api.HeaderDue); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			nominal = t.UnixNano()
		}
	}
	model.Fire(hdr.Get(api.HeaderID), nominal, hdr.Get(api.HeaderMsgID), at)
}

// observe delivers the run's fires to the model as they come: from the
// stream with an ordered consumer, or by a core subscription when stream
// is "". It returns the stop function.
func observe(ctx context.Context, nc *nats.Conn, stream, run string, model *Model) (func(), error) {
	if stream == "" {
		sub, err := nc.Subscribe(FireSubjects(run), func(m *nats.Msg) { recordFire(model, m.Header, time.Now().UnixNano()) })
		if err != nil {
			return nil, err
		}
		_ = sub.SetPendingLimits(-1, -1)
		return func() { _ = sub.Unsubscribe() }, nc.Flush()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{FireSubjects(run)}})
	if err != nil {
		return nil, fmt.Errorf("fire consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now().UnixNano()
		if meta, err := m.Metadata(); err == nil {
			at = meta.Timestamp.UnixNano()
		}
		recordFire(model, m.Headers(), at)
	}, jetstream.PullMaxMessages(10000))
	if err != nil {
		return nil, err
	}
	return func() {
		cc.Stop()
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
		}
	}, nil
}

// recount rebuilds the model's fires from everything the stream holds for
// the run: the stream is the record of what was stored, whatever the live
// consumer saw through restarts.
func recount(ctx context.Context, nc *nats.Conn, stream, run string, model *Model) (int, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{FireSubjects(run)}})
	if err != nil {
		return 0, fmt.Errorf("recount consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	model.ResetFires()
	left := info.NumPending
	n := 0
	for left > 0 {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		batch, err := cons.Fetch(int(min(left, 10000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return n, fmt.Errorf("recount fetch: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return n, err
			}
			recordFire(model, m.Headers(), meta.Timestamp.UnixNano())
			left = meta.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return n, fmt.Errorf("recount fetch: %w", err)
		}
		if got == 0 {
			return n, errors.New("recount: the stream stopped delivering before the end")
		}
		n += got
	}
	return n, nil
}
