// Package cronfeed turns a recurring timer's schedule into instants: from a
// spec, a time zone, bounds and an anchor, the next occurrence after a given
// instant, and the occurrences missed between two instants.
//
// It owns the meaning of Timer-Cron, Timer-Cron-Dialect, Timer-Repeat, Timer-Time-Zone,
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
//	dialect, err := cronfeed.ParseDialect(header.Get(cronfeed.DialectHeader))
//	if err != nil {
//		return fmt.Errorf("%s: %w", cronfeed.DialectHeader, err)
//	}
//	s, err := cronfeed.Compile(cronfeed.Spec{
//		Cron:    "0 9 * * MON-FRI",   // or Repeat: "R/2030-01-01T09:00:00/P1D"
//		Dialect: dialect,             // Timer-Cron-Dialect; "" is standard, or EventBridge for cron(...)
//		Zone:    "Europe/Berlin",     // Timer-Time-Zone; "" is UTC
//		Created: receivedAt,          // anchors @every; earlier occurrences do not count
//	})
//	if err != nil {
//		return fmt.Errorf("Timer-Cron: %w", err) // names the value and what is accepted
//	}
//	record.Dialect = s.Dialect() // the spec's meaning depends on it: persist it
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
// @weekly, @daily, @midnight, @hourly), read as robfig/cron v3 read them;
// names (JAN, MON-FRI), ranges, lists, steps, ? and 7 for Sunday are
// accepted. When both day fields are restricted (neither starts with * or
// ?), a day matching either fires (Vixie cron's rule). A CRON_TZ=Zone or
// TZ=Zone prefix names the zone; if Spec.Zone names another, Compile fails
// with ErrZoneConflict.
//
// Day-of-month also takes L (the last day), L-n (n days before it), nW (the
// weekday nearest day n, within the month), LW; day-of-week takes dL (the
// last day d of the month) and d#n (the nth). These follow Quartz, whose
// dialect (DialectQuartz: 6 or 7 fields with an optional year, day-of-week
// 1-7 with 1 = Sunday, exactly one day field ?) and AWS EventBridge's
// (DialectEventBridge: cron(minute hour day-of-month month day-of-week
// year)) are read when Spec.Dialect declares them, or, for EventBridge,
// when the spec is wrapped in cron(...). A day number means another day
// in another dialect, so nothing else is ever guessed: in the standard
// dialect, L and # need a day name (FRIL, FRI#3), and a 7-field spec is
// refused with a message that says to declare Quartz. Years of a year
// field after 2262 never occur. Every search is bounded: by a year field,
// or by one 400-year Gregorian cycle.
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
