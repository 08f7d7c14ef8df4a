package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/internal/store"
)

// Leases and the node registry: l.<shard> names a shard's owner (its
// revision is the fencing token records are written under), n.<node> is a
// node's registration, rewritten by every heartbeat.

// Leases implements store.Store.
func (s *Store) Leases(ctx context.Context) ([]store.Lease, []uint64, error) {
	ls, revs := make([]store.Lease, s.shards), make([]uint64, s.shards)
	for i := range ls {
		e, err := s.kv.Get(ctx, "l."+strconv.Itoa(i))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read lease of shard %d: %w", i, s.gone(ctx, err))
		}
		if err := json.Unmarshal(e.Value(), &ls[i]); err != nil {
			return nil, nil, fmt.Errorf("lease of shard %d holds %q: %w", i, e.Value(), err)
		}
		revs[i] = e.Revision()
	}
	return ls, revs, nil
}

// UpdateLease implements store.Store.
func (s *Store) UpdateLease(ctx context.Context, shard int, l store.Lease, rev uint64) (uint64, error) {
	data, _ := json.Marshal(l)
	s.writes.Add(1)
	key := "l." + strconv.Itoa(shard)
	var newRev uint64
	var err error
	if rev == 0 {
		newRev, err = s.kv.Create(ctx, key, data)
	} else {
		newRev, err = s.kv.Update(ctx, key, data, rev)
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, fmt.Errorf("%w: shard %d: %v", store.ErrLeaseChanged, shard, err)
	}
	if err != nil {
		return 0, fmt.Errorf("write lease of shard %d: %w", shard, s.gone(ctx, err))
	}
	return newRev, nil
}

// Beat implements store.Store.
func (s *Store) Beat(ctx context.Context, m store.Member) error {
	data, _ := json.Marshal(m)
	s.writes.Add(1)
	if _, err := s.kv.Put(ctx, "n."+m.Node, data); err != nil {
		return fmt.Errorf("heartbeat: %w", s.gone(ctx, err))
	}
	return nil
}

// Members implements store.Store.
func (s *Store) Members(ctx context.Context) ([]store.Member, error) {
	w, err := s.kv.Watch(ctx, "n.>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", s.gone(ctx, err))
	}
	defer func() { _ = w.Stop() }()
	var out []store.Member
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("read nodes: the watch ended")
			}
			if e == nil {
				slices.SortFunc(out, func(a, b store.Member) int { return strings.Compare(a.Node, b.Node) })
				return out, nil
			}
			var m store.Member
			if json.Unmarshal(e.Value(), &m) == nil {
				out = append(out, m)
			}
		}
	}
}

// Leave implements store.Store.
func (s *Store) Leave(ctx context.Context, node string) error {
	s.writes.Add(1)
	if err := s.kv.Purge(ctx, "n."+node); err != nil {
		return fmt.Errorf("leave: %w", s.gone(ctx, err))
	}
	return nil
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context) (<-chan store.Event, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{"l.>", "n.>"})
	if err != nil {
		return nil, fmt.Errorf("watch leases and nodes: %w", s.gone(ctx, err))
	}
	out := make(chan store.Event, 1024)
	go func() { // owned by ctx: it ends when ctx does, or the watch does
		defer close(out)
		defer func() { _ = w.Stop() }()
		// A KV watch neither ends nor errs when its stream is deleted:
		// look now and then, and end the watch when the bucket is gone.
		look := time.NewTicker(2 * time.Second)
		defer look.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-look.C:
				ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := s.stream.Info(ictx)
				cancel()
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					return
				}
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue // the initial values are all delivered
				}
				ev, ok := s.event(e)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (s *Store) event(e jetstream.KeyValueEntry) (store.Event, bool) {
	deleted := e.Operation() != jetstream.KeyValuePut
	key := e.Key()
	switch {
	case strings.HasPrefix(key, "l."):
		shard, err := strconv.Atoi(key[2:])
		if err != nil || shard < 0 || shard >= s.shards {
			return store.Event{}, false
		}
		ev := store.Event{Shard: shard, Rev: e.Revision(), Deleted: deleted}
		if !deleted && json.Unmarshal(e.Value(), &ev.Lease) != nil {
			return store.Event{}, false
		}
		return ev, true
	case strings.HasPrefix(key, "n."):
		ev := store.Event{Shard: -1, Rev: e.Revision(), Deleted: deleted, Member: store.Member{Node: key[2:]}}
		if !deleted && json.Unmarshal(e.Value(), &ev.Member) != nil {
			return store.Event{}, false
		}
		return ev, true
	}
	return store.Event{}, false
}
