package cronfeed

import (
	"fmt"
	"strings"
	"time"
)

// Spec is a recurring timer's schedule as the client sent it: exactly one
// of Cron and Repeat, plus the zone, bounds and creation time.
type Spec struct {
	// Cron is Timer-Cron: 5 or 6 fields, a descriptor, or @every, with an
	// optional CRON_TZ=<zone> or TZ=<zone> prefix (in the standard
	// dialect; see Dialect for the others). "" if Repeat is set.
	Cron string
	// Dialect is Timer-Cron-Dialect: how to read Cron. "" or
	// DialectStandard: Vixie cron (day-of-week 0-7, 0 and 7 Sunday);
	// DialectQuartz: Quartz's 6 or 7 fields (day-of-week 1-7, 1 Sunday);
	// DialectEventBridge: AWS's cron(...) (day-of-week 1-7, 1 Sunday).
	// When "" a cron(...) wrapper makes the spec EventBridge's; nothing
	// else is ever guessed, so a spec that only parses in another dialect
	// is refused with a message that says how to declare it. The service
	// must persist the dialect beside Cron (Schedule.Dialect returns it):
	// the same text can name other days in another dialect. Any case is
	// accepted (see ParseDialect); it must be "" when Repeat is set.
	Dialect string
	// Repeat is Timer-Repeat: an ISO 8601 repeating interval. "" if Cron is set.
	Repeat string
	// Zone is Timer-Time-Zone, an IANA name; "" is UTC. A CRON_TZ= prefix
	// naming a different zone is an error (ErrZoneConflict); naming the same
	// zone, or given alone, it is the zone.
	Zone string
	// Start, if not zero, is the first instant an occurrence may have
	// (inclusive), and the anchor of @every and R/duration.
	Start time.Time
	// End, if not zero, is the last instant an occurrence may have (inclusive).
	End time.Time
	// Created is when the timer was made. If not zero, occurrences at or
	// before it are not part of the schedule (they passed before the timer
	// existed), and it anchors @every and R/duration when Start is zero:
	// the first fire is then Created + the interval. The service must
	// persist it: recompiling with the same Spec gives the same schedule.
	Created time.Time
}

// Schedule is a compiled Spec: it answers which instants a recurring timer
// fires at. It is immutable and safe for concurrent use; it holds no clock
// and starts no goroutine.
type Schedule struct {
	loc     *time.Location
	start   time.Time // UTC; zero = none
	end     time.Time
	created time.Time
	cron    *cronSpec // exactly one of cron and seq
	seq     *sequence
	text    string // canonical description, for String
	dialect string // the dialect the cron spec was read in; "" for a repeat
}

// Compile validates s and compiles it. It rejects malformed specs, unknown
// or conflicting zones, cron specs that can never match (ErrImpossible) and
// schedules whose bounds leave no occurrence (ErrNoOccurrence): End before
// the first occurrence, or a repeating interval that ended before Created.
// Every error wraps one of the package's sentinel errors and says why.
func Compile(s Spec) (*Schedule, error) {
	cronText, repeatText := strings.TrimSpace(s.Cron), strings.TrimSpace(s.Repeat)
	switch {
	case cronText == "" && repeatText == "":
		return nil, fmt.Errorf("%w: no schedule; want a cron spec or an ISO 8601 repeating interval", ErrSpec)
	case cronText != "" && repeatText != "":
		return nil, fmt.Errorf("%w: both a cron spec and a repeating interval; want exactly one", ErrSpec)
	}
	dialect, err := ParseDialect(s.Dialect)
	if err != nil {
		return nil, err
	}
	if dialect != "" && repeatText != "" {
		return nil, fmt.Errorf("%w %q: a dialect applies to cron specs; a repeating interval is ISO 8601", ErrDialect, s.Dialect)
	}
	loc, err := LoadZone(strings.TrimSpace(s.Zone))
	if err != nil {
		return nil, err
	}
	sch := &Schedule{loc: loc, start: utcOrZero(s.Start), end: utcOrZero(s.End), created: utcOrZero(s.Created)}
	if !sch.start.IsZero() && !sch.end.IsZero() && sch.end.Before(sch.start) {
		return nil, fmt.Errorf("%w: the end %s is before the start %s", ErrSpec,
			sch.end.Format(time.RFC3339Nano), sch.start.Format(time.RFC3339Nano))
	}
	if cronText != "" {
		err = sch.compileCron(cronText, dialect, strings.TrimSpace(s.Zone) != "")
	} else {
		err = sch.compileRepeat(repeatText)
	}
	if err == nil {
		err = sch.checkNotEmpty()
	}
	if err != nil {
		return nil, err
	}
	return sch, nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// compileCron compiles a Timer-Cron value in the declared dialect ("" if
// none); zoneGiven says Spec.Zone was set.
func (s *Schedule) compileCron(text, dialect string, zoneGiven bool) error {
	ct, err := parseCron(text, dialect)
	if err != nil {
		return err
	}
	s.dialect = DialectStandard
	if ct.zone != "" {
		loc, err := LoadZone(ct.zone)
		if err != nil {
			return err
		}
		if zoneGiven && loc.String() != s.loc.String() {
			return fmt.Errorf("%w: the cron spec says CRON_TZ=%s but the time zone is %s; give one, or the same in both",
				ErrZoneConflict, loc, s.loc)
		}
		s.loc = loc
	}
	if ct.spec == nil {
		q, err := s.anchoredSequence(ct.every, 0, "@every")
		if err != nil {
			return err
		}
		s.seq, s.text = q, fmt.Sprintf("@every %s from %s in %s", ct.every, q.base.Format(time.RFC3339Nano), s.loc)
		return nil
	}
	if !ct.spec.possible() {
		return fmt.Errorf("%w %q: %s", ErrImpossible, text, ct.spec.whyImpossible())
	}
	s.cron, s.dialect = ct.spec, ct.spec.dialect
	s.text = fmt.Sprintf("cron %q in %s", ct.spec.fields, s.loc)
	if s.dialect != DialectStandard {
		s.text = s.dialect + " " + s.text
	}
	return nil
}

// anchoredSequence builds the sequence of @every and R[n]/duration:
// Start + k·p for k >= 0, or Created + k·p for k >= 1; count 0 = unbounded.
func (s *Schedule) anchoredSequence(p Period, count int64, what string) (*sequence, error) {
	var q *sequence
	switch {
	case !s.start.IsZero():
		q = newSequence(s.start.In(s.loc), time.Time{}, p, 0, noLast)
	case !s.created.IsZero():
		q = newSequence(s.created.In(s.loc), time.Time{}, p, 1, noLast)
	default:
		return nil, fmt.Errorf("%w: %s needs an anchor: a start time, or the creation time", ErrSpec, what)
	}
	if count > 0 {
		q.last = q.first + count - 1
	}
	return q, nil
}

// compileRepeat compiles a Timer-Repeat value.
func (s *Schedule) compileRepeat(text string) error {
	r, err := parseRepeat(text, s.loc)
	if err != nil {
		return err
	}
	switch r.form {
	case anchored:
		s.seq, err = s.anchoredSequence(r.period, r.count, "R/"+r.period.String())
	case fromStart:
		s.seq = newSequence(r.start.In(s.loc), r.startWall, r.period, 0, noLast)
		if r.count > 0 {
			s.seq.last = r.count - 1
		}
	case toEnd:
		s.seq = newSequence(r.end.In(s.loc), r.endWall, r.period, noFirst, -1)
		if r.count > 0 {
			s.seq.first = -r.count
		}
	}
	s.text = fmt.Sprintf("repeat %q in %s", text, s.loc)
	return err
}

// checkNotEmpty rejects a schedule whose bounds leave no occurrence. The
// message names what bounded it: the end, the start and creation time, or
// the end of the range (MaxTime), past which nothing exists.
func (s *Schedule) checkNotEmpty() error {
	if !s.bounded() {
		return nil // unbounded below: occurrences before End always exist
	}
	if _, ok := s.First(); ok {
		return nil
	}
	unbounded := *s
	unbounded.end = time.Time{}
	if first, ok := unbounded.First(); ok {
		return fmt.Errorf("%w: the first occurrence, %s, is after the end %s", ErrNoOccurrence,
			first.Format(time.RFC3339Nano), s.end.Format(time.RFC3339Nano))
	}
	last := MaxTime.Format(time.RFC3339Nano)
	if s.seq != nil && s.seq.first != noFirst {
		if first := s.seq.at(s.seq.first); first.After(MaxTime) {
			return fmt.Errorf("%w: the first occurrence, %s, is after %s, the latest time timerd can hold", ErrNoOccurrence,
				first.UTC().Format(time.RFC3339Nano), last)
		}
	}
	var bounds []string
	if !s.start.IsZero() {
		bounds = append(bounds, "at or after the start "+s.start.Format(time.RFC3339Nano))
	}
	if !s.created.IsZero() {
		bounds = append(bounds, "after the creation time "+s.created.Format(time.RFC3339Nano))
	}
	if len(bounds) == 0 {
		return fmt.Errorf("%w: none between %s and %s, the range of times timerd can hold", ErrNoOccurrence,
			MinTime.Format(time.RFC3339Nano), last)
	}
	return fmt.Errorf("%w: none %s and at or before %s, the latest time timerd can hold", ErrNoOccurrence,
		strings.Join(bounds, " and "), last)
}

// bounded reports whether the schedule has a first occurrence: a lower
// bound (Start, Created) or a repeating interval with a first interval.
func (s *Schedule) bounded() bool {
	return !s.start.IsZero() || !s.created.IsZero() || s.seq != nil && s.seq.first != noFirst
}

// Dialect returns the dialect the cron spec was read in (DialectStandard,
// DialectQuartz or DialectEventBridge: never ""), or "" for a repeating
// interval. Persist it with the spec: recompiling the spec in it gives the
// same schedule.
func (s *Schedule) Dialect() string { return s.dialect }

// Location returns the time zone the schedule's wall clock times are in.
func (s *Schedule) Location() *time.Location { return s.loc }

// String describes the schedule, for logs.
func (s *Schedule) String() string { return s.text }

// floor returns the instant occurrences must be strictly after, given that
// the caller wants those after after: after, raised to honour Start
// (inclusive) and Created (exclusive).
func (s *Schedule) floor(after time.Time) time.Time {
	if !s.start.IsZero() {
		if b := s.start.Add(-time.Nanosecond); b.After(after) {
			after = b
		}
	}
	if !s.created.IsZero() && s.created.After(after) {
		after = s.created
	}
	return after
}

// Next returns the first occurrence strictly after after that honours
// Start, End, Created and a repeat count, in UTC; false when none is left.
// Occurrences are nominal times: jitter is added by the caller (Jitter).
func (s *Schedule) Next(after time.Time) (time.Time, bool) {
	from := s.floor(after)
	if from.Before(MinTime) {
		from = MinTime.Add(-time.Nanosecond) // nothing exists before MinTime
	}
	limit := MaxTime
	if !s.end.IsZero() && s.end.Before(limit) {
		limit = s.end
	}
	if !from.Before(limit) {
		return time.Time{}, false
	}
	var t time.Time
	var ok bool
	if s.cron != nil {
		t, ok = s.cron.next(from, s.loc, limit)
	} else {
		t, ok = s.seq.next(from)
	}
	if !ok || t.After(limit) || t.Before(MinTime) || !t.After(after) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// First returns the first occurrence of all: the first at or after Start
// and after Created, or a repeating interval's first one. A schedule with
// no lower bound (a cron spec or R/duration/end, with neither Start nor
// Created) has none and returns false.
func (s *Schedule) First() (time.Time, bool) {
	if !s.bounded() {
		return time.Time{}, false
	}
	return s.Next(MinTime.Add(-time.Nanosecond))
}

// Upcoming returns up to n occurrences strictly after after, in order: a
// preview for clients and tests.
func (s *Schedule) Upcoming(after time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t, ok := s.Next(after)
		if !ok {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}
