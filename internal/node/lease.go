package node

import (
	"context"
	"errors"
	"time"

	"github.com/timerd/timerd/internal/jetstream"
)

// The node lease makes one node at a time fire a bucket's timers. The
// holder renews it every LeaseTTL/5 by compare-and-set on its KV revision;
// another node takes it over only after seeing the revision unchanged for
// LeaseTTL, and a holder that finds its revision changed stops at once.
// A node that finds the lease under its own name (a restart after a crash
// with the same --node, or the same data directory) takes it back at once.
//
// The last renewal of the previous holder also bounds when it stopped:
// occurrences of recurring timers after their recorded progress and up to
// that time may have fired, so they are fired again exactly as they were
// (same Timer-Fire, same Nats-Msg-Id) rather than treated as misfires.

// ErrLeaseLost is reported by Lost when another node took the lease.
var ErrLeaseLost = errors.New("node: another node took the lease; this node stopped firing")

func (n *Node) renewEvery() time.Duration { return n.cfg.LeaseTTL / 5 }

// acquireLease waits until this node holds the lease.
func (n *Node) acquireLease(ctx context.Context) error {
	var seenRev uint64
	var seenAt time.Time
	standing := false
	for {
		l, rev, err := n.store.ReadLease(ctx)
		if err == nil {
			take := rev == 0 || l.Node == n.cfg.Name
			if !take {
				if rev != seenRev {
					seenRev, seenAt = rev, time.Now()
				}
				take = time.Since(seenAt) >= n.cfg.LeaseTTL
				if !take && !standing {
					standing = true
					n.log.Info("standing by: another node holds the lease", "holder", l.Node, "takeover_after", n.cfg.LeaseTTL)
				}
			}
			if take {
				newRev, err := n.store.WriteLease(ctx, jetstream.Lease{Node: n.cfg.Name, Alive: time.Now().UnixNano()}, rev)
				if err == nil {
					n.leaseRev, n.leaseRenewed = newRev, time.Now()
					if rev != 0 {
						n.prevAlive = l.Alive + int64(n.renewEvery())
						n.log.Info("took the lease over", "from", l.Node, "last_alive", time.Unix(0, l.Alive).UTC())
					}
					return nil
				}
				if !errors.Is(err, jetstream.ErrLeaseLost) {
					n.log.Warn("taking the lease", "err", err)
				}
				continue
			}
		} else {
			n.log.Warn("reading the lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(n.renewEvery()):
		}
	}
}

// leaseLoop renews the lease until the node stops, and fences the node
// (no fires) when it cannot be sure it still holds it.
func (n *Node) leaseLoop() {
	defer n.stopped.Done()
	tick := time.NewTicker(n.renewEvery())
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.renewEvery())
		rev, err := n.store.WriteLease(ctx, jetstream.Lease{Node: n.cfg.Name, Alive: time.Now().UnixNano()}, n.leaseRev)
		if errors.Is(err, jetstream.ErrLeaseLost) {
			// A renewal that timed out may still have landed, leaving our
			// revision stale: if the lease still names this node, it is ours.
			if l, cur, rerr := n.store.ReadLease(ctx); rerr == nil && cur != 0 && l.Node == n.cfg.Name {
				rev, err = cur, nil
			}
		}
		cancel()
		n.mu.Lock()
		switch {
		case err == nil:
			n.leaseRev, n.leaseRenewed = rev, time.Now()
			if n.fenced {
				n.log.Info("lease renewed; firing again")
				n.fenced = false
				n.poke(0)
			}
		case errors.Is(err, jetstream.ErrLeaseLost):
			n.fenced = true
			n.mu.Unlock()
			n.log.Error("lease lost to another node; stopping")
			n.lostOnce.Do(func() { close(n.lost) })
			return
		default:
			// Another node may take over once LeaseTTL has passed since our
			// last renewal; stop firing well before that.
			if !n.fenced && time.Since(n.leaseRenewed) > n.cfg.LeaseTTL/2 {
				n.fenced = true
				n.log.Warn("lease not renewed; firing paused until it is", "err", err)
			}
		}
		n.mu.Unlock()
	}
}

// Lost is closed when another node took the lease: the node has stopped
// firing and its owner should shut it down.
func (n *Node) Lost() <-chan struct{} { return n.lost }

// releaseLease gives the lease up on a clean shutdown, so a successor takes
// it at once and replays nothing.
func (n *Node) releaseLease(ctx context.Context) {
	n.mu.Lock()
	rev, lost := n.leaseRev, n.fenced
	n.mu.Unlock()
	if rev == 0 || lost {
		return
	}
	if err := n.store.ReleaseLease(ctx, rev); err != nil {
		n.log.Warn("releasing the lease", "err", err)
	}
}
