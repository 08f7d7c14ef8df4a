package cronfeed

import (
	"fmt"
	"strconv"
	"strings"
)

// fieldRange is what one cron field accepts.
type fieldRange struct {
	name     string
	min, max int // a number must lie in [min, max]
	// last is where * and a/step end. It is max except in the standard
	// day-of-week, where 7 is a value (Sunday) but * and 5/1 stop at
	// Saturday, 6, as they did with robfig/cron.
	last int
	// names are the names of the values min, min+1, ... (nil: numbers only).
	names []string
	// linear: a range never wraps around (years); others may in Quartz.
	linear bool
	// dayField: day-of-month or day-of-week, where ? may stand.
	dayField bool
	accepts  string
}

// Field indexes, seconds first; the year, when there is one, is last.
const (
	fSecond = iota
	fMinute
	fHour
	fDom
	fMonth
	fDow
	fYear
)

// The fields other than day-of-week, which belongs to the dialect.
var (
	secondField = fieldRange{name: "second", min: 0, max: 59, last: 59, accepts: "0-59"}
	minuteField = fieldRange{name: "minute", min: 0, max: 59, last: 59, accepts: "0-59"}
	hourField   = fieldRange{name: "hour", min: 0, max: 23, last: 23, accepts: "0-23"}
	domField    = fieldRange{name: "day-of-month", min: 1, max: 31, last: 31, dayField: true,
		accepts: "1-31, or L (the last day), L-n (n days before it), nW (the weekday nearest day n) or LW"}
	monthField = fieldRange{name: "month", min: 1, max: 12, last: 12, names: monthNames, accepts: "1-12 or JAN-DEC"}
	// Years outside firstYear-lastYear parse but never match (see yearSet).
	yearField = fieldRange{name: "year", min: 1970, max: 9999, last: 9999, linear: true,
		accepts: fmt.Sprintf("a year from 1970 (those after %d never occur), a range such as 2030-2035, or *", lastYear)}
)

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	// dowNames are the day names, from Sunday; the dialect numbers them.
	dowNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// span is one list item of a field: the values lo, lo+step, ... up to hi,
// wrapping past max to min when lo > hi (Quartz's overflowing ranges).
type span struct{ lo, hi, step int }

// each calls fn with every value of s, in r's terms.
func (s span) each(r *fieldRange, fn func(int)) {
	hi, size := s.hi, r.max-r.min+1
	if s.lo > hi {
		hi += size
	}
	for v := s.lo; v <= hi; v += s.step {
		fn(r.min + (v-r.min)%size)
	}
}

// parseSpan parses a plain item: *, ?, a value or a range, each optionally
// with /step. It returns why the item is wrong, or "". The grammar is
// robfig/cron's, made strict: robfig silently read "*-5" as "*" and "1,,2"
// as "1,2".
func parseSpan(item string, r *fieldRange, d *dialect) (span, string) {
	base, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, ok := number(stepText)
		if !ok || n < 1 {
			return span{}, "a step after / must be a positive number"
		}
		step = n
	}
	if base == "*" || base == "?" && !d.strictDays && r.dayField {
		return span{r.min, r.last, step}, ""
	}
	loText, hiText, isRange := strings.Cut(base, "-")
	lo, okLo := r.value(loText)
	hi, okHi := r.value(hiText)
	switch {
	case item == "":
		return span{}, "empty list item"
	case base == "?" && d.strictDays:
		return span{}, "? stands alone, and only in day-of-month or day-of-week"
	case base == "?":
		// robfig/cron took ? as * anywhere, though it documents it for the
		// day fields only; elsewhere it is the mark of an EventBridge line
		// without its wrapper (0 10 * * ? *, daily at 10:00), which
		// standard cron would read as every hour at :10.
		return span{}, "? belongs in day-of-month or day-of-week; with ? here this looks like EventBridge's minutes hours day-of-month month day-of-week year: wrap it in cron(...), or " + declare(DialectEventBridge)
	case !okLo || isRange && !okHi:
		return span{}, fmt.Sprintf("%q is not a value, a range a-b, * or ?, each optionally with /step", item)
	}
	if !isRange {
		hi = lo
	}
	switch {
	case lo < r.min || lo > r.max:
		return span{}, fmt.Sprintf("%d is outside %d-%d", lo, r.min, r.max)
	case hi < r.min || hi > r.max:
		return span{}, fmt.Sprintf("%d is outside %d-%d", hi, r.min, r.max)
	case !isRange && !hasStep:
		return span{lo, lo, 1}, ""
	case !isRange:
		if r.max != r.last && lo > r.last { // standard day-of-week 7/2
			return span{}, fmt.Sprintf("%s would start after Saturday", item)
		}
		return span{lo, r.last, step}, ""
	case lo > hi && r.linear:
		return span{}, fmt.Sprintf("%s: start beyond end of the range", base)
	case lo > hi && !d.wrapRanges:
		return span{}, fmt.Sprintf("%s: start beyond end of the range; ranges do not wrap around in %s", base, d.title)
	}
	return span{lo, hi, step}, ""
}

// value parses a number or one of r's names (any case).
func (r *fieldRange) value(s string) (int, bool) {
	if n, ok := number(s); ok {
		return n, true
	}
	for i, name := range r.names {
		if strings.EqualFold(s, name) {
			return r.min + i, true
		}
	}
	return 0, false
}

// number parses up to 9 decimal digits, so that no value overflows.
func number(s string) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// isDigits reports whether s is 1 to 9 decimal digits.
func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsedField is what a field says: plain values as bits (day-of-week: bit
// 0 is Sunday, whatever the dialect's numbers) and the day-of-month and
// day-of-week items that depend on the month.
type parsedField struct {
	mask uint64
	dom  []domItem
	dow  []dowItem
}

// parseField parses a field of r in dialect d; i is its index (fDom, ...).
// It returns why the field is wrong, or "".
func parseField(f string, i int, r *fieldRange, d *dialect) (parsedField, string) {
	var out parsedField
	if d.strictDays && f == "?" && (i == fDom || i == fDow) {
		out.mask = ^uint64(0) // no specific value: every day, left to the other field
		return out, ""
	}
	for item := range strings.SplitSeq(f, ",") {
		if why := out.addSpecial(item, i, d); why != "-" {
			if why != "" && item != f {
				why = item + ": " + why // name the item of a list
			}
			if why != "" {
				return out, why
			}
			continue
		}
		s, why := parseSpan(item, r, d)
		if why != "" {
			return out, why
		}
		s.each(r, func(v int) {
			if i == fDow {
				v = (v - d.sunday + 7) % 7
			}
			out.mask |= 1 << uint(v)
		})
	}
	return out, ""
}

// addSpecial adds item if it is a day-of-month or day-of-week special (L,
// W, #). It returns "-" if item is not one, else why it is wrong, or "".
func (p *parsedField) addSpecial(item string, i int, d *dialect) string {
	up := strings.ToUpper(item)
	switch {
	case i == fDom && (up == "L" || strings.HasPrefix(up, "L-") || strings.HasSuffix(up, "W")):
		it, why := parseDomItem(up)
		p.dom = append(p.dom, it)
		return why
	case i == fDow && up == "L" && d.strictDays:
		// Quartz: "If used in the day-of-week field by itself, it simply
		// means 7 or SAT"; AWS: "the last day of the ... week".
		p.mask |= 1 << 6
		return ""
	case i == fDow && (strings.HasSuffix(up, "L") || strings.Contains(up, "#")):
		it, why := parseDowItem(up, d)
		p.dow = append(p.dow, it)
		return why
	}
	return "-"
}

// parseDomItem parses L, L-n, LW, L-nW and nW (upper case).
func parseDomItem(up string) (domItem, string) {
	rest, weekday := strings.CutSuffix(up, "W")
	it := domItem{weekday: weekday}
	switch {
	case rest == "L":
		it.fromEnd = true
	case strings.HasPrefix(rest, "L-"):
		n, ok := number(rest[2:])
		if !ok || n < 1 || n > 30 {
			return it, "the offset after L- must be 1 to 30"
		}
		it.fromEnd, it.n = true, n
	default:
		n, ok := number(rest)
		if !ok || n < 1 || n > 31 {
			return it, "W follows a day 1-31 or L, as in 15W or LW"
		}
		it.n = n
	}
	return it, ""
}

// parseDowItem parses dL (the last day d of the month) and d#n (the nth
// day d), and refuses L alone in standard cron. In the standard dialect d
// must be a name: a number there would be read with standard numbering,
// and a Quartz line pasted without its dialect (6L, the last Friday) would
// silently run on another day (the last Saturday).
func parseDowItem(up string, d *dialect) (dowItem, string) {
	if up == "L" {
		return dowItem{}, "L alone means Saturday in Quartz and EventBridge; write SAT, or a day and L (FRIL) for the last such day of the month, or " + declare(DialectQuartz)
	}
	dayText, nthText, isNth := strings.Cut(up, "#")
	if !isNth {
		dayText = strings.TrimSuffix(up, "L")
	}
	v, ok := d.dow.value(dayText)
	if !ok || v < d.dow.min || v > d.dow.max {
		return dowItem{}, fmt.Sprintf("%q is not a day", dayText)
	}
	if _, numbered := number(dayText); numbered && !d.strictDays {
		weekday := (v - d.sunday + 7) % 7
		other := "not a day"
		if v >= quartz.dow.min {
			other = strings.ToUpper(dowNames[(v-quartz.sunday+7)%7])
		}
		return dowItem{}, fmt.Sprintf("a numbered day with L or # is read differently by Quartz and EventBridge (%d is %s in standard cron, %s there); write its name, as in %s, or %s",
			v, strings.ToUpper(dowNames[weekday]), other, strings.ToUpper(dowNames[weekday])+up[len(dayText):], declare(DialectQuartz))
	}
	it := dowItem{weekday: (v - d.sunday + 7) % 7}
	if isNth {
		n, ok := number(nthText)
		if !ok || n < 1 || n > 5 {
			return it, "the n of #n must be 1 to 5"
		}
		it.nth = n
	}
	return it, ""
}
