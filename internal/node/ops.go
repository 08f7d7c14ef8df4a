package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/shard"
)

// The API operations on the shards this node serves. A request for a shard
// served elsewhere answers ErrNotServed: the service hands it to the owner.

// ErrNotServed: the timer's shard is not served by this node.
var ErrNotServed = errNotOwned

// ShardOf is the shard of a timer id: xxhash of the id modulo the shard count.
func ShardOf(id string, shards int) int {
	return int(xxhash.Sum64String(id) % uint64(shards))
}

// ShardOf is the shard of a timer id in this node's bucket.
func (n *Node) ShardOf(id string) int { return ShardOf(id, len(n.shards)) }

// Serving reports whether this node serves shard s now.
func (n *Node) Serving(s int) bool { return n.shards[s].serving() }

func (n *Node) driverOf(id string) *driver { return n.shards[n.ShardOf(id)] }

func as[T any](v any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, _ := v.(T)
	return t, nil
}

// Schedule creates or replaces a timer; the reply comes once it is stored.
func (n *Node) Schedule(ctx context.Context, req shard.Request) (api.ScheduleReply, error) {
	return as[api.ScheduleReply](n.driverOf(req.Timer.ID).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) {
		c.Schedule(now, tok, req)
	}))
}

// ScheduleBatch schedules many timers; each succeeds or fails on its own.
// The requests of one shard are handed to its core together, and every
// shard's writes are in flight at once; the replies come into one
// collector.
func (n *Node) ScheduleBatch(ctx context.Context, reqs []shard.Request) ([]api.ScheduleReply, []error) {
	replies, errs := make([]api.ScheduleReply, len(reqs)), make([]error, len(reqs))
	if !n.Healthy() {
		err := errUnhealthy(n)
		for i := range errs {
			errs[i] = err
		}
		return replies, errs
	}
	byShard := make(map[int][]int)
	for i, r := range reqs {
		s := n.ShardOf(r.Timer.ID)
		byShard[s] = append(byShard[s], i)
	}
	col := newCollector(len(reqs))
	for s, idx := range byShard {
		d := n.shards[s]
		err := d.start(func(c *shard.Shard, now int64) {
			for _, i := range idx {
				tok := n.token()
				d.waiters[tok] = waiter{col: col, i: i}
				c.Schedule(now, tok, reqs[i])
			}
		})
		if err != nil {
			for _, i := range idx {
				col.put(i, shard.Reply{Err: err})
			}
		}
	}
	got, ok := col.wait(ctx)
	for i := range reqs {
		if !ok[i] {
			errs[i] = errNotConfirmed(ctx)
			continue
		}
		replies[i], errs[i] = as[api.ScheduleReply](got[i].Value, got[i].Err)
	}
	return replies, errs
}

// Retried answers an identical retry of the request with hash reqHash
// that made timer id; false when id was not made by that request.
func (n *Node) Retried(ctx context.Context, id string, reqHash uint64) (api.ScheduleReply, bool) {
	v, err := n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Retried(now, tok, id, reqHash) })
	r, ok := v.(api.ScheduleReply)
	return r, ok && err == nil
}

// Cancel deletes a timer.
func (n *Node) Cancel(ctx context.Context, id string, o shard.CallOptions) (api.CancelReply, error) {
	return as[api.CancelReply](n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Cancel(now, tok, id, o) }))
}

// Pause stops a timer's firing without losing it.
func (n *Node) Pause(ctx context.Context, id string, o shard.CallOptions) (api.Timer, error) {
	return as[api.Timer](n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Pause(now, tok, id, o) }))
}

// Resume restarts a paused (or set aside) timer.
func (n *Node) Resume(ctx context.Context, id string, o shard.CallOptions) (api.Timer, error) {
	return as[api.Timer](n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Resume(now, tok, id, o) }))
}

// Trigger fires a timer's next occurrence now.
func (n *Node) Trigger(ctx context.Context, id string) (api.TriggerReply, error) {
	return as[api.TriggerReply](n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Trigger(now, tok, id) }))
}

// Get answers a timer with up to upcoming next occurrences.
func (n *Node) Get(ctx context.Context, id string, upcoming int) (api.Timer, error) {
	return as[api.Timer](n.driverOf(id).request(ctx, func(c *shard.Shard, now int64, tok shard.Token) { c.Get(now, tok, id, upcoming) }))
}

// List answers a page of the timers this node serves, ordered by id,
// after cursor, with prefix. It walks each shard in bounded steps under
// the shard's lock, so fires never wait behind a list.
func (n *Node) List(ctx context.Context, prefix, cursor string, limit int) (api.ListReply, error) {
	after, err := DecodeCursor(cursor)
	if err != nil {
		return api.ListReply{}, err
	}
	ids, _ := n.ListIDs(prefix, after, limit+1)
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	reply := api.ListReply{Timers: make([]api.Timer, 0, len(ids))}
	for _, id := range ids {
		t, err := n.Get(ctx, id, 0)
		var e *api.Error
		if errors.As(err, &e) && e.Code == api.CodeNotFound {
			continue // gone meanwhile
		}
		if err != nil {
			return api.ListReply{}, err
		}
		reply.Timers = append(reply.Timers, t)
	}
	if more {
		reply.NextCursor = EncodeCursor(ids[limit-1])
	}
	return reply, nil
}

// ListIDs returns up to limit of the smallest ids after after with prefix,
// among the timers of the shards this node serves, and the shards it read
// whole while serving them (a shard handed on or reloaded mid-scan is not
// among them: a list must not count it as covered).
// A prefix without a space lists the operator's timers only: a tenant's
// ids hold a space (api.JoinID), and it lists its own with its prefix.
func (n *Node) ListIDs(prefix, after string, limit int) ([]string, []int) {
	page := make([]string, 0, limit)
	var scanned []int
	operator := !strings.Contains(prefix, " ")
	consider := func(id []byte) {
		if operator && bytes.IndexByte(id, ' ') >= 0 {
			return
		}
		if len(page) == limit && string(id) >= page[limit-1] {
			return
		}
		s := string(id)
		i, _ := slices.BinarySearch(page, s)
		if len(page) == limit {
			page = page[:limit-1]
		}
		page = slices.Insert(page, i, s)
	}
	for sh, d := range n.shards {
		var first *shard.Shard
		whole := true
		for pos, more := 0, true; more; {
			d.mu.Lock()
			c := d.core
			if c == nil || d.state != serving || first != nil && c != first {
				d.mu.Unlock()
				whole = false
				break
			}
			first = c
			pos, more = c.Scan(pos, prefix, after, consider)
			d.mu.Unlock()
		}
		if whole {
			scanned = append(scanned, sh)
		}
	}
	return page, scanned
}

// EncodeCursor and DecodeCursor make Timer-Cursor values: the last id of a page.
func EncodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// DecodeCursor reads a Timer-Cursor value.
func DecodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(cursor))
	if err != nil {
		return "", api.Errorf(api.CodeBadRequest, "Timer-Cursor %q is not a cursor from a previous page", cursor)
	}
	return string(b), nil
}
