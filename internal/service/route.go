package service

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/shard"
)

// Handing requests to the shard's owner. Every node subscribes, in a queue
// group, the subject <prefix>._shard.<n> of each shard it serves; a node
// that took a request for a shard it does not serve sends it there, already
// validated, and relays the answer. While a shard moves (no subscriber, or
// one that no longer serves it) the request is sent again until the
// request's own deadline. Node-wide questions (list, stats) go to
// <prefix>._node.<name>.<op>.
//
// These subjects are timerd's own: clients are not meant to use them (a
// tenant account imports only the public API, see docs/security.md).

const (
	hdrOp        = "Timer-Op"
	hdrHash      = "Timer-Request-Hash"
	hdrNotServed = "Timer-Not-Served" // the receiving node does not serve the shard (any more)
	hdrAfter     = "Timer-After"

	opSchedule = "schedule"
	opRetried  = "retried"
	opCancel   = "cancel"
	opPause    = "pause"
	opResume   = "resume"
	opGet      = "get"
	opTrigger  = "trigger"
	opList     = "list"
	opStats    = "stats"
)

func (s *Service) shardSubject(sh int) string { return s.cfg.Prefix + "._shard." + strconv.Itoa(sh) }

func (s *Service) nodeSubject(name, op string) string {
	return s.cfg.Prefix + "._node." + name + "." + op
}

// route runs an operation on timer id's shard: local when this node serves
// it, else handed to the owner with the Timer-Op op and the headers extra
// sets (Timer-Id is set here).
func (s *Service) route(ctx context.Context, id, op string, local func() (any, error), extra func(map[string][]string)) (any, error) {
	sh := s.node.ShardOf(id)
	for attempt := 0; ; attempt++ {
		v, err := local()
		if !errors.Is(err, node.ErrNotServed) {
			return v, err
		}
		m := nats.NewMsg(s.shardSubject(sh))
		m.Header[hdrOp] = []string{op}
		m.Header[api.HeaderID] = []string{id}
		if extra != nil {
			extra(m.Header)
		}
		resp, err := s.handOver(ctx, m)
		if err == nil {
			return decodeReply(resp, op)
		}
		if !errors.Is(err, errMoving) {
			return nil, err
		}
		if err := s.backoff(ctx, attempt, sh); err != nil {
			return nil, err
		}
	}
}

var errMoving = errors.New("service: the shard is moving")

// handOver sends m to the shard's owner; errMoving when nobody serves it.
func (s *Service) handOver(ctx context.Context, m *nats.Msg) (*nats.Msg, error) {
	s.metrics.Forwarded()
	resp, err := s.nc.RequestMsgWithContext(ctx, m)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, errMoving
	case err != nil:
		return nil, api.Errorf(api.CodeNotReady, "the timer's owner did not answer in time (%v); retry (the request is idempotent)", err)
	case resp.Header.Get(hdrNotServed) != "":
		return nil, errMoving
	}
	return resp, nil
}

// backoff waits before handing a request over again.
func (s *Service) backoff(ctx context.Context, attempt, sh int) error {
	d := min(time.Duration(attempt+1)*20*time.Millisecond, 250*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return api.Errorf(api.CodeNotReady, "the timer's shard %d has no node serving it right now (it is moving or its node is down); retry shortly", sh)
	case <-t.C:
		return nil
	}
}

// decodeReply is an owner's answer: its JSON, or its error.
func decodeReply(m *nats.Msg, op string) (any, error) {
	if code := m.Header.Get(api.HeaderErrorCode); code != "" {
		c, _ := strconv.Atoi(code)
		return nil, &api.Error{Code: c, Msg: m.Header.Get(api.HeaderError)}
	}
	if op == opRetried && len(m.Data) == 0 {
		return nil, nil
	}
	var v any
	switch op {
	case opRetried:
		v = new(api.ScheduleReply)
	case opCancel:
		v = new(api.CancelReply)
	case opTrigger:
		v = new(api.TriggerReply)
	default:
		v = new(api.Timer)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		return nil, api.Errorf(api.CodeInternal, "the timer's owner answered %q: %v", m.Data, err)
	}
	switch r := v.(type) {
	case *api.ScheduleReply:
		return *r, nil
	case *api.CancelReply:
		return *r, nil
	case *api.TriggerReply:
		return *r, nil
	case *api.Timer:
		return *r, nil
	}
	return v, nil
}

func as[T any](v any) (T, bool) {
	t, ok := v.(T)
	return t, ok
}

type scheduled struct {
	reply api.ScheduleReply
	err   error
}

// scheduleAll schedules reqs: the ones of shards served here together on
// this node, the others handed to their owners, one message per shard, all
// at once.
func (s *Service) scheduleAll(ctx context.Context, reqs []shard.Request) []scheduled {
	out := make([]scheduled, len(reqs))
	pending := make([]int, len(reqs))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		local := make([]shard.Request, len(pending))
		for k, i := range pending {
			local[k] = reqs[i]
		}
		replies, errs := s.node.ScheduleBatch(ctx, local)
		byShard := map[int][]int{}
		for k, i := range pending {
			if errors.Is(errs[k], node.ErrNotServed) {
				sh := s.node.ShardOf(reqs[i].Timer.ID)
				byShard[sh] = append(byShard[sh], i)
				continue
			}
			out[i] = scheduled{replies[k], errs[k]}
		}
		var mu sync.Mutex
		var again []int
		var wg sync.WaitGroup
		for sh, idx := range byShard {
			wg.Add(1)
			go func() { // ends with the request: bounded by ctx
				defer wg.Done()
				res, err := s.scheduleRemote(ctx, sh, reqs, idx)
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, errMoving) {
					again = append(again, idx...)
					return
				}
				for k, i := range idx {
					if err != nil {
						out[i] = scheduled{err: err}
					} else {
						out[i] = res[k]
					}
				}
			}()
		}
		wg.Wait()
		pending = again
		if len(pending) > 0 {
			if err := s.backoff(ctx, attempt, s.node.ShardOf(reqs[pending[0]].Timer.ID)); err != nil {
				for _, i := range pending {
					out[i] = scheduled{err: err}
				}
				break
			}
		}
	}
	return out
}

// scheduleRemote hands the requests idx of shard sh to its owner.
func (s *Service) scheduleRemote(ctx context.Context, sh int, reqs []shard.Request, idx []int) ([]scheduled, error) {
	m := nats.NewMsg(s.shardSubject(sh))
	m.Header[hdrOp] = []string{opSchedule}
	part := make([]shard.Request, len(idx))
	for k, i := range idx {
		part[k] = reqs[i]
	}
	m.Data = encodeRequests(part)
	resp, err := s.handOver(ctx, m)
	if err != nil {
		return nil, err
	}
	if code := resp.Header.Get(api.HeaderErrorCode); code != "" {
		c, _ := strconv.Atoi(code)
		return nil, &api.Error{Code: c, Msg: resp.Header.Get(api.HeaderError)}
	}
	var results []api.BatchResult
	if err := json.Unmarshal(resp.Data, &results); err != nil || len(results) != len(idx) {
		return nil, api.Errorf(api.CodeInternal, "the owner of shard %d answered %d results for %d timers (%v)", sh, len(results), len(idx), err)
	}
	out := make([]scheduled, len(idx))
	for k, r := range results {
		if r.Code != 0 {
			out[k] = scheduled{err: &api.Error{Code: r.Code, Msg: r.Error}}
		} else {
			out[k] = scheduled{reply: r.ScheduleReply}
		}
	}
	return out, nil
}

// encodeRequests writes validated schedule requests for their owner: a
// count, each one's flags and expected revision, then their definitions
// as one group record encoding.
func encodeRequests(reqs []shard.Request) []byte {
	buf := binary.AppendUvarint(nil, uint64(len(reqs)))
	ops := make([]record.Op, len(reqs))
	for i, r := range reqs {
		var flags byte
		if r.Replace {
			flags |= 1
		}
		if r.HasExpected {
			flags |= 2
		}
		buf = append(buf, flags)
		buf = binary.AppendUvarint(buf, r.ExpectedRevision)
		ops[i] = record.Op{Kind: record.OpPut, Timer: r.Timer}
	}
	return record.AppendOps(buf, ops)
}

func decodeRequests(data []byte) ([]shard.Request, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)) {
		return nil, errors.New("bad request count")
	}
	data = data[k:]
	reqs := make([]shard.Request, n)
	for i := range reqs {
		if len(data) < 1 {
			return nil, errors.New("truncated")
		}
		flags := data[0]
		rev, k := binary.Uvarint(data[1:])
		if k <= 0 {
			return nil, errors.New("truncated revision")
		}
		data = data[1+k:]
		reqs[i] = shard.Request{Replace: flags&1 != 0, HasExpected: flags&2 != 0, ExpectedRevision: rev}
	}
	ops, err := record.DecodeOps(data)
	if err != nil || len(ops) != len(reqs) {
		return nil, fmt.Errorf("definitions: %v", err)
	}
	for i := range reqs {
		reqs[i].Timer = ops[i].Timer
	}
	return reqs, nil
}
