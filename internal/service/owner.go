package service

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
)

// The owner's side: requests other nodes hand over, on the subjects of the
// shards this node serves and on this node's own subjects.

// shardEvent is a shard this node started or stopped serving.
type shardEvent struct {
	id      int
	serving bool
}

// followShards subscribes and unsubscribes the subjects of the shards this
// node serves, as the node reports them. It runs until stop.
func (s *Service) followShards(events <-chan shardEvent, stop <-chan struct{}) {
	defer s.bg.Done()
	subs := make(map[int]*nats.Subscription)
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	for {
		select {
		case <-stop:
			return
		case ev := <-events:
			if sub, ok := subs[ev.id]; ok && !ev.serving {
				_ = sub.Unsubscribe()
				delete(subs, ev.id)
			}
			if _, ok := subs[ev.id]; ev.serving && !ok {
				sub, err := s.nc.QueueSubscribe(s.shardSubject(ev.id), api.ServiceName+"-shard", s.internal(s.serveShard))
				if err != nil {
					s.log.Error("subscribing a shard's subject", "shard", ev.id, "err", err)
					continue
				}
				_ = sub.SetPendingLimits(-1, -1)
				subs[ev.id] = sub
			}
		}
	}
}

// internal runs an internal request's handler on a worker goroutine (the
// same bound as public ones) and answers it.
func (s *Service) internal(h func(ctx context.Context, m *nats.Msg) (any, error)) nats.MsgHandler {
	return func(m *nats.Msg) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.answer(m, nil, api.Errorf(api.CodeTooMany, "node busy: %d requests are being handled; retry shortly", cap(s.slots)))
			return
		}
		if !s.begin() {
			<-s.slots
			s.refuseStopping(func(err error) { s.answer(m, nil, err) })
			return
		}
		s.workers.run(func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			v, err := h(s.deadlines.forRequest(), m)
			s.answer(m, v, err)
		})
	}
}

func (s *Service) answer(m *nats.Msg, v any, err error) {
	if m.Reply == "" {
		return
	}
	resp := &nats.Msg{Subject: m.Reply}
	if errors.Is(err, node.ErrNotServed) {
		resp.Header = nats.Header{hdrNotServed: []string{"true"}}
	} else if err != nil {
		resp = s.errorMsg(err)
		resp.Subject = m.Reply
	} else if v != nil {
		data, jerr := marshalReply(v)
		if jerr != nil {
			resp = s.errorMsg(jerr)
			resp.Subject = m.Reply
		} else {
			resp.Data = data
		}
	}
	if perr := s.nc.PublishMsg(resp); perr != nil {
		s.log.Debug("internal reply not sent", "subject", m.Subject, "err", perr)
	}
}

// serveShard runs a request another node handed over. It never hands it on:
// a shard this node no longer serves is answered ErrNotServed, and the
// sender tries again.
func (s *Service) serveShard(ctx context.Context, m *nats.Msg) (any, error) {
	op := m.Header.Get(hdrOp)
	if op == opSchedule {
		reqs, err := decodeRequests(m.Data)
		if err != nil {
			return nil, api.Errorf(api.CodeBadRequest, "internal schedule request: %v", err)
		}
		replies, errs := s.node.ScheduleBatch(ctx, reqs)
		out := make([]api.BatchResult, len(reqs))
		for i := range reqs {
			if errors.Is(errs[i], node.ErrNotServed) {
				return nil, node.ErrNotServed
			}
			if errs[i] != nil {
				var e *api.Error
				if !errors.As(errs[i], &e) {
					e = api.Errorf(api.CodeInternal, "%v", errs[i])
				}
				out[i] = api.BatchResult{Error: e.Msg, Code: e.Code}
				continue
			}
			out[i] = api.BatchResult{ScheduleReply: replies[i]}
		}
		return rawResults(out), nil
	}
	id := m.Header.Get(api.HeaderID)
	if id == "" {
		return nil, api.Errorf(api.CodeBadRequest, "internal request without %s", api.HeaderID)
	}
	o, perr := callOptions(m.Header)
	if perr != nil {
		return nil, perr
	}
	switch op {
	case opRetried:
		h, err := strconv.ParseUint(m.Header.Get(hdrHash), 10, 64)
		if err != nil {
			return nil, api.Errorf(api.CodeBadRequest, "internal retried request without a hash")
		}
		if !s.node.Serving(s.node.ShardOf(id)) {
			return nil, node.ErrNotServed
		}
		if r, ok := s.node.Retried(ctx, id, h); ok {
			return r, nil
		}
		return nil, nil
	case opCancel:
		return s.node.Cancel(ctx, id, o)
	case opPause:
		return s.node.Pause(ctx, id, o)
	case opResume:
		return s.node.Resume(ctx, id, o)
	case opTrigger:
		return s.node.Trigger(ctx, id)
	case opGet:
		n, err := upcomingOf(m.Header)
		if err != nil {
			return nil, err
		}
		return s.node.Get(ctx, id, n)
	}
	return nil, api.Errorf(api.CodeBadRequest, "internal request with %s %q", hdrOp, op)
}

// rawResults keeps batch results as they are (error elements included)
// when they go back to the node that handed them over.
type rawResults []api.BatchResult

func (r rawResults) MarshalJSON() ([]byte, error) { return r.appendJSON(nil), nil }

// appendJSON writes each result as its schedule reply's fields followed by
// "error" and "code" when set: what encoding/json writes for a struct
// embedding api.ScheduleReply with those two fields omitempty.
func (r rawResults) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, x := range r {
		if i > 0 {
			b = append(b, ',')
		}
		b = x.ScheduleReply.AppendJSON(b)
		if x.Error == "" && x.Code == 0 {
			continue
		}
		b = b[:len(b)-1] // the reply's closing brace
		if x.Error != "" {
			b = append(b, `,"error":`...)
			b = api.AppendJSONString(b, x.Error)
		}
		if x.Code != 0 {
			b = append(b, `,"code":`...)
			b = strconv.AppendInt(b, int64(x.Code), 10)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// nodeList is a node's part of a list: a page of its timers, and the
// shards it served while it looked.
type nodeList struct {
	Timers []api.Timer `json:"timers"`
	Shards []int       `json:"shards"`
}

// serveNode answers the node-wide questions of other nodes.
func (s *Service) serveNode(ctx context.Context, m *nats.Msg) (any, error) {
	switch m.Subject[strings.LastIndexByte(m.Subject, '.')+1:] {
	case opList:
		limit, _ := strconv.Atoi(m.Header.Get(api.HeaderLimit))
		// Base64: a header value loses its edge spaces on the way, and a
		// tenant's prefix ends in one ("A " lists account A's timers).
		prefix, perr := node.DecodeCursor(m.Header.Get(api.HeaderPrefix))
		after, aerr := node.DecodeCursor(m.Header.Get(hdrAfter))
		if perr != nil || aerr != nil {
			return nil, badf("internal list: bad prefix or cursor")
		}
		return s.localList(ctx, prefix, after, max(limit, 1))
	case opStats:
		return s.node.Stats(ctx), nil
	}
	return nil, api.Errorf(api.CodeBadRequest, "unknown node request %s", m.Subject)
}

func (s *Service) localList(ctx context.Context, prefix, after string, limit int) (nodeList, error) {
	ids, scanned := s.node.ListIDs(prefix, after, limit)
	out := nodeList{Timers: make([]api.Timer, 0, len(ids))}
	moved := map[int]bool{}
	for _, id := range ids {
		t, err := s.node.Get(ctx, id, 0)
		var e *api.Error
		if errors.As(err, &e) && e.Code == api.CodeNotFound {
			continue // gone meanwhile
		}
		if errors.Is(err, node.ErrNotServed) {
			moved[s.node.ShardOf(id)] = true // not covered here any more
			continue
		}
		if err != nil {
			return nodeList{}, err
		}
		out.Timers = append(out.Timers, t)
	}
	for _, sh := range scanned {
		if !moved[sh] {
			out.Shards = append(out.Shards, sh)
		}
	}
	return out, nil
}

// listAll answers a page of every node's timers: each node answers its own
// page (the smallest ids after the cursor), and the pages are merged. A
// shard no node served while the pages were made would leave a hole, so
// that is a 503 to retry.
func (s *Service) listAll(ctx context.Context, tenant, prefix, cursor string, limit int) (any, error) {
	after, err := node.DecodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		// A tenant's ids all start with its account: its page is theirs.
		prefix = api.JoinID(tenant, prefix)
		if after != "" {
			after = api.JoinID(tenant, after)
		}
	}
	mine, err := s.localList(ctx, prefix, after, limit+1)
	if err != nil {
		return nil, err
	}
	parts := []nodeList{mine}
	for _, peer := range s.peers() {
		m := nats.NewMsg(s.nodeSubject(peer, opList))
		m.Header[api.HeaderPrefix] = []string{node.EncodeCursor(prefix)}
		m.Header[hdrAfter] = []string{node.EncodeCursor(after)}
		m.Header[api.HeaderLimit] = []string{strconv.Itoa(limit + 1)}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.nc.RequestMsgWithContext(rctx, m)
		cancel()
		if err != nil {
			continue // its shards show as not covered below
		}
		var part nodeList
		if code := resp.Header.Get(api.HeaderErrorCode); code != "" || json.Unmarshal(resp.Data, &part) != nil {
			continue
		}
		parts = append(parts, part)
	}
	covered := make([]bool, s.node.Shards())
	var all []api.Timer
	for _, p := range parts {
		for _, sh := range p.Shards {
			if sh >= 0 && sh < len(covered) {
				covered[sh] = true
			}
		}
		all = append(all, p.Timers...)
	}
	for sh, ok := range covered {
		if !ok {
			return nil, api.Errorf(api.CodeNotReady, "shard %d has no node serving it right now (it is moving or its node is down); retry the list shortly", sh)
		}
	}
	slices.SortFunc(all, func(a, b api.Timer) int { return strings.Compare(a.ID, b.ID) })
	all = slices.CompactFunc(all, func(a, b api.Timer) bool { return a.ID == b.ID })
	reply := api.ListReply{Timers: all}
	if len(all) > limit {
		reply.Timers = all[:limit]
		reply.NextCursor = node.EncodeCursor(all[limit-1].ID)
	}
	return reply, nil
}

// peers are the other live nodes of the registry.
func (s *Service) peers() []string {
	var out []string
	for _, ns := range s.node.Stats(context.Background()).Nodes {
		if ns.Name != s.node.Name() && ns.Health != "lost" {
			out = append(out, ns.Name)
		}
	}
	return out
}

// statsAll answers this node's stats and the sums over every live node.
func (s *Service) statsAll(ctx context.Context) api.Stats {
	st := s.node.Stats(ctx)
	st.Version = s.cfg.Version
	cl := &api.ClusterStats{ByKind: map[string]int64{}}
	add := func(o api.Stats) {
		cl.Nodes++
		cl.Timers += o.Timers
		cl.Scheduled += o.Scheduled
		cl.Paused += o.Paused
		cl.Failed += o.Failed
		cl.Fired += o.Fired
		for k, v := range o.ByKind {
			cl.ByKind[k] += v
		}
		for k, v := range o.Tenants {
			if cl.Tenants == nil {
				cl.Tenants = map[string]int64{}
			}
			cl.Tenants[k] += v
		}
	}
	add(st)
	for _, ns := range st.Nodes {
		if ns.Name == st.Node || ns.Health == "lost" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := s.nc.RequestWithContext(rctx, s.nodeSubject(ns.Name, opStats), nil)
		cancel()
		var o api.Stats
		if err != nil || resp.Header.Get(api.HeaderErrorCode) != "" || json.Unmarshal(resp.Data, &o) != nil {
			cl.Missing = append(cl.Missing, ns.Name)
			continue
		}
		add(o)
	}
	st.Cluster = cl
	return st
}
