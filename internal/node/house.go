package node

import (
	"time"
)

// housekeeping runs every MarkInterval, shard by shard (each under its own
// lock, briefly): marks and recurring progress, purges, forgetting fired
// one-shots, promoting far entries coming within the horizon.
func (n *Node) housekeeping() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.MarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if !n.Healthy() {
			continue // its writes would race a new owner's; fencing refuses them anyway
		}
		for _, d := range n.shards {
			d.mu.Lock()
			c := d.core
			if c == nil || d.state != serving {
				d.mu.Unlock()
				continue
			}
			now := n.now()
			c.Checkpoint(now, false)
			c.Forget(now)
			c.Promote(now)
			d.after(c)
		}
	}
}
