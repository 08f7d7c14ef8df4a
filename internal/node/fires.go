package node

import (
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/shard"
)

// fireLoop sleeps on one runtime timer until the wheel's next entry (or an
// earlier arrival), hands each shard what is due, and publishes the fires
// outside every lock. While the node's heartbeat is in doubt it hands out
// nothing: another node may be about to take its shards.
func (n *Node) fireLoop() {
	defer n.wg.Done()
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	var vals []uint64
	for {
		now := n.now()
		healthy := n.mayFire(now)
		n.wheelMu.Lock()
		vals = vals[:0]
		if healthy {
			n.wheel.Advance(now, func(v uint64, _ int64) { vals = append(vals, v) })
		}
		next, ok := n.wheel.Next()
		n.wheelMu.Unlock()
		wake := now + int64(time.Hour)
		if ok {
			wake = min(wake, next)
		}
		if !healthy {
			// Due entries stay in the wheel (its next is in the past): look
			// again soon, without spinning on them.
			wake = now + int64(50*time.Millisecond)
		}
		n.sleepTill.Store(wake)
		if len(vals) > 0 {
			n.due(now, vals)
			continue
		}
		d := time.Duration(wake - n.now())
		if d <= 0 {
			continue
		}
		sleep.Reset(d)
		select {
		case <-sleep.C:
		case <-n.wake:
			if !sleep.Stop() {
				<-sleep.C
			}
		case <-n.stop:
			return
		}
	}
}

// due hands each shard its wheel values.
func (n *Node) due(now int64, vals []uint64) {
	slices.SortFunc(vals, func(a, b uint64) int { return shard.ShardOfValue(a) - shard.ShardOfValue(b) })
	for i := 0; i < len(vals); {
		id := shard.ShardOfValue(vals[i])
		j := i + 1
		for j < len(vals) && shard.ShardOfValue(vals[j]) == id {
			j++
		}
		group := vals[i:j]
		if id < len(n.shards) {
			d := n.shards[id]
			d.mu.Lock()
			// A shard being handed off still fires until its lease passes:
			// its final mark must not pass what the wheel handed out.
			if c := d.core; c != nil && (d.state == serving || d.state == leaving) {
				c.Due(now, group)
				d.after(c)
			} else {
				d.mu.Unlock()
			}
		}
		i = j
	}
}

// publish sends fires of core c: plain publishes are settled at once and
// reported to the core together; JetStream ones as their acks arrive.
func (n *Node) publish(d *driver, c *shard.Shard, fires []shard.Fire) {
	type result struct {
		id        uint64
		err       error
		permanent bool
	}
	var settled []result
	now := n.now()
	m := n.cfg.Metrics
	for _, f := range fires {
		if m != nil && f.Tries == 0 && !f.Triggered {
			m.fireLag.Observe(float64(now-f.FireAt) / 1e9)
		}
		if f.Tries == 0 && !f.Triggered {
			n.lag.add(time.Duration(now - f.FireAt))
		}
		id := f.ID
		ok, err := n.pub.Publish(fireMsg(f), func(err error) {
			if err != nil {
				n.fireFailed(d, err)
			} else if m != nil {
				m.fired.Inc()
			}
			perm := err != nil && n.pub.Permanent(err)
			d.stepCore(c, func(c *shard.Shard, now int64) { c.Fired(now, id, err, perm) })
		})
		if ok {
			if err != nil {
				n.fireFailed(d, err)
			} else if m != nil {
				m.fired.Inc()
			}
			settled = append(settled, result{id, err, err != nil && n.pub.Permanent(err)})
		}
	}
	if len(settled) > 0 {
		d.stepCore(c, func(c *shard.Shard, now int64) {
			for _, r := range settled {
				c.Fired(now, r.id, r.err, r.permanent)
			}
		})
	}
}

func (n *Node) fireFailed(d *driver, err error) {
	if m := n.cfg.Metrics; m != nil {
		m.fireErrors.Inc()
	}
	n.noise.warn(n.log, "fire", "fires not stored, retrying", "shard", d.id, "err", err)
}

// fireMsg builds the fire: the payload and kept headers, plus Timer-Id,
// Timer-Due, Timer-Fire and Nats-Msg-Id.
func fireMsg(f shard.Fire) *nats.Msg {
	r := f.Timer
	m := &nats.Msg{Subject: r.Subject, Data: r.Payload, Header: make(nats.Header, len(r.Headers)+4)}
	for _, h := range r.Headers {
		m.Header[h.Key] = append(m.Header[h.Key], h.Value)
	}
	_, id := api.SplitID(r.ID) // a tenant's timer: its id as the tenant knows it
	v := make([]string, 4)     // one allocation for the four values
	v[0], v[1], v[2], v[3] = id, api.FormatTime(time.Unix(0, f.Nominal)), strconv.FormatInt(f.Number, 10), api.MsgID(id, f.Nominal)
	m.Header[api.HeaderID] = v[0:1:1]
	m.Header[api.HeaderDue] = v[1:2:2]
	m.Header[api.HeaderFire] = v[2:3:3]
	m.Header[api.HeaderMsgID] = v[3:4:4]
	return m
}
