package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/shard"
)

// The public endpoints. Each validates its request here, on whichever node
// took it (the queue group), and runs it on the node serving the timer's
// shard: this one, or the owner it is handed to (route.go).

func (s *Service) schedule(ctx context.Context, req micro.Request) (any, error) {
	now := time.Now()
	c := callerFrom(ctx)
	f, perr := fromHeaders(req.Headers(), req.Data())
	if perr != nil {
		return nil, perr
	}
	f.tenant = c.tenant != ""
	r, perr := s.limits.build(f, now)
	if perr == nil {
		perr = s.admit(c, &r, f.name)
	}
	if perr != nil {
		if reply, ok := s.retried(ctx, f, perr); ok {
			return reply, nil
		}
		return nil, perr
	}
	if r.DryRun {
		n, uerr := upcomingOf(req.Headers())
		if uerr != nil {
			return nil, uerr
		}
		return shard.Preview(r.Timer, now.UnixNano(), n), nil
	}
	results := s.scheduleAll(ctx, []shard.Request{r})
	if results[0].err != nil {
		return nil, results[0].err
	}
	return results[0].reply, nil
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
		return nil, &api.Error{Code: api.CodeTooLarge, Msg: fmt.Sprintf("batch has %d timers; the limit is %d (--max-batch)", len(items), s.cfg.MaxBatch)}
	}
	results := make([]api.BatchResult, len(items))
	reqs := make([]shard.Request, 0, len(items))
	at := make([]int, 0, len(items))
	c := callerFrom(ctx)
	for i := range items {
		f, perr := fromItem(&items[i])
		f.tenant = c.tenant != ""
		var r shard.Request
		if perr == nil {
			r, perr = s.limits.build(&f, now)
			if perr == nil {
				perr = s.admit(c, &r, f.name)
			}
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
	for k, res := range s.scheduleAll(ctx, reqs) {
		i := at[k]
		if res.err != nil {
			var e *api.Error
			if !errors.As(res.err, &e) {
				e = &api.Error{Code: api.CodeInternal, Msg: res.err.Error()}
			}
			results[i] = failedElement(i, &items[i], e)
			continue
		}
		results[i] = api.BatchResult{ScheduleReply: res.reply}
	}
	return results, nil
}

// failedElement is the result of batch element i that failed with e: its
// id as the element gave it, the error and the code. An id longer than any
// valid one is left out (the error names it, shortened): echoed whole, a
// batch of them could make a reply larger than the server carries.
func failedElement(i int, it *batchItem, e *api.Error) api.BatchResult {
	id := strings.TrimSpace(it.id)
	if len(id) > api.MaxIDLen {
		id = ""
	}
	return api.BatchResult{ScheduleReply: api.ScheduleReply{ID: id}, Error: fmt.Sprintf("element %d: %s", i, e.Msg), Code: e.Code}
}

// retried answers an identical retry of a request that was valid when first
// sent but fails validation now (its Timer-Start has passed, say): the timer
// it created is answered as any identical retry is.
func (s *Service) retried(ctx context.Context, f *fields, perr *api.Error) (api.ScheduleReply, bool) {
	if f.id == "" || perr.Code != api.CodeBadRequest {
		return api.ScheduleReply{}, false
	}
	id := api.JoinID(callerFrom(ctx).tenant, f.id)
	v, err := s.route(ctx, id, opRetried, func() (any, error) {
		r, ok := s.node.Retried(ctx, id, f.hash())
		if !ok {
			return nil, nil
		}
		return r, nil
	}, func(h map[string][]string) { h[hdrHash] = []string{strconv.FormatUint(f.hash(), 10)} })
	if err != nil || v == nil {
		return api.ScheduleReply{}, false
	}
	r, ok := as[api.ScheduleReply](v)
	return r, ok
}

// guarded serves cancel, pause and resume: Timer-Id and an optional
// Timer-Expected-Revision.
func (s *Service) guarded(op string, local func(context.Context, string, shard.CallOptions) (any, error)) func(context.Context, micro.Request) (any, error) {
	return func(ctx context.Context, req micro.Request) (any, error) {
		id, err := idOf(ctx, req)
		if err != nil {
			return nil, err
		}
		o, err := callOptions(req.Headers())
		if err != nil {
			return nil, err
		}
		return s.route(ctx, id, op, func() (any, error) { return local(ctx, id, o) }, func(h map[string][]string) {
			if o.HasExpected {
				h[api.HeaderExpectedRevision] = []string{strconv.FormatUint(o.ExpectedRevision, 10)}
			}
		})
	}
}

func (s *Service) get(ctx context.Context, req micro.Request) (any, error) {
	id, err := idOf(ctx, req)
	if err != nil {
		return nil, err
	}
	n, err := upcomingOf(req.Headers())
	if err != nil {
		return nil, err
	}
	return s.route(ctx, id, opGet, func() (any, error) { return s.node.Get(ctx, id, n) }, func(h map[string][]string) {
		h[api.HeaderUpcoming] = []string{strconv.Itoa(n)}
	})
}

// upcomingOf reads Timer-Upcoming (default shard.DefaultUpcoming).
func upcomingOf(h map[string][]string) (int, *api.Error) {
	v, err := headerOf(h, api.HeaderUpcoming)
	if err != nil || v == "" {
		return shard.DefaultUpcoming, err
	}
	n, perr := strconv.Atoi(v)
	if perr != nil || n < 0 || n > shard.MaxUpcoming {
		return 0, badf("%s %q: want a whole number from 0 to %d", api.HeaderUpcoming, v, shard.MaxUpcoming)
	}
	return n, nil
}

func (s *Service) trigger(ctx context.Context, req micro.Request) (any, error) {
	id, err := idOf(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.route(ctx, id, opTrigger, func() (any, error) { return s.node.Trigger(ctx, id) }, nil)
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
	return s.listAll(ctx, callerFrom(ctx).tenant, given[1], given[2], limit)
}

func (s *Service) stats(ctx context.Context, _ micro.Request) (any, error) {
	return s.statsAll(ctx), nil
}
