// Package cronfeed turns a recurring timer's schedule into instants: from a
// spec, a time zone, bounds and an anchor, the next occurrence after a given
// instant, and the occurrences missed between two instants.
//
// It owns the meaning of Timer-Cron, Timer-Repeat, Timer-Time-Zone,
// Timer-Start, Timer-End, Timer-Misfire and Timer-Jitter, and the ISO 8601
// durations of Timer-In. It is pure: it never reads the clock (time is
// always an argument), starts no goroutine, does no I/O beyond loading zone
// data, and imports nothing of timerd. Every node computes the same instants
// from the same Spec, to the nanosecond. The rules, with examples and a
// comparison with other schedulers, are in docs/semantics.md.
//
// # Usage
//
// Compile a Spec once when the timer is scheduled (a 400 for any error),
// keep the Spec (with Created) in the timer record, and recompile it when
// the record is loaded:
//
//	s, err := cronfeed.Compile(cronfeed.Spec{
//		Cron:    "0 9 * * MON-FRI",   // or Repeat: "R/2030-01-01T09:00:00/P1D"
//		Zone:    "Europe/Berlin",     // Timer-Time-Zone; "" is UTC
//		Created: receivedAt,          // anchors @every; earlier occurrences do not count
//	})
//	if err != nil {
//		return fmt.Errorf("Timer-Cron: %w", err) // names the value and what is accepted
//	}
//	due, ok := s.First()                       // the first fire (honours Timer-Start)
//	fireAt := due.Add(cronfeed.Jitter(id, due, jitter))
//
// After firing the occurrence due, the next one is s.Next(due): occurrences
// are always derived from the spec, never by adding to the previous fire, so
// nothing drifts. When a timer is found late beyond the service's misfire
// threshold (after downtime), ask Due what to fire:
//
//	fire, next, ok := s.Due(lastFired, now, policy, cronfeed.FiresLeft(maxFires, fired))
//
// # Rules in brief
//
// Cron specs have 5 fields (minute hour day-of-month month day-of-week), or
// 6 with seconds first, or a descriptor (@yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly), parsed by robfig/cron v3; names
// (JAN, MON-FRI), ranges, lists, steps, ? and 7 for Sunday are accepted.
// When both day fields are restricted (neither starts with * or ?), a day
// matching either fires (Vixie cron's rule). A CRON_TZ=Zone or TZ=Zone
// prefix names the zone; if Spec.Zone names another, Compile fails with
// ErrZoneConflict.
//
// Daylight saving time: a spec whose hour field starts with * (every hour,
// or */n) follows real time, firing at every instant whose local wall clock
// matches, so through a fall-back it fires in both passes of the repeated
// hour and nothing in the skipped one. Any other spec names wall clock
// times: one in the spring-forward gap fires once, at the first instant
// after the gap, and one in the repeated hour fires once, at its first
// occurrence.
//
// @every D and R[n]/duration fire at anchor + k·D, the anchor being Start
// (k = 0, 1, ...) or else Created (k = 1, 2, ...). A Go duration (@every 90m)
// is exact time; an ISO 8601 duration (@every P1D) may have calendar parts.
// ISO 8601 repeating intervals R[n]/start/duration, R[n]/start/end and
// R[n]/duration/end fire at the starts of their intervals, computed as
// start + k·duration (or end - k·duration) in one step: months clamp to the
// month's last day, P1D keeps the wall clock across DST, PT24H is 24 hours.
// Date-times without an offset are wall clock times in the zone.
//
// Occurrences are at or after Start, at or before End, and strictly after
// Created. Compile rejects specs that never match (ErrImpossible, such as
// 0 0 30 2 *) and bounds that leave nothing (ErrNoOccurrence). All errors
// wrap one of the Err* sentinels and name the value and what is accepted.
//
// A Schedule is immutable and safe for concurrent use.
package cronfeed
