package cronfeed

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Misfire is what a recurring timer does with occurrences it missed while
// no node could fire it (Timer-Misfire). The numeric values are stored in
// timer records: never renumber them.
type Misfire int

const (
	// MisfireOnce (the default, "once") fires a single catch-up carrying the
	// most recent missed nominal time, then goes on on schedule.
	MisfireOnce Misfire = iota
	// MisfireSkip ("skip") drops every missed occurrence and goes on with the
	// first one after now.
	MisfireSkip
	// MisfireAll ("all") fires every missed occurrence, oldest first, at most
	// limit per call to Due (see Due for the paging).
	MisfireAll
)

// ParseMisfire parses a Timer-Misfire value: "skip", "once" or "all", in any
// case; "" is MisfireOnce. Errors wrap ErrMisfire.
func ParseMisfire(s string) (Misfire, error) {
	switch strings.ToLower(s) {
	case "", "once":
		return MisfireOnce, nil
	case "skip":
		return MisfireSkip, nil
	case "all":
		return MisfireAll, nil
	}
	return MisfireOnce, fmt.Errorf("%w %q: want skip, once (the default) or all", ErrMisfire, s)
}

// String returns the policy's Timer-Misfire value.
func (m Misfire) String() string {
	switch m {
	case MisfireSkip:
		return "skip"
	case MisfireAll:
		return "all"
	case MisfireOnce:
		return "once"
	}
	return fmt.Sprintf("Misfire(%d)", int(m))
}

// Due says what a recurring timer fires now, after it could not fire on
// time. lastFired is the nominal time of its last fire, or zero if it never
// fired (then every occurrence from First() on counts). The missed
// occurrences are those after lastFired and at or before now. By policy:
//
//   - MisfireSkip fires none of them;
//   - MisfireOnce fires the most recent one alone;
//   - MisfireAll fires them oldest first, at most limit of them.
//
// limit caps len(fire) under every policy (limit <= 0 fires nothing, so the
// service can pass FiresLeft for Timer-Max-Fires). next is the occurrence to
// schedule after these fires, ok false when none is left. Under MisfireAll
// with more than limit missed, next is the oldest one not returned, at or
// before now: call Due again with lastFired = fire[len(fire)-1] to get the
// next page, so a long backlog is drained in bounded steps and none is lost.
// Otherwise next is after now.
//
// Due is for catching up. A fire that is merely a little late (the node
// loop's tick, a short failover) is not a misfire: the service fires the
// occurrence it had scheduled and calls Next. When to call Due instead is
// the service's threshold (Quartz calls it the misfire threshold, 60 s by
// default).
func (s *Schedule) Due(lastFired, now time.Time, policy Misfire, limit int) (fire []time.Time, next time.Time, ok bool) {
	floor := lastFired // occurrences strictly after it count
	if floor.IsZero() {
		first, ok := s.First()
		if !ok {
			// No lower bound: nothing can be called missed.
			next, ok := s.Next(now)
			return nil, next, ok
		}
		floor = first.Add(-time.Nanosecond)
	}
	resume := now // schedule the first occurrence after this
	if floor.After(resume) {
		resume = floor // never fire again at or before the last fire
	}
	switch policy {
	case MisfireSkip:
	case MisfireAll:
		for t := floor; len(fire) < limit; {
			o, ok := s.Next(t)
			if !ok || o.After(now) {
				break
			}
			fire, t = append(fire, o), o
		}
		if limit > 0 && len(fire) == limit {
			resume = fire[len(fire)-1]
		}
	default: // MisfireOnce
		if limit > 0 {
			if t, ok := s.latest(floor, now); ok {
				fire = append(fire, t)
			}
		}
	}
	next, ok = s.Next(resume)
	return fire, next, ok
}

// latest returns the last occurrence strictly after floor and at or before t.
func (s *Schedule) latest(floor, t time.Time) (time.Time, bool) {
	if !s.end.IsZero() && s.end.Before(t) {
		t = s.end
	}
	first, ok := s.Next(floor)
	if !ok || first.After(t) {
		return time.Time{}, false
	}
	if s.seq != nil {
		if p, ok := s.seq.prev(t); ok && !p.Before(first) {
			return p.UTC(), true
		}
		return first, true
	}
	// A cron schedule has no index: gallop back from t for a window that
	// holds an occurrence, then bisect it. Cron occurrences fall on whole
	// seconds, so a window of one second holds at most one. Invariant:
	// Next(lo) <= t < Next(hi).
	lo, hi := floor, t
	for w := time.Second; w < 1<<61; w *= 2 {
		cand := t.Add(-w)
		if !cand.After(floor) {
			break
		}
		if o, ok := s.Next(cand); ok && !o.After(t) {
			lo = cand
			break
		}
		hi = cand
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if o, ok := s.Next(mid); ok && !o.After(t) {
			lo = mid
		} else {
			hi = mid
		}
	}
	o, _ := s.Next(lo)
	return o, true
}

// FiresLeft returns how many more times a timer may fire under
// Timer-Max-Fires: maxFires minus fired, never negative, or math.MaxInt
// when maxFires <= 0 (no limit). Pass it as Due's limit (or its minimum
// with the service's own page size); a timer with none left is done.
func FiresLeft(maxFires, fired int) int {
	if maxFires <= 0 {
		return math.MaxInt
	}
	return max(maxFires-fired, 0)
}
