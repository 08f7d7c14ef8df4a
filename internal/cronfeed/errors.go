package cronfeed

import "errors"

// The sentinel errors of the package. Every error returned by this package
// wraps exactly one of them (test with errors.Is) and adds a sentence that
// names the offending value and what would be accepted; the service prefixes
// the header name and answers 400.
var (
	// ErrPeriod: an ISO 8601 duration (Timer-In, @every, Timer-Repeat) is malformed.
	ErrPeriod = errors.New("cronfeed: invalid ISO 8601 duration")
	// ErrDelay: a delay is neither a Go duration nor an ISO 8601 duration.
	ErrDelay = errors.New("cronfeed: invalid delay")
	// ErrCron: a cron spec does not parse.
	ErrCron = errors.New("cronfeed: invalid cron spec")
	// ErrRepeat: an ISO 8601 repeating interval does not parse.
	ErrRepeat = errors.New("cronfeed: invalid ISO 8601 repeating interval")
	// ErrDialect: a cron dialect is not standard, quartz or eventbridge, or
	// contradicts the spec (a cron(...) wrapper declared as Quartz).
	ErrDialect = errors.New("cronfeed: invalid cron dialect")
	// ErrZone: a time zone is not a known IANA zone.
	ErrZone = errors.New("cronfeed: unknown time zone")
	// ErrZoneConflict: a CRON_TZ=/TZ= prefix and Spec.Zone name different zones.
	ErrZoneConflict = errors.New("cronfeed: conflicting time zones")
	// ErrImpossible: a cron spec parses but matches no time at all (0 0 30 2 *).
	ErrImpossible = errors.New("cronfeed: impossible schedule")
	// ErrNoOccurrence: the schedule is valid but its bounds leave no
	// occurrence (End before the first one, a repeat that ended before the
	// timer was created).
	ErrNoOccurrence = errors.New("cronfeed: schedule has no occurrence")
	// ErrSpec: the Spec as a whole is inconsistent (no schedule or two, End
	// before Start, @every without an anchor).
	ErrSpec = errors.New("cronfeed: invalid schedule")
	// ErrMisfire: a misfire policy is not skip, once or all.
	ErrMisfire = errors.New("cronfeed: invalid misfire policy")
)
