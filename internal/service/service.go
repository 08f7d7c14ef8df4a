// Package service serves timerd's protocol (PROTOCOL.md) as a NATS micro
// service: it reads requests, validates them into node operations, and
// answers with the protocol's JSON or its errors. Each request is handled in
// its own goroutine (bounded), so one request waiting for its store ack
// never holds up the next.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
)

// Config configures the API service.
type Config struct {
	Prefix     string // API subject prefix (default api.DefaultPrefix)
	MaxPayload int    // bytes of a timer's payload, --max-payload (default api.DefaultPayload)
	// ServerMaxPayload is the NATS server's max payload, which every fire
	// (payload and headers, api.FireSize) must fit whatever MaxPayload
	// says. Default: what nc reports (nats.Conn.MaxPayload), else
	// api.DefaultServerMaxPayload. Read once: the servers of one NATS
	// system are expected to share it.
	ServerMaxPayload int64
	MaxBatch         int           // timers per batch (default api.DefaultMaxBatch)
	AllowSubjects    []string      // fire subject allow-list (default ">")
	MaxInFlight      int           // requests handled at once; beyond: 429 (default 20000)
	Timeout          time.Duration // per request, then 503; up to 1/64 more (default 30s)
	Version          string
	Logger           *slog.Logger
}

// Service is the running micro service.
type Service struct {
	nc        *nats.Conn
	cfg       Config
	node      *node.Node
	svc       micro.Service
	limits    limits
	deadlines *deadlines
	slots     chan struct{}
	wg        sync.WaitGroup
	log       *slog.Logger
}

// Start registers the micro service and its endpoints on nc.
func Start(nc *nats.Conn, n *node.Node, cfg Config) (*Service, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = api.DefaultPrefix
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = api.DefaultPayload
	}
	if cfg.ServerMaxPayload <= 0 {
		cfg.ServerMaxPayload = nc.MaxPayload()
	}
	if cfg.ServerMaxPayload <= 0 {
		cfg.ServerMaxPayload = api.DefaultServerMaxPayload
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = api.DefaultMaxBatch
	}
	if len(cfg.AllowSubjects) == 0 {
		cfg.AllowSubjects = []string{">"}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 20000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{nc: nc, cfg: cfg, node: n, slots: make(chan struct{}, cfg.MaxInFlight), log: cfg.Logger,
		limits: limits{prefix: cfg.Prefix, maxPayload: cfg.MaxPayload, serverMax: int(min(cfg.ServerMaxPayload, math.MaxInt32)),
			allow: cfg.AllowSubjects},
		deadlines: newDeadlines(cfg.Timeout)}
	if int64(cfg.MaxPayload) > cfg.ServerMaxPayload {
		s.log.Warn("--max-payload is more than the NATS server's max payload; fires must fit the server's, so larger requests are refused",
			"max_payload", cfg.MaxPayload, "server_max_payload", cfg.ServerMaxPayload)
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        api.ServiceName,
		Version:     cfg.Version,
		Description: "timerd: publishes NATS messages later (one-shot, cron, ISO 8601 repeating)",
		QueueGroup:  api.ServiceName,
	})
	if err != nil {
		return nil, fmt.Errorf("add micro service: %w", err)
	}
	s.svc = svc
	for name, h := range map[string]func(context.Context, micro.Request) (any, error){
		api.EndpointSchedule: s.schedule,
		api.EndpointBatch:    s.batch,
		api.EndpointCancel:   guarded(n.Cancel),
		api.EndpointGet:      s.get,
		api.EndpointList:     s.list,
		api.EndpointPause:    guarded(n.Pause),
		api.EndpointResume:   guarded(n.Resume),
		api.EndpointTrigger:  s.trigger,
		api.EndpointStats:    s.stats,
	} {
		if err := svc.AddEndpoint(name, s.handler(h), micro.WithEndpointSubject(cfg.Prefix+"."+name),
			micro.WithEndpointPendingLimits(-1, -1)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("add endpoint %s: %w", name, err)
		}
	}
	// The endpoints answer once the server has their subscriptions.
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register endpoints: %w", err)
	}
	return s, nil
}

// Stop stops taking requests and waits (until ctx ends) for the ones being
// handled to be answered.
func (s *Service) Stop(ctx context.Context) error {
	err := s.svc.Stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("requests still being handled: %w", ctx.Err()))
	}
	s.deadlines.release()
	return err
}

// handler runs h in its own goroutine and answers with its result. The
// answer is published on the request's reply subject directly: micro's own
// Respond may only be called inside the handler, which returns at once.
func (s *Service) handler(h func(context.Context, micro.Request) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.respondError(req, &node.Error{Code: api.CodeTooMany, Msg: fmt.Sprintf("%d requests are being handled; the limit is %d, retry shortly", len(s.slots), cap(s.slots))})
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			reply, err := h(s.deadlines.forRequest(), req)
			if err != nil {
				s.respondError(req, err)
				return
			}
			data, err := json.Marshal(reply)
			if err != nil {
				s.respondError(req, err)
				return
			}
			s.respond(req, &nats.Msg{Data: data})
		}()
	}
}

func (s *Service) respond(req micro.Request, m *nats.Msg) {
	if req.Reply() == "" {
		return // a publish, not a request: nobody to answer
	}
	m.Subject = req.Reply()
	if err := s.nc.PublishMsg(m); err != nil {
		s.log.Debug("reply not sent", "subject", req.Subject(), "err", err)
	}
}

func (s *Service) respondError(req micro.Request, err error) {
	var e *node.Error
	if !errors.As(err, &e) {
		e = &node.Error{Code: api.CodeInternal, Msg: err.Error()}
	}
	// Header values travel trimmed; the body says exactly the same.
	msg := strings.Join(strings.Fields(e.Msg), " ")
	body, _ := json.Marshal(api.ErrorReply{Error: msg, Code: e.Code})
	s.respond(req, &nats.Msg{Data: body, Header: nats.Header{
		api.HeaderErrorCode: []string{strconv.Itoa(e.Code)},
		api.HeaderError:     []string{msg},
	}})
}

func (s *Service) schedule(ctx context.Context, req micro.Request) (any, error) {
	now := time.Now()
	f, perr := fromHeaders(req.Headers(), req.Data())
	if perr != nil {
		return nil, perr
	}
	r, perr := s.limits.build(f, now)
	if perr != nil {
		if reply, ok := s.retried(ctx, f, perr); ok {
			return reply, nil
		}
		return nil, perr
	}
	return s.node.Schedule(ctx, r)
}

func (s *Service) batch(ctx context.Context, req micro.Request) (any, error) {
	now := time.Now()
	data := req.Data()
	if !looksLikeArray(data) {
		return nil, badf("batch body must be a JSON array of timers, for example [{\"id\":\"a\",\"subject\":\"demo.x\",\"in\":\"5s\",\"data\":\"hi\"}]")
	}
	items, err := decodeBatch(data, s.cfg.MaxBatch)
	if err != nil {
		return nil, badf("batch body is not a valid JSON array of timers: %v", err)
	}
	if len(items) == 0 {
		return nil, badf("batch is empty; send 1 to %d timers", s.cfg.MaxBatch)
	}
	if len(items) > s.cfg.MaxBatch {
		return nil, &node.Error{Code: api.CodeTooLarge, Msg: fmt.Sprintf("batch has %d timers; the limit is %d (--max-batch)", len(items), s.cfg.MaxBatch)}
	}
	results := make([]api.BatchResult, len(items))
	reqs := make([]node.ScheduleRequest, 0, len(items))
	at := make([]int, 0, len(items))
	for i := range items {
		f, perr := fromItem(&items[i])
		var r node.ScheduleRequest
		if perr == nil {
			r, perr = s.limits.build(&f, now)
			if perr != nil {
				if reply, ok := s.retried(ctx, &f, perr); ok {
					results[i] = api.BatchResult{ScheduleReply: reply}
					continue
				}
			}
		}
		if perr != nil {
			results[i] = failedElement(i, &items[i], perr)
			continue
		}
		reqs, at = append(reqs, r), append(at, i)
	}
	replies, errs := s.node.ScheduleBatch(ctx, reqs)
	for k, i := range at {
		if errs[k] != nil {
			var e *node.Error
			if !errors.As(errs[k], &e) {
				e = &node.Error{Code: api.CodeInternal, Msg: errs[k].Error()}
			}
			results[i] = failedElement(i, &items[i], e)
			continue
		}
		results[i] = api.BatchResult{ScheduleReply: replies[k]}
	}
	return results, nil
}

// failedElement is the result of batch element i that failed with e: its
// id as the element gave it, the error and the code. An id longer than any
// valid one is left out (the error names it, shortened): echoed whole, a
// batch of them could make a reply larger than the server carries.
func failedElement(i int, it *batchItem, e *node.Error) api.BatchResult {
	id := strings.TrimSpace(it.id)
	if len(id) > api.MaxIDLen {
		id = ""
	}
	return api.BatchResult{ScheduleReply: api.ScheduleReply{ID: id}, Error: fmt.Sprintf("element %d: %s", i, e.Msg), Code: e.Code}
}

// retried answers an identical retry of a request that was valid when first
// sent but fails validation now (its Timer-Start has passed, say): the timer
// it created is answered as any identical retry is.
func (s *Service) retried(ctx context.Context, f *fields, perr *node.Error) (api.ScheduleReply, bool) {
	if f.id == "" || perr.Code != api.CodeBadRequest {
		return api.ScheduleReply{}, false
	}
	return s.node.Retried(ctx, f.id, f.hash())
}

// idOf reads the Timer-Id header of cancel, get, pause, resume and trigger.
func idOf(req micro.Request) (string, *node.Error) {
	id, err := header(req, api.HeaderID)
	if err != nil {
		return "", err
	}
	if err := CheckID(api.HeaderID, id); err != nil {
		return "", err
	}
	return id, nil
}

// header reads a request header case-insensitively, trimmed. nats.go keeps
// names as sent, so one sent twice (in two spellings, or with two values)
// arrives twice; that is a 400, not a random pick.
func header(req micro.Request, name string) (string, *node.Error) {
	var value, as string
	for k, v := range req.Headers() {
		if !strings.EqualFold(k, name) || len(v) == 0 {
			continue
		}
		if len(v) > 1 {
			return "", sentTimes(name, len(v))
		}
		if as != "" {
			return "", sentTwice(name, as, k)
		}
		value, as = v[0], k
	}
	return strings.TrimSpace(value), nil
}

func callOptions(req micro.Request) (node.CallOptions, *node.Error) {
	v, err := header(req, api.HeaderExpectedRevision)
	if err != nil || v == "" {
		return node.CallOptions{}, err
	}
	rev, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil {
		return node.CallOptions{}, badf("%s %q: want a revision number from a previous reply", api.HeaderExpectedRevision, v)
	}
	return node.CallOptions{ExpectedRevision: rev, HasExpected: true}, nil
}

// guarded adapts a node operation taking Timer-Id and an optional
// Timer-Expected-Revision (cancel, pause, resume) to an endpoint.
func guarded[T any](op func(context.Context, string, node.CallOptions) (T, error)) func(context.Context, micro.Request) (any, error) {
	return func(ctx context.Context, req micro.Request) (any, error) {
		id, err := idOf(req)
		if err != nil {
			return nil, err
		}
		o, err := callOptions(req)
		if err != nil {
			return nil, err
		}
		return op(ctx, id, o)
	}
}

func (s *Service) get(ctx context.Context, req micro.Request) (any, error) {
	id, err := idOf(req)
	if err != nil {
		return nil, err
	}
	return s.node.Get(ctx, id)
}

func (s *Service) trigger(ctx context.Context, req micro.Request) (any, error) {
	id, err := idOf(req)
	if err != nil {
		return nil, err
	}
	return s.node.Trigger(ctx, id)
}

func (s *Service) list(ctx context.Context, req micro.Request) (any, error) {
	var given [3]string
	for i, name := range []string{api.HeaderLimit, api.HeaderPrefix, api.HeaderCursor} {
		v, err := header(req, name)
		if err != nil {
			return nil, err
		}
		given[i] = v
	}
	limit := api.DefaultLimit
	if v := given[0]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxLimit {
			return nil, badf("%s %q: want a whole number from 1 to %d", api.HeaderLimit, v, api.MaxLimit)
		}
		limit = n
	}
	return s.node.List(ctx, given[1], given[2], limit)
}

func (s *Service) stats(ctx context.Context, _ micro.Request) (any, error) {
	st := s.node.Stats(ctx)
	st.Version = s.cfg.Version
	return st, nil
}
