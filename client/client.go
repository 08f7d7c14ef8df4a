package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Client sends timerd requests over a NATS connection it does not own.
type Client struct {
	nc      *nats.Conn
	prefix  string
	timeout time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithPrefix sets the API subject prefix (timerd's --api-prefix); the
// default is api.DefaultPrefix.
func WithPrefix(prefix string) Option {
	return func(c *Client) {
		if prefix != "" {
			c.prefix = prefix
		}
	}
}

// WithTimeout sets how long a request may take when its context has no
// deadline; the default is DefaultTimeout. A zero or negative d keeps it.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// New returns a client of the timerd service reachable through nc.
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{nc: nc, prefix: api.DefaultPrefix, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Subject returns the API subject of endpoint (one of the api.Endpoint*
// names) under this client's prefix, e.g. "timerd.schedule".
func (c *Client) Subject(endpoint string) string { return c.prefix + "." + endpoint }

// CallOption refines Get, DryRun, Cancel, Pause and Resume.
type CallOption func(nats.Header)

// Upcoming makes Get answer the timer's next n nominal occurrences in
// api.Timer.Upcoming (Timer-Upcoming; the server's default is 5, its most
// 100, and it refuses more with a 400).
func Upcoming(n int) CallOption {
	return func(h nats.Header) {
		h.Set(api.HeaderUpcoming, strconv.Itoa(n))
	}
}

// ExpectRevision makes the call act only if the timer is at this revision;
// timerd answers 409 otherwise, and 404 if the timer does not exist.
func ExpectRevision(revision uint64) CallOption {
	return func(h nats.Header) {
		h.Set(api.HeaderExpectedRevision, strconv.FormatUint(revision, 10))
	}
}

// Schedule creates the timer, or answers the existing one unchanged (Created
// false) when the same request was made before with the same id. The same id
// with a different request fails with a conflict unless t.Replace is set.
//
//	rep, err := c.Schedule(ctx, client.Timer{ID: "daily-report", Subject: "reports.run", Cron: "0 6 * * *", TimeZone: "Europe/Paris"})
func (c *Client) Schedule(ctx context.Context, t Timer) (api.ScheduleReply, error) {
	var rep api.ScheduleReply
	msg, err := t.Msg(c.Subject(api.EndpointSchedule))
	if err != nil {
		return rep, err
	}
	err = c.call(ctx, msg, &rep)
	return rep, err
}

// DryRun asks timerd to validate t exactly as Schedule would and answers the
// timer it would create, with its next occurrences (Upcoming), storing
// nothing. It fails with the same *Error a Schedule of t would.
// Upcoming(n) asks for n occurrences instead of the server's default 5.
//
//	preview, err := c.DryRun(ctx, client.Timer{Subject: "reports.run", Cron: "0 9 ? * 6#3 *", CronDialect: "eventbridge"})
func (c *Client) DryRun(ctx context.Context, t Timer, opts ...CallOption) (api.Timer, error) {
	var rep api.Timer
	msg, err := t.Msg(c.Subject(api.EndpointSchedule))
	if err != nil {
		return rep, err
	}
	msg.Header.Set(api.HeaderDryRun, "true")
	for _, o := range opts {
		o(msg.Header)
	}
	err = c.call(ctx, msg, &rep)
	return rep, err
}

// Batch schedules many timers in one request. The results are in the order
// of timers; each one is a schedule reply or an error of its own (Error and
// Code set, and ID when the timer gave one), so the call itself fails only
// when the whole request does. A timer the client finds invalid fails the
// call before anything is sent.
func (c *Client) Batch(ctx context.Context, timers []Timer) ([]api.BatchResult, error) {
	items := make([]api.BatchItem, len(timers))
	for i, t := range timers {
		item, err := t.BatchItem()
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, badRequest("batch item %d: %s", i, e.Message)
			}
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
		items[i] = item
	}
	return c.BatchItems(ctx, items)
}

// BatchItems sends items as they are, for callers that already hold the wire
// form (the CLI reads it from a JSON file).
func (c *Client) BatchItems(ctx context.Context, items []api.BatchItem) ([]api.BatchResult, error) {
	body, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("timerd: encode batch: %w", err)
	}
	msg := &nats.Msg{Subject: c.Subject(api.EndpointBatch), Data: body}
	var results []api.BatchResult
	if err := c.call(ctx, msg, &results); err != nil {
		return nil, err
	}
	if len(results) != len(items) {
		return results, fmt.Errorf("timerd: batch reply has %d results for %d timers", len(results), len(items))
	}
	return results, nil
}

// Cancel cancels the timer id. No occurrence due after the reply fires.
func (c *Client) Cancel(ctx context.Context, id string, opts ...CallOption) (api.CancelReply, error) {
	var rep api.CancelReply
	err := c.callID(ctx, api.EndpointCancel, id, opts, &rep)
	return rep, err
}

// Get reads the timer id. Upcoming(n) asks for its next n occurrences.
func (c *Client) Get(ctx context.Context, id string, opts ...CallOption) (api.Timer, error) {
	var rep api.Timer
	err := c.callID(ctx, api.EndpointGet, id, opts, &rep)
	return rep, err
}

// Pause stops the timer id from firing without losing it, and answers it.
func (c *Client) Pause(ctx context.Context, id string, opts ...CallOption) (api.Timer, error) {
	var rep api.Timer
	err := c.callID(ctx, api.EndpointPause, id, opts, &rep)
	return rep, err
}

// Resume lets a paused timer fire again, and answers it.
func (c *Client) Resume(ctx context.Context, id string, opts ...CallOption) (api.Timer, error) {
	var rep api.Timer
	err := c.callID(ctx, api.EndpointResume, id, opts, &rep)
	return rep, err
}

// Trigger fires the next occurrence of the timer id now, and answers which
// occurrence it was and what comes next.
func (c *Client) Trigger(ctx context.Context, id string) (api.TriggerReply, error) {
	var rep api.TriggerReply
	err := c.callID(ctx, api.EndpointTrigger, id, nil, &rep)
	return rep, err
}

// Stats answers one node's counters (whichever node of the queue group
// takes the request).
func (c *Client) Stats(ctx context.Context) (api.Stats, error) {
	var rep api.Stats
	err := c.call(ctx, &nats.Msg{Subject: c.Subject(api.EndpointStats)}, &rep)
	return rep, err
}

func (c *Client) callID(ctx context.Context, endpoint, id string, opts []CallOption, out any) error {
	if id == "" {
		return badRequest("%s needs a timer id", endpoint)
	}
	msg := nats.NewMsg(c.Subject(endpoint))
	msg.Header.Set(api.HeaderID, id)
	for _, opt := range opts {
		opt(msg.Header)
	}
	return c.call(ctx, msg, out)
}

// call sends msg and decodes the JSON reply into out.
func (c *Client) call(ctx context.Context, msg *nats.Msg, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	reply, err := c.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return &noServiceError{subject: msg.Subject}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timerd: no reply on %s in time: %w", msg.Subject, err)
	case err != nil:
		return fmt.Errorf("timerd: request %s: %w", msg.Subject, err)
	}
	if e := replyError(reply); e != nil {
		return e
	}
	if err := json.Unmarshal(reply.Data, out); err != nil {
		return fmt.Errorf("timerd: decode reply of %s: %w", msg.Subject, err)
	}
	return nil
}
