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
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/shard"
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
	Metrics          *node.Metrics // requests handed to other nodes are counted (nil: none)
	// TenantPrefix starts the subjects a tenant's fires are published to
	// in timerd's account: <TenantPrefix>.<account>.<subject> (default
	// "tenants"). Export each account's part to that account only.
	TenantPrefix string
	// OperatorAccount names timerd's own account, whose requests are the
	// operator's even with Nats-Request-Info (default: none).
	OperatorAccount string
	// Rules are the tenants' rules (nil: every tenant may use any subject
	// of its own, without limits). SetRules replaces them.
	Rules *Rules
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
	wg        sync.WaitGroup // requests being handled
	workers   *workers       // the goroutines that handle them
	log       *slog.Logger
	metrics   *node.Metrics

	stopMu  sync.Mutex // guards stopped, so that no request starts once Stop waits for them
	stopped bool

	svcMu   sync.Mutex // guards svc: the public endpoints are withdrawn while the node is unhealthy
	nodeSub *nats.Subscription
	stop    chan struct{}
	bg      sync.WaitGroup // followShards, followHealth, followCounts

	rulesPtr atomic.Pointer[Rules]
	rates    rates
	countsMu sync.Mutex       // guards counts
	counts   map[string]int64 // timers by tenant over the cluster, as last gathered
}

// SetRules replaces the tenants' rules (a --rules reload).
func (s *Service) SetRules(r *Rules) { s.rulesPtr.Store(r) }

func (s *Service) rules() *Rules { return s.rulesPtr.Load() }

// followCounts gathers the tenants' timer counts from every node every few
// seconds, for MaxTimers.
func (s *Service) followCounts() {
	defer s.bg.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if r := s.rules(); r == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st := s.statsAll(ctx)
		cancel()
		if len(st.Cluster.Missing) > 0 {
			continue // a partial sum would forgive
		}
		s.countsMu.Lock()
		s.counts = st.Cluster.Tenants
		s.countsMu.Unlock()
	}
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
	if cfg.TenantPrefix == "" {
		cfg.TenantPrefix = "tenants"
	}
	s := &Service{nc: nc, cfg: cfg, node: n, slots: make(chan struct{}, cfg.MaxInFlight), log: cfg.Logger,
		limits: limits{prefix: cfg.Prefix, maxPayload: cfg.MaxPayload, serverMax: int(min(cfg.ServerMaxPayload, math.MaxInt32)),
			allow: cfg.AllowSubjects},
		deadlines: newDeadlines(cfg.Timeout)}
	if int64(cfg.MaxPayload) > cfg.ServerMaxPayload {
		s.log.Warn("--max-payload is more than the NATS server's max payload; fires must fit the server's, so larger requests are refused",
			"max_payload", cfg.MaxPayload, "server_max_payload", cfg.ServerMaxPayload)
	}
	s.metrics = cfg.Metrics
	s.stop = make(chan struct{})
	s.workers = newWorkers(s.stop)
	if err := s.addService(); err != nil {
		return nil, err
	}
	sub, err := nc.Subscribe(s.nodeSubject(n.Name(), "*"), s.internal(s.serveNode))
	if err != nil {
		_ = s.svc.Stop()
		return nil, fmt.Errorf("subscribe the node's subjects: %w", err)
	}
	s.nodeSub = sub
	events := make(chan shardEvent, 4*n.Shards()+64)
	s.rulesPtr.Store(cfg.Rules)
	s.bg.Add(3)
	go s.followShards(events, s.stop)
	go s.followHealth()
	go s.followCounts()
	n.OnShard(func(id int, serving bool) { events <- shardEvent{id, serving} })
	// The endpoints answer once the server has their subscriptions.
	if err := nc.Flush(); err != nil {
		_ = s.Stop(context.Background())
		return nil, fmt.Errorf("register endpoints: %w", err)
	}
	return s, nil
}

// addService registers the micro service and its public endpoints.
func (s *Service) addService() error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        api.ServiceName,
		Version:     s.cfg.Version,
		Description: "timerd: publishes NATS messages later (one-shot, cron, ISO 8601 repeating)",
		QueueGroup:  api.ServiceName,
	})
	if err != nil {
		return fmt.Errorf("add micro service: %w", err)
	}
	n := s.node
	for name, h := range map[string]func(context.Context, micro.Request) (any, error){
		api.EndpointSchedule: s.schedule,
		api.EndpointBatch:    s.batch,
		api.EndpointCancel: s.guarded(opCancel, func(ctx context.Context, id string, o shard.CallOptions) (any, error) {
			return n.Cancel(ctx, id, o)
		}),
		api.EndpointGet:  s.get,
		api.EndpointList: s.list,
		api.EndpointPause: s.guarded(opPause, func(ctx context.Context, id string, o shard.CallOptions) (any, error) {
			return n.Pause(ctx, id, o)
		}),
		api.EndpointResume: s.guarded(opResume, func(ctx context.Context, id string, o shard.CallOptions) (any, error) {
			return n.Resume(ctx, id, o)
		}),
		api.EndpointTrigger: s.trigger,
		api.EndpointStats:   s.stats,
	} {
		if err := svc.AddEndpoint(name, s.handler(h), micro.WithEndpointSubject(s.cfg.Prefix+"."+name),
			micro.WithEndpointPendingLimits(-1, -1)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("add endpoint %s: %w", name, err)
		}
	}
	s.svcMu.Lock()
	s.svc = svc
	s.svcMu.Unlock()
	return nil
}

// followHealth withdraws the public endpoints while the node's heartbeat
// is in doubt (requests then go to the other nodes of the queue group) and
// registers them again once it is stored.
func (s *Service) followHealth() {
	defer s.bg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		healthy := s.node.Healthy()
		s.svcMu.Lock()
		up := s.svc != nil
		if up && !healthy {
			s.log.Warn("withdrawing the API endpoints: this node's heartbeat is not stored")
			_ = s.svc.Stop()
			s.svc = nil
		}
		s.svcMu.Unlock()
		if !up && healthy {
			if err := s.addService(); err != nil {
				s.log.Error("registering the API endpoints again", "err", err)
			} else {
				s.log.Info("API endpoints registered again")
			}
		}
	}
}

// begin counts a request in, unless the service is stopping.
func (s *Service) begin() bool {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Service) refuseStopping(answer func(error)) {
	answer(api.Errorf(api.CodeNotReady, "this timerd node is shutting down; retry (another node, or this one once restarted, answers)"))
}

// Stop stops taking requests and waits (until ctx ends) for the ones being
// handled to be answered.
func (s *Service) Stop(ctx context.Context) error {
	select {
	case <-s.stop:
		return nil
	default:
		close(s.stop)
	}
	s.bg.Wait()
	var err error
	s.svcMu.Lock()
	if s.svc != nil {
		err = s.svc.Stop()
		s.svc = nil
	}
	s.svcMu.Unlock()
	if s.nodeSub != nil {
		_ = s.nodeSub.Unsubscribe()
	}
	// Subscriptions may still deliver a message after Unsubscribe: from
	// here on a handler answers 503 instead of counting itself in.
	s.stopMu.Lock()
	s.stopped = true
	s.stopMu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.workers.wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("requests still being handled: %w", ctx.Err()))
	}
	s.deadlines.release()
	return err
}

// handler runs h on a worker goroutine and answers with its result. The
// answer is published on the request's reply subject directly: micro's own
// Respond may only be called inside the handler, which returns at once.
func (s *Service) handler(h func(context.Context, micro.Request) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.respondError(req, &api.Error{Code: api.CodeTooMany, Msg: fmt.Sprintf("%d requests are being handled; the limit is %d, retry shortly", len(s.slots), cap(s.slots))})
			return
		}
		if !s.begin() {
			<-s.slots
			s.refuseStopping(func(err error) { s.respondError(req, err) })
			return
		}
		s.workers.run(func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			c, perr := callerOf(req.Headers(), s.cfg.OperatorAccount)
			if perr == nil {
				perr = s.limitRate(c)
			}
			if perr != nil {
				s.respondError(req, perr)
				return
			}
			reply, err := h(withCaller(s.deadlines.forRequest(), c), req)
			if err != nil {
				s.respondError(req, err)
				return
			}
			data, err := marshalReply(s.outward(c, reply))
			if err != nil {
				s.respondError(req, err)
				return
			}
			s.respond(req, &nats.Msg{Data: data})
		})
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
	s.respond(req, s.errorMsg(err))
}

// errorMsg is the protocol's answer to a failed request.
func (s *Service) errorMsg(err error) *nats.Msg {
	var e *api.Error
	if !errors.As(err, &e) {
		e = &api.Error{Code: api.CodeInternal, Msg: err.Error()}
	}
	// Header values travel trimmed; the body says exactly the same.
	msg := strings.Join(strings.Fields(e.Msg), " ")
	body, _ := json.Marshal(api.ErrorReply{Error: msg, Code: e.Code})
	return &nats.Msg{Data: body, Header: nats.Header{
		api.HeaderErrorCode: []string{strconv.Itoa(e.Code)},
		api.HeaderError:     []string{msg},
	}}
}

// idOf reads the Timer-Id header of cancel, get, pause, resume and
// trigger: the internal id of the caller's timer.
func idOf(ctx context.Context, req micro.Request) (string, *api.Error) {
	id, err := header(req, api.HeaderID)
	if err != nil {
		return "", err
	}
	if err := CheckID(api.HeaderID, id); err != nil {
		return "", err
	}
	return api.JoinID(callerFrom(ctx).tenant, id), nil
}

// header reads a request header case-insensitively, trimmed. nats.go keeps
// names as sent, so one sent twice (in two spellings, or with two values)
// arrives twice; that is a 400, not a random pick.
func header(req micro.Request, name string) (string, *api.Error) {
	return headerOf(req.Headers(), name)
}

// headerOf is header over a header map.
func headerOf(h map[string][]string, name string) (string, *api.Error) {
	var value, as string
	for k, v := range h {
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

func callOptions(h map[string][]string) (shard.CallOptions, *api.Error) {
	v, err := headerOf(h, api.HeaderExpectedRevision)
	if err != nil || v == "" {
		return shard.CallOptions{}, err
	}
	rev, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil {
		return shard.CallOptions{}, badf("%s %q: want a revision number from a previous reply", api.HeaderExpectedRevision, v)
	}
	return shard.CallOptions{ExpectedRevision: rev, HasExpected: true}, nil
}

// marshalReply encodes a reply as JSON; the ones written per timer
// scheduled are encoded by hand (api's AppendJSON, the same bytes).
func marshalReply(v any) ([]byte, error) {
	switch r := v.(type) {
	case api.ScheduleReply:
		return r.AppendJSON(make([]byte, 0, 96)), nil
	case []api.BatchResult:
		return api.AppendBatchResults(make([]byte, 0, 80*len(r)+2), r), nil
	case rawResults:
		return r.appendJSON(make([]byte, 0, 80*len(r)+2)), nil
	}
	return json.Marshal(v)
}
