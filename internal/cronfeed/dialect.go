package cronfeed

import (
	"fmt"
	"strings"
)

// The cron dialects Spec.Dialect may name. A dialect decides the number of
// fields, what a day-of-week number means and how the two day fields combine;
// the same text can mean different days in two dialects (day-of-week 6 is
// Saturday in standard cron and Friday in Quartz and EventBridge), so timerd
// never guesses one: see Spec.Dialect and docs/semantics.md.
const (
	// DialectStandard is Vixie cron as timerd always read it: 5 fields, or 6
	// with seconds first, descriptors, @every; day-of-week 0-7 with 0 and 7
	// Sunday. It is the dialect of a spec that declares none.
	DialectStandard = "standard"
	// DialectQuartz is Quartz's CronExpression: 6 fields with seconds first,
	// or 7 with a year; day-of-week 1-7 with 1 Sunday; exactly one of the
	// day fields is ?.
	DialectQuartz = "quartz"
	// DialectEventBridge is AWS EventBridge's cron(minutes hours
	// day-of-month month day-of-week year): no seconds, the year required,
	// day-of-week 1-7 with 1 Sunday, exactly one of the day fields ?.
	DialectEventBridge = "eventbridge"
)

// DialectHeader is the request header that declares a Timer-Cron's dialect.
// The package names it in its messages; the service reads it.
const DialectHeader = "Timer-Cron-Dialect"

// ParseDialect checks a Timer-Cron-Dialect value and returns the dialect's
// canonical name: standard, quartz or eventbridge, in any case, trimmed.
// Empty stays empty: a spec that declares no dialect is standard, except
// that the cron(...) wrapper marks it as EventBridge's (which an explicit
// "standard" would contradict). Errors wrap ErrDialect.
func ParseDialect(s string) (string, error) {
	switch name := strings.ToLower(strings.TrimSpace(s)); name {
	case "", DialectStandard, DialectQuartz, DialectEventBridge:
		return name, nil
	}
	return "", fmt.Errorf("%w %q: want standard (the default), quartz or eventbridge", ErrDialect, s)
}

// dialect is what parsing needs to know about one dialect.
type dialect struct {
	name string
	// title names the dialect in messages.
	title string
	// sunday is the number of Sunday in the day-of-week field; the days
	// follow it in order (standard: 0 = Sunday, 6 = Saturday, and 7 is
	// Sunday again; Quartz and EventBridge: 1 = Sunday, 7 = Saturday).
	sunday int
	// dow is the day-of-week field's range in this dialect.
	dow fieldRange
	// forms lists the field layouts, for messages.
	forms string
	// strictDays: exactly one of the day fields must be ?, ? stands alone
	// and only in a day field (Quartz's and AWS's rule). Standard cron
	// takes ? as * anywhere and ORs two restricted day fields (Vixie).
	strictDays bool
	// wrapRanges: a range may wrap around its field (22-2, FRI-MON), as
	// Quartz documents ("overflowing ranges is supported").
	wrapRanges bool
}

var (
	standard = &dialect{
		name: DialectStandard, title: "standard cron", sunday: 0,
		dow:   fieldRange{name: "day-of-week", min: 0, max: 7, last: 6, names: dowNames, dayField: true, accepts: "0-7 (0 and 7 are Sunday) or SUN-SAT"},
		forms: cronForms,
	}
	quartz = &dialect{
		name: DialectQuartz, title: "Quartz", sunday: 1, strictDays: true, wrapRanges: true,
		dow:   fieldRange{name: "day-of-week", min: 1, max: 7, last: 7, names: dowNames, dayField: true, accepts: "1-7 (1 is Sunday) or SUN-SAT"},
		forms: "Quartz specs have 6 fields (second minute hour day-of-month month day-of-week) or 7 with a year",
	}
	eventBridge = &dialect{
		name: DialectEventBridge, title: "EventBridge", sunday: 1, strictDays: true,
		dow:   fieldRange{name: "day-of-week", min: 1, max: 7, last: 7, names: dowNames, dayField: true, accepts: "1-7 (1 is Sunday) or SUN-SAT"},
		forms: "EventBridge specs are cron(minutes hours day-of-month month day-of-week year): 6 fields, the year required (* for every year)",
	}
)

// dialectNamed returns the dialect of a canonical name ("" is standard).
func dialectNamed(name string) *dialect {
	switch name {
	case DialectQuartz:
		return quartz
	case DialectEventBridge:
		return eventBridge
	}
	return standard
}

// declare is the advice that ends a refusal of a spec that looks like
// another dialect's: how to say which one it is.
func declare(name string) string {
	return fmt.Sprintf("declare its dialect with %s: %s", DialectHeader, name)
}
