package main

import (
	"fmt"
	"strings"
)

// Goal is one of the issues' goals, judged on this run where it applies.
type Goal struct {
	Goal    string `json:"goal"`
	Measure string `json:"measure"`
	Verdict string `json:"verdict"` // met, missed, or n/a with the reason
}

// isFloor says the contender is the js-paced floor: a client holding its
// schedule in memory, whose ingest and memory mean nothing beside a timer
// service's.
func isFloor(name string) bool { return strings.HasPrefix(name, "js-paced") }

// counterpart finds what a timerd variant is judged against for a goal:
// base ("nats-sched", "js-paced", "js-msgid") placed like it (the -bin
// variant for timerd-bin*, the embedded one for in-process timerd) when it
// ran, else the other placement; alike says which it is.
func (r *Report) counterpart(timerd, base string) (res *Result, alike bool) {
	same, other := base, base+"-bin"
	if strings.HasPrefix(timerd, "timerd-bin") {
		same, other = other, same
	}
	if res = r.result(same); res != nil {
		return res, true
	}
	return r.result(other), false
}

// placedNote qualifies a comparison between differently placed contenders.
func placedNote(alike bool) string {
	if alike {
		return ""
	}
	return " (placed differently: see Processes)"
}

// Goals judges the goals this run's workload speaks to.
func (r *Report) Goals() []Goal {
	var out []Goal
	add := func(goal, measure string, met bool, applies bool, why string) {
		v := "missed"
		if met {
			v = "met"
		}
		if !applies {
			v = "n/a: " + why
		}
		out = append(out, Goal{goal, measure, v})
	}
	for _, name := range []string{"timerd-batch", "timerd-bin-batch"} {
		if t := r.result(name); t != nil {
			add("batch ingest >= 150,000 timers/s", fmt.Sprintf("%s: %.0f/s", name, t.IngestRate), t.IngestRate >= 150000 && t.Errors == 0, true, "")
			if ns, alike := r.counterpart(name, "nats-sched"); ns != nil {
				x := t.IngestRate / ns.IngestRate
				add("batch ingest >= 3x NATS' scheduler", fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s, %s)%s", name, x, t.IngestRate, ns.IngestRate, ns.Contender, placedNote(alike)), x >= 3, true, "")
			}
		}
	}
	for _, name := range []string{"timerd", "timerd-bin"} {
		if t := r.result(name); t != nil {
			if ns, alike := r.counterpart(name, "nats-sched"); ns != nil {
				x := t.IngestRate / ns.IngestRate
				where := ""
				if alike && name == "timerd-bin" {
					where = ", both servers in their own processes"
				}
				add("single-request ingest >= 1x NATS' scheduler", fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s, %s%s)%s", name, x, t.IngestRate, ns.IngestRate, ns.Contender, where, placedNote(alike)), x >= 1, true, "")
			}
		}
	}
	r.clusterGoals(add)
	w := r.Workload
	for _, t := range r.Results {
		if !isTimerd(t.Contender) || t.Failed != "" {
			continue
		}
		r.pendingGoals(add, &t)
		if t.Fire == nil {
			continue
		}
		applies := t.PendingMeasured >= 1_000_000 && w.OfferedFireRate() >= 20000
		add("fire lag p99 <= 10 ms at 1M pending, 20,000 fires/s",
			fmt.Sprintf("%s: p99 %.2f ms at %d pending, %.0f fires/s offered, %.0f observed", t.Contender, t.Fire.LagP99Ms, t.PendingMeasured, w.OfferedFireRate(), t.Fire.FireRate),
			t.Fire.LagP99Ms <= 10 && t.Fire.Lost == 0, applies, fmt.Sprintf("p99 %.2f ms at %d pending and %.0f fires/s offered", t.Fire.LagP99Ms, t.PendingMeasured, w.OfferedFireRate()))
		if f, alike := r.counterpart(t.Contender, "js-paced"); f != nil && f.Fire != nil {
			r.floorGoals(add, &t, f, alike)
		}
		if js, alike := r.counterpart(t.Contender, "js-msgid"); js != nil {
			x := t.Fire.FireRate / js.IngestRate
			add("sustained fires into a dedup stream >= 0.8x raw Nats-Msg-Id publish",
				fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s, %s)%s", t.Contender, x, t.Fire.FireRate, js.IngestRate, js.Contender, placedNote(alike)),
				x >= 0.8, w.Capture && w.Spread == 0, "needs -capture and -spread 0 (all due at once)")
		}
		if !w.Capture && w.Far > 0 {
			applies = t.PendingMeasured >= 1_000_000 && w.OfferedFireRate() >= 20000 && w.Far >= 900_000
			add("plain fire lag p99 <= 5 ms at 20,000 fires/s, 1M pending incl. 900k far timers",
				fmt.Sprintf("%s: p99 %.2f ms at %d pending (%d far), %.0f fires/s offered, %.0f observed", t.Contender, t.Fire.LagP99Ms, t.PendingMeasured, w.Far, w.OfferedFireRate(), t.Fire.FireRate),
				t.Fire.LagP99Ms <= 5 && t.Fire.Lost == 0, applies, "needs 1M pending with -far 900000 and -fire-rate 20000, no -capture")
		}
	}
	return out
}

// pendingGoals judges what holds with or without a fire phase: memory per
// pending timer and the time back to firing after a restart.
func (r *Report) pendingGoals(add func(goal, measure string, met, applies bool, why string), t *Result) {
	w := r.Workload
	if t.PendingMeasured > 0 {
		add("<= 150 B RSS per pending timer at 10M pending, 64 B payloads",
			fmt.Sprintf("%s: %.0f B at %d pending, %d B payloads", t.Contender, t.RSSPerPending, t.PendingMeasured, w.Payload),
			t.RSSPerPending <= 150, t.PendingMeasured >= 10_000_000 && w.Payload == 64, fmt.Sprintf("%.0f B per pending at %d pending", t.RSSPerPending, t.PendingMeasured))
	}
	if w.Far > 0 && strings.HasPrefix(t.Contender, "timerd-bin") {
		near := 1 - float64(w.Far)/float64(w.Timers)
		add("<= 150 B RSS per pending timer, whole binary, 1M pending with 10% due within the horizon",
			fmt.Sprintf("%s: %.0f B at %d pending, %.0f%% of them near", t.Contender, t.RSSPerPending, t.PendingMeasured, near*100),
			t.RSSPerPending <= 150, t.PendingMeasured >= 1_000_000 && near <= 0.1 && w.Payload == 64,
			"needs 1M pending, at most 10% near (-far), 64 B payloads")
	}
	if t.Restart != nil {
		add("1M pending back to firing <= 5 s after a restart",
			fmt.Sprintf("%s: %.2f s with %d pending", t.Contender, t.Restart.FiringMs/1e3, t.Restart.Pending),
			t.Restart.FiringMs <= 5000, t.Restart.Pending >= 1_000_000, fmt.Sprintf("%.2f s with %d pending", t.Restart.FiringMs/1e3, t.Restart.Pending))
		add("10M pending back to firing <= 15 s after a restart",
			fmt.Sprintf("%s: %.2f s with %d pending", t.Contender, t.Restart.FiringMs/1e3, t.Restart.Pending),
			t.Restart.FiringMs <= 15000, t.Restart.Pending >= 10_000_000, fmt.Sprintf("%.2f s with %d pending", t.Restart.FiringMs/1e3, t.Restart.Pending))
	}
}

// floorGoals judges timerd t against the js-paced floor f: the lag at 1M
// pending and 20,000 fires/s, and the fire rate of a burst, both into the
// dedup capture stream.
func (r *Report) floorGoals(add func(goal, measure string, met, applies bool, why string), t, f *Result, alike bool) {
	w := r.Workload
	x := t.Fire.LagP99Ms / max(f.Fire.LagP99Ms, 0.001)
	add("fire lag p99 into a dedup stream <= 1.5x the js-paced floor and <= 10 ms (1M pending, 20,000 fires/s)",
		fmt.Sprintf("%s: p99 %.2f ms = %.2fx %s's %.2f ms, at %d pending, %.0f fires/s offered%s", t.Contender, t.Fire.LagP99Ms, x, f.Contender, f.Fire.LagP99Ms,
			t.PendingMeasured, w.OfferedFireRate(), placedNote(alike)),
		x <= 1.5 && t.Fire.LagP99Ms <= 10 && t.Fire.Lost == 0,
		w.Capture && w.Spread > 0 && t.PendingMeasured >= 1_000_000 && w.OfferedFireRate() >= 20000,
		"needs -capture, 1M pending and -fire-rate 20000")
	y := t.Fire.FireRate / max(f.Fire.FireRate, 0.001)
	add("burst fires into a dedup stream >= 0.8x the js-paced floor's",
		fmt.Sprintf("%s: %.2fx (%.0f vs %.0f /s, %s)%s", t.Contender, y, t.Fire.FireRate, f.Fire.FireRate, f.Contender, placedNote(alike)),
		y >= 0.8 && t.Fire.Lost == 0, w.Capture && w.Spread == 0, "needs -capture and -spread 0 (all due at once)")
}

// clusterGoals judges the hand-off between nodes: three timerd nodes on the
// same cores and the same nats-server process must keep at least 0.7x of
// one node's batch ingest (through any node) and burst fire rate.
func (r *Report) clusterGoals(add func(goal, measure string, met, applies bool, why string)) {
	one, three := r.result("timerd-bin-1node"), r.result("timerd-bin-3nodes")
	if one == nil || three == nil {
		return
	}
	x := three.IngestRate / max(one.IngestRate, 0.001)
	add("3 nodes: batch ingest through any node >= 0.7x one node's (same cores, same nats-server)",
		fmt.Sprintf("%.2fx (%.0f vs %.0f /s)", x, three.IngestRate, one.IngestRate), x >= 0.7 && three.Errors == 0, true, "")
	if one.Fire == nil || three.Fire == nil {
		return
	}
	w := r.Workload
	y := three.Fire.FireRate / max(one.Fire.FireRate, 0.001)
	add("3 nodes: burst fires into a dedup stream >= 0.7x one node's",
		fmt.Sprintf("%.2fx (%.0f vs %.0f /s)", y, three.Fire.FireRate, one.Fire.FireRate),
		y >= 0.7 && three.Fire.Lost == 0 && three.Fire.Duplicates == 0, w.Capture && w.Spread == 0, "needs -capture and -spread 0 (all due at once)")
}
