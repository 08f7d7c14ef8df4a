package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/bench/embed"
)

// jsAckError judges a JetStream publish ack.
func jsAckError(m *nats.Msg) error {
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	var ack struct {
		Error struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	_ = json.Unmarshal(m.Data, &ack)
	return errors.New(ack.Error.Description)
}

// ceiling is a raw JetStream write per timer, with nothing firing: the
// most a JetStream-backed timer service could ingest with one write each.
type ceiling struct {
	natsServer
	name string
	kv   bool
}

func (c *ceiling) Name() string { return c.name }
func (c *ceiling) About() string {
	if c.kv {
		return "KV put per timer by async publish to $KV.<bucket>.<key> (a ceiling; stores, never fires)"
	}
	return "JetStream async publish per timer with Nats-Msg-Id on unique subjects (a ceiling; stores, never fires)"
}
func (c *ceiling) Fires() bool { return false }

func (c *ceiling) Start(ctx context.Context, env *Env) error { return c.start(ctx, env, c.name) }

func (c *ceiling) Prepare(ctx context.Context, r *Run) error {
	if c.kv {
		_, err := r.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench", History: 1, Storage: jetstream.FileStorage})
		return err
	}
	_, err := r.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "CEIL", Subjects: []string{"ceil.>"},
		Storage: jetstream.FileStorage, Duplicates: dupWindow})
	return err
}

func (c *ceiling) Observe(context.Context, *Run) (func(), error) { return func() {}, nil }

func (c *ceiling) Ingest(ctx context.Context, r *Run) error {
	return ingestPipelined(ctx, r, func(i int) (*nats.Msg, error) {
		if c.kv {
			return &nats.Msg{Subject: "$KV.bench.k" + strconv.Itoa(i), Data: r.W.PayloadOf(i)}, nil
		}
		m := nats.NewMsg("ceil." + strconv.Itoa(i))
		m.Header.Set(jetstream.MsgIDHeader, "m"+strconv.Itoa(i))
		m.Data = r.W.PayloadOf(i)
		return m, nil
	}, jsAckError)
}

func (c *ceiling) Cancel(context.Context, *Run, []int) error {
	return errors.New("a ceiling has no cancel")
}
func (c *ceiling) Restart(context.Context, *Run) (time.Time, error) {
	return time.Time{}, errors.New("a ceiling has no restart")
}
func (c *ceiling) Probe(context.Context, *Run) error { return errors.New("a ceiling does not fire") }

// natsSched is NATS' own message scheduler (nats-server 2.14+): a stream
// with AllowMsgSchedules, one schedule message per timer on its own subject
// (sched.<i>) with Nats-Schedule: @at <time> and Nats-Schedule-Target, the
// targets inside the same stream, read by a consumer.
type natsSched struct {
	natsServer
	name string
}

const schedStream = "BENCH_SCHED"

func (c *natsSched) Name() string { return c.name }
func (c *natsSched) About() string {
	return "nats-server message schedules: Nats-Schedule: @at, target in the same stream, ordered consumer on the targets"
}
func (c *natsSched) Fires() bool                               { return true }
func (c *natsSched) Start(ctx context.Context, env *Env) error { return c.start(ctx, env, c.name) }

func (c *natsSched) Prepare(ctx context.Context, r *Run) error {
	_, err := r.JS.CreateStream(ctx, jetstream.StreamConfig{
		Name: schedStream, Subjects: []string{"sched.>", fireSubjectPrefix + ">", "probe.>"},
		Storage: jetstream.FileStorage, Duplicates: dupWindow,
		AllowMsgSchedules: true, AllowRollup: true,
	})
	if err != nil {
		return fmt.Errorf("create schedule stream: %w", err)
	}
	return nil
}

func (c *natsSched) Observe(ctx context.Context, r *Run) (func(), error) {
	return observeStream(ctx, r, schedStream)
}

func scheduleMsg(subject, target string, at time.Time, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", target)
	m.Data = data
	return m
}

func (c *natsSched) Ingest(ctx context.Context, r *Run) error {
	return ingestPipelined(ctx, r, func(i int) (*nats.Msg, error) {
		return scheduleMsg("sched."+strconv.Itoa(i), r.W.Subject(i), time.Unix(0, r.T.Due(i)), r.W.PayloadOf(i)), nil
	}, jsAckError)
}

// Cancel purges each timer's schedule subject: NATS' way to drop a schedule.
func (c *natsSched) Cancel(ctx context.Context, r *Run, idx []int) error {
	return requestAll(ctx, r, idx, func(i int) *nats.Msg {
		return &nats.Msg{Subject: "$JS.API.STREAM.PURGE." + schedStream, Data: []byte(`{"filter":"sched.` + strconv.Itoa(i) + `"}`)}
	}, func(i int, m *nats.Msg, err error) {
		if err == nil {
			var rep struct {
				Purged uint64 `json:"purged"`
				Error  *struct {
					Description string `json:"description"`
				} `json:"error"`
			}
			if err = json.Unmarshal(m.Data, &rep); err == nil && rep.Error != nil {
				err = errors.New(rep.Error.Description)
			}
			if err == nil && rep.Purged > 0 {
				r.T.Cancelled(i, time.Now().UnixNano())
			}
		}
		if err != nil {
			r.fail("cancel", err)
		}
	})
}

// Restart restarts the server on the same store and port and waits until
// the stream answers.
func (c *natsSched) Restart(ctx context.Context, r *Run) (time.Time, error) {
	began, err := c.restart(ctx, c.name)
	if err != nil {
		return began, err
	}
	err = embed.WaitFor(ctx, time.Minute, 5*time.Millisecond, func() error {
		_, err := r.JS.Stream(ctx, schedStream)
		return err
	})
	return began, err
}

// Probe schedules a message due now and polls for its target.
func (c *natsSched) Probe(ctx context.Context, r *Run) error {
	target := "probe.fire." + strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := r.JS.PublishMsg(ctx, scheduleMsg("sched.probe", target, time.Now(), []byte("probe"))); err != nil {
		return fmt.Errorf("probe schedule: %w", err)
	}
	st, err := r.JS.Stream(ctx, schedStream)
	if err != nil {
		return err
	}
	return embed.WaitFor(ctx, time.Minute, 2*time.Millisecond, func() error {
		_, err := st.GetLastMsgForSubject(ctx, target)
		return err
	})
}
