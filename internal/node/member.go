package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/timerd/timerd/internal/ring"
	"github.com/timerd/timerd/internal/store"
)

// Membership: every node registers under its name and rewrites the
// registration every Heartbeat; a node not heard from for NodeTTL is lost.
// Shards go to the live nodes by consistent hashing (internal/ring). A
// shard is owned under its lease; the lease's revision fences every write
// of the shard, so only a change of owner changes it:
//
//   - a node claims a shard hashing gives it when the lease is free, held
//     by a lost node, or handed to it;
//   - an owner hands a shard to the node hashing now gives it (a join)
//     after writing its final mark and progress;
//   - a node whose own heartbeat has not been stored for NodeTTL/2 stops
//     firing and answering, well before others (who wait NodeTTL from the
//     last beat they saw) may claim its shards.

// health of a node as seen here.
type health uint8

const (
	normal health = iota // beating
	weak                 // a beat missed
	lost                 // silent past the TTL
)

func (h health) String() string { return [...]string{"normal", "weak", "lost"}[h] }

type peer struct {
	m    store.Member
	seen int64 // when its last beat arrived here (Unix ns, this node's clock)
}

// members is what this node knows of the registry and the leases, from the
// watch. Guarded by mu; the membership loop writes it, stats read it.
type members struct {
	mu     sync.Mutex
	peers  map[string]*peer
	leases []store.Lease
	revs   []uint64
	synced bool // the watch has delivered the current state
}

func (m *members) init() { m.peers = make(map[string]*peer) }

func (n *Node) healthOf(p *peer, now int64) health {
	switch since := now - p.seen; {
	case p.m.Node == n.cfg.Name && p.m.Instance == n.instance:
		if n.fresh(now) {
			return normal
		}
		return weak
	case since > int64(n.cfg.NodeTTL):
		return lost
	case since > int64(n.cfg.Heartbeat)*3/2:
		return weak
	}
	return normal
}

// register refuses a name a live node uses, then writes this node's first
// heartbeat.
func (n *Node) register(ctx context.Context) error {
	ms, err := n.store.Members(ctx)
	if err != nil {
		return fmt.Errorf("read the node registry: %w", err)
	}
	for _, m := range ms {
		if m.Node != n.cfg.Name {
			continue
		}
		n.previous = m
		if m.Leaving {
			continue
		}
		// The name is registered: by this node before a crash, or by a live
		// one. A live one beats within a heartbeat and a half.
		if err := n.waitSilent(ctx, m); err != nil {
			return err
		}
	}
	return n.beat(ctx, false)
}

func (n *Node) waitSilent(ctx context.Context, old store.Member) error {
	wctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat*3/2+100*time.Millisecond)
	defer cancel()
	events, err := n.store.Watch(wctx)
	if err != nil {
		return fmt.Errorf("watch the node registry: %w", err)
	}
	first := true
	for ev := range events {
		if ev.Shard >= 0 || ev.Member.Node != n.cfg.Name || ev.Deleted {
			continue
		}
		if first && ev.Member == old {
			first = false
			continue // the registration already seen
		}
		return fmt.Errorf("%w: %q beats as instance %s (started %s); give this node another --node",
			ErrNameInUse, n.cfg.Name, ev.Member.Instance, time.Unix(0, ev.Member.Started).UTC().Format(time.RFC3339))
	}
	return ctx.Err()
}

func (n *Node) beat(ctx context.Context, leaving bool) error {
	sent := n.now()
	err := n.store.Beat(ctx, store.Member{Node: n.cfg.Name, Instance: n.instance, Started: n.startedAt(), Beat: sent,
		Version: n.cfg.Version, HTTP: n.cfg.HTTP, Leaving: leaving})
	if err != nil {
		return err
	}
	if !leaving {
		if !n.fresh(sent) {
			n.healthSince.Store(sent) // fire nothing until the leases are read again
		}
		n.lastBeat.Store(sent)
	}
	return nil
}

var startedAt = time.Now().UnixNano()

func (n *Node) startedAt() int64 { return startedAt }

// heartbeats writes the registration every Heartbeat.
func (n *Node) heartbeats() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Heartbeat)
	defer tick.Stop()
	wasHealthy := true
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.closing.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.NodeTTL/2)
		err := n.beat(ctx, false)
		cancel()
		healthy := n.Healthy()
		switch {
		case errors.Is(err, store.ErrGone):
			n.die(fmt.Errorf("the timers' bucket is gone (deleted while timerd ran): %w", err))
		case err != nil:
			n.noise.warn(n.log, "beat", "heartbeat not stored", "err", err)
		}
		if healthy != wasHealthy {
			if healthy {
				n.log.Info("heartbeat stored again: firing and answering")
				n.poke()
			} else {
				n.log.Warn("heartbeat not stored for half the node TTL: stopped firing and answering until it is", "ttl", n.cfg.NodeTTL)
			}
			wasHealthy = healthy
		}
		if m := n.cfg.Metrics; m != nil {
			m.healthy.Set(b2f(healthy))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (n *Node) pokeMembership() {
	select {
	case n.loads <- struct{}{}:
	default:
	}
}

// membership follows the registry and the leases and acts on them: it
// claims and loads, hands off, and drops shards another node took. It
// reports on settled once the first round of claims is loaded.
func (n *Node) membership(settled chan<- error) {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with the loop: cancels the watch and any load
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	events, err := n.store.Watch(ctx)
	if err != nil {
		settled <- err
		return
	}
	tick := time.NewTicker(max(n.cfg.Heartbeat/10, 50*time.Millisecond))
	defer tick.Stop()
	first := true
	settleAt := time.Now().Add(n.settleDelay(ctx))
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() == nil {
					n.die(errors.New("the watch of leases and nodes ended: the connection to NATS closed, or the bucket was deleted"))
				}
				return
			}
			n.apply(ev)
			continue
		case <-tick.C:
		case <-n.loads:
		}
		settling := first && time.Now().Before(settleAt)
		err := n.reconcile(ctx, settling)
		if err != nil && ctx.Err() == nil && !fatal(err) {
			// A claim that timed out (NATS busy, a leader election): the
			// next round tries again.
			n.noise.warn(n.log, "reconcile", "claiming shards failed; trying again", "err", err)
			continue
		}
		if settling {
			if err != nil && ctx.Err() == nil {
				n.die(err)
				return
			}
			continue
		}
		if first {
			first = false
			settled <- err
			if err != nil {
				return
			}
		}
		if err != nil && ctx.Err() == nil {
			n.die(err)
			return
		}
	}
}

// fatal: errors a node cannot go on after (the bucket is gone, its records
// are damaged); anything else is retried.
func fatal(err error) bool {
	return errors.Is(err, store.ErrGone) || isDamage(err)
}

// settleDelay: when other nodes seem alive, wait a heartbeat before the
// first claims, so the watch shows them and this node claims only its share.
func (n *Node) settleDelay(ctx context.Context) time.Duration {
	ms, err := n.store.Members(ctx)
	if err != nil {
		return n.cfg.Heartbeat
	}
	now := n.now()
	for _, m := range ms {
		if m.Node != n.cfg.Name && !m.Leaving && now-m.Beat < int64(n.cfg.NodeTTL) {
			return n.cfg.Heartbeat * 3 / 2
		}
	}
	return 0
}

func (n *Node) apply(ev store.Event) {
	m := &n.members
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leases == nil {
		m.leases, m.revs = make([]store.Lease, len(n.shards)), make([]uint64, len(n.shards))
	}
	if ev.Shard >= 0 {
		if !ev.Deleted && ev.Rev < m.revs[ev.Shard] {
			return // older than what this node already applied (its own claim)
		}
		if ev.Deleted {
			m.leases[ev.Shard], m.revs[ev.Shard] = store.Lease{}, 0
		} else {
			m.leases[ev.Shard], m.revs[ev.Shard] = ev.Lease, ev.Rev
		}
		return
	}
	if ev.Deleted {
		delete(m.peers, ev.Member.Node)
		return
	}
	m.peers[ev.Member.Node] = &peer{m: ev.Member, seen: n.now()}
}

// view is a snapshot of what this node knows, for one round of decisions.
type view struct {
	now    int64
	leases []store.Lease
	revs   []uint64
	peers  map[string]peer
	live   []string // names of the nodes shards go to, sorted
	want   []int    // shard -> index in live
}

func (n *Node) snapshot() view {
	m := &n.members
	m.mu.Lock()
	defer m.mu.Unlock()
	v := view{now: n.now(), leases: slices.Clone(m.leases), revs: slices.Clone(m.revs), peers: make(map[string]peer, len(m.peers))}
	if v.leases == nil {
		v.leases, v.revs = make([]store.Lease, len(n.shards)), make([]uint64, len(n.shards))
	}
	for name, p := range m.peers {
		v.peers[name] = *p
		if !p.m.Leaving && n.healthOf(p, v.now) != lost {
			v.live = append(v.live, name)
		}
	}
	if n.closing.Load() {
		v.live = slices.DeleteFunc(v.live, func(name string) bool { return name == n.cfg.Name })
	} else if !slices.Contains(v.live, n.cfg.Name) && n.fresh(v.now) {
		v.live = append(v.live, n.cfg.Name)
	}
	slices.Sort(v.live)
	v.want = ring.Assign(len(n.shards), v.live)
	return v
}

// wanted is the node hashing gives shard s, "" when none is live.
func (v *view) wanted(s int) string {
	if v.want == nil {
		return ""
	}
	return v.live[v.want[s]]
}

// alive reports whether node name holds its shards: registered, not
// leaving, not lost.
func (n *Node) alive(v *view, name string) bool {
	p, ok := v.peers[name]
	return ok && !p.m.Leaving && n.healthOf(&p, v.now) != lost
}

// reconcile makes one round of decisions and carries them out. While
// settling (just started, other nodes seem alive) it takes only the shards
// handed to it by name, not free ones hashing would give it: the watch may
// not show every live node yet.
func (n *Node) reconcile(ctx context.Context, settling bool) (err error) {
	if !n.Healthy() || n.closing.Load() {
		return nil
	}
	start := n.now()
	if n.reconciled.Load() < n.healthSince.Load() {
		// Health returned after a gap: the watch may not yet show what
		// other nodes did meanwhile. Read leases and members afresh.
		if err := n.refresh(ctx); err != nil {
			n.noise.warn(n.log, "refresh", "leases not read after the heartbeat returned", "err", err)
			return nil
		}
	}
	defer func() {
		if err == nil && n.reconciled.Load() < start {
			n.reconciled.Store(start)
			n.poke()
		}
	}()
	v := n.snapshot()
	me := n.cfg.Name
	var claims []claimed
	var handoffs, dropped, taken []int
	for s := range n.shards {
		l, rev := v.leases[s], v.revs[s]
		d := n.shards[s]
		st, fence := d.status()
		if l.Node == me && l.Instance == n.instance {
			if st == idle || fence != rev {
				d.unload("changed owner")
				claims = append(claims, claimed{id: s, rev: rev, replayThrough: n.prevBeat(l)})
			} else if st == serving && v.wanted(s) != me && v.wanted(s) != "" {
				if p, ok := v.peers[v.wanted(s)]; ok && n.healthOf(&p, v.now) == normal {
					handoffs = append(handoffs, s)
				}
			}
			continue
		}
		if st != idle {
			// Another node holds the lease: stop at once (its writes would
			// be refused anyway).
			dropped = append(dropped, s)
			d.unload("moved to another node")
		}
		// Claim what hashing gives this node when the lease is free or its
		// holder lost, and what was handed (or held by an earlier instance
		// of this node) whatever hashing says here.
		if !(l.Node == me || !settling && v.wanted(s) == me && (l.Node == "" || !n.alive(&v, l.Node))) {
			continue
		}
		newLease := store.Lease{Node: me, Instance: n.instance, From: l.Node}
		newRev, err := n.store.UpdateLease(ctx, s, newLease, rev)
		if errors.Is(err, store.ErrLeaseChanged) {
			continue // someone else moved first; the watch will say who
		}
		if err != nil {
			return fmt.Errorf("claim shard %d: %w", s, err)
		}
		n.apply(store.Event{Shard: s, Lease: newLease, Rev: newRev})
		if l.Node != "" && l.Node != me {
			taken = append(taken, s)
			if m := n.cfg.Metrics; m != nil {
				m.takeovers.Inc()
			}
		}
		claims = append(claims, claimed{id: s, rev: newRev, replayThrough: n.lastFired(&v, l)})
	}
	if len(dropped) > 0 {
		n.log.Warn("shards taken by other nodes; dropped them here", "shards", dropped)
	}
	if len(taken) > 0 {
		n.log.Info("took shards over from lost nodes", "shards", taken)
	}
	if len(handoffs) > 0 {
		n.handoff(ctx, handoffs, &v)
	}
	n.forget(ctx, &v)
	return n.load(ctx, claims)
}

// forget removes the registrations of nodes silent for ForgetAfter that
// hold no lease (any node may; removing one twice is harmless). A node
// that was only paused writes its registration again with its next beat.
func (n *Node) forget(ctx context.Context, v *view) {
	holds := map[string]bool{}
	for _, l := range v.leases {
		holds[l.Node] = true
	}
	for name, p := range v.peers {
		if name == n.cfg.Name || holds[name] || v.now-p.m.Beat < int64(n.cfg.ForgetAfter) || v.now-p.seen < int64(n.cfg.ForgetAfter) {
			continue
		}
		if err := n.store.Leave(ctx, name); err != nil {
			n.noise.warn(n.log, "forget", "a long lost node's registration not removed", "node", name, "err", err)
			continue
		}
		n.log.Info("removed the registration of a node lost long ago", "node", name, "silent", time.Duration(v.now-p.m.Beat).Round(time.Second))
	}
}

// refresh reads every lease and registration from the store, not the watch.
func (n *Node) refresh(ctx context.Context) error {
	ls, revs, err := n.store.Leases(ctx)
	if err != nil {
		return err
	}
	ms, err := n.store.Members(ctx)
	if err != nil {
		return err
	}
	for s := range ls {
		n.apply(store.Event{Shard: s, Lease: ls[s], Rev: revs[s], Deleted: revs[s] == 0})
	}
	for _, m := range ms {
		n.apply(store.Event{Shard: -1, Member: m})
	}
	return nil
}

// lastFired bounds when the holder of lease l last fired: its last beat
// seen plus half the TTL (then it fenced itself). A lease released cleanly
// left nothing unrecorded.
func (n *Node) lastFired(v *view, l store.Lease) int64 {
	switch {
	case l.Node == "":
		return 0
	case l.Node == n.cfg.Name:
		return n.prevBeat(l)
	}
	if p, ok := v.peers[l.Node]; ok {
		return min(v.now, p.m.Beat+int64(n.cfg.NodeTTL)/2)
	}
	return 0
}

// prevBeat is lastFired for a lease held by an earlier instance of this
// node: the last beat it registered before this one started.
func (n *Node) prevBeat(l store.Lease) int64 {
	if l.Instance == n.instance || n.previous.Instance == "" {
		return 0
	}
	return n.previous.Beat + int64(n.cfg.NodeTTL)/2
}

// status is the driver's state and fence revision.
func (d *driver) status() (dstate, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state, d.fence.Rev
}
