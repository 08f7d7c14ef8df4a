package cronfeed

import (
	"fmt"
	"strings"
	"unicode"
)

// maxSpecLen bounds the text a spec may have: long enough for any honest
// cron line or repeating interval, short enough that parsing stays cheap.
const maxSpecLen = 512

// cronText is what parseCron found in a Timer-Cron value.
type cronText struct {
	zone  string    // the CRON_TZ=/TZ= prefix's zone, "" if none
	spec  *cronSpec // a field spec, or nil for @every
	every Period    // the interval of @every
}

// descriptors maps each descriptor to its six fields.
var descriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

const cronForms = "want 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, " +
	"or one of @yearly, @monthly, @weekly, @daily, @hourly, @every <duration>, optionally after CRON_TZ=<zone>"

// parseCron parses a Timer-Cron value in the declared dialect ("" if none
// was declared: standard, or EventBridge for the cron(...) wrapper). It
// never panics and does work bounded by the text's length, whatever the
// input.
func parseCron(text, declared string) (cronText, error) {
	bad := func(why string) (cronText, error) {
		return cronText{}, fmt.Errorf("%w %q: %s", ErrCron, text, why)
	}
	if len(text) > maxSpecLen {
		return bad(fmt.Sprintf("too long (at most %d bytes)", maxSpecLen))
	}
	var out cronText
	rest := strings.TrimSpace(text)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if !strings.HasPrefix(rest, prefix) {
			continue
		}
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return bad(prefix + "<zone> must be followed by a space and a schedule, as in " + prefix + "Europe/Berlin 0 9 * * *")
		}
		out.zone, rest = rest[len(prefix):i], strings.TrimSpace(rest[i:])
		if out.zone == "" {
			return bad(prefix + " needs a zone name, as in " + prefix + "Europe/Berlin 0 9 * * *")
		}
		break
	}
	name, rest, why := unwrap(rest, declared)
	switch {
	case why == "conflict":
		return cronText{}, fmt.Errorf("%w %q: cron(...) is EventBridge's form; drop the wrapper, or declare %s",
			ErrDialect, declared, DialectEventBridge)
	case why != "":
		return bad(why)
	}
	d := dialectNamed(name)
	if rest == "" {
		return bad(d.forms)
	}
	if strings.HasPrefix(rest, "@") {
		if d != standard {
			return bad(fmt.Sprintf("descriptors and @every are standard cron, not %s; write the fields", d.title))
		}
		return parseDescriptor(rest, out, bad)
	}
	fields, why := d.layout(strings.Fields(rest))
	if why != "" {
		return bad(why)
	}
	spec, why := compileFields(fields, d)
	if why != "" {
		return bad(why)
	}
	if d == eventBridge {
		spec.fields = "cron(" + strings.Join(fields[1:], " ") + ")"
	}
	out.spec = spec
	return out, nil
}

// unwrap takes off EventBridge's cron(...) wrapper, which says the dialect
// by itself; it returns the dialect's name, the fields, and why the text is
// wrong ("conflict" when another dialect was declared), or "".
func unwrap(rest, declared string) (string, string, string) {
	lower := strings.ToLower(rest)
	switch {
	case strings.HasPrefix(lower, "rate("):
		return "", "", "EventBridge's rate(...) is not a cron spec; write @every with a duration, as in @every 5m"
	case !strings.HasPrefix(lower, "cron("):
		return declared, rest, ""
	case !strings.HasSuffix(rest, ")"):
		return "", "", "cron( needs its closing ), as in cron(0 10 * * ? *)"
	case declared != "" && declared != DialectEventBridge:
		return "", "", "conflict"
	}
	return DialectEventBridge, strings.TrimSpace(rest[len("cron(") : len(rest)-1]), ""
}

// parseDescriptor parses @every and the descriptors (@daily, ...).
func parseDescriptor(rest string, out cronText, bad func(string) (cronText, error)) (cronText, error) {
	fields := strings.Fields(rest)
	name := strings.ToLower(fields[0])
	if name == "@every" {
		if len(fields) != 2 {
			return bad(`want "@every <duration>", such as "@every 90s", "@every 1h30m" or "@every PT1H30M"`)
		}
		p, err := parseInterval(fields[1])
		if err != nil {
			return bad(err.Error())
		}
		out.every = p
		return out, nil
	}
	six, ok := descriptors[name]
	if !ok || len(fields) != 1 {
		return bad(fmt.Sprintf("unknown descriptor %q; %s", rest, cronForms))
	}
	spec, _ := compileFields(strings.Fields(six), standard)
	out.spec = spec
	return out, nil
}

// parseInterval parses the duration of @every: a Go duration or an ISO 8601
// duration, at least MinInterval long.
func parseInterval(s string) (Period, error) {
	p, err := ParseDelay(s)
	if err != nil {
		return Period{}, fmt.Errorf("the interval %q is neither a Go duration such as 90s or 1h30m nor an ISO 8601 duration such as PT90S or P1D", s)
	}
	if !p.atLeast(MinInterval) {
		return Period{}, fmt.Errorf("the interval must be at least %v, not %s", MinInterval, s)
	}
	return p, nil
}

// layout checks the number of fields and returns them seconds first: six,
// or seven with a year. It returns why the count is wrong, or "".
func (d *dialect) layout(fields []string) ([]string, string) {
	n := len(fields)
	switch {
	case d == standard && n == 5, d == eventBridge && n == 6:
		return append([]string{"0"}, fields...), ""
	case d == standard && n == 6, d == quartz && (n == 6 || n == 7):
		return fields, ""
	case d == standard && n == 7:
		return nil, fmt.Sprintf("has 7 fields; %s. Seven fields (seconds first, a year last) are Quartz's: %s", cronForms, declare(DialectQuartz))
	}
	return nil, fmt.Sprintf("has %d fields; %s", n, d.forms)
}

// compileFields parses six fields, seconds first, or seven with a year, in
// dialect d. It returns why they are wrong, or "".
func compileFields(fields []string, d *dialect) (*cronSpec, string) {
	ranges := [...]*fieldRange{&secondField, &minuteField, &hourField, &domField, &monthField, &d.dow}
	var p [6]parsedField
	for i, r := range ranges {
		var why string
		if p[i], why = parseField(fields[i], i, r, d); why != "" {
			return nil, fmt.Sprintf("%s field %q: %s; want %s", r.name, fields[i], why, r.accepts)
		}
	}
	if d.strictDays {
		if why := oneDayField(fields[fDom], fields[fDow], d); why != "" {
			return nil, why
		}
	}
	star := func(f string) bool { return f[0] == '*' || f[0] == '?' }
	c := &cronSpec{
		second: p[fSecond].mask, minute: p[fMinute].mask, hour: p[fHour].mask, month: p[fMonth].mask,
		dom: p[fDom].mask, domItems: p[fDom].dom, dow: p[fDow].mask, dowDays: weekdayDays(p[fDow].mask), dowItems: p[fDow].dow,
		domStar: star(fields[fDom]), dowStar: star(fields[fDow]), wildHour: star(fields[fHour]),
		dialect: d.name, fields: strings.Join(fields, " "),
	}
	if len(fields) > fYear && fields[fYear] != "*" {
		years, why := parseYears(fields[fYear], d)
		if why != "" {
			return nil, fmt.Sprintf("year field %q: %s; want %s", fields[fYear], why, yearField.accepts)
		}
		c.years, c.yearText = years, fields[fYear]
	}
	return c, ""
}

// oneDayField enforces Quartz's and AWS's rule: exactly one of the day
// fields is ?. Quartz: "Support for specifying both a day-of-week and a
// day-of-month value is not complete (you must currently use the '?'
// character in one of these fields)"; AWS: "If you specify a value or a *
// (asterisk) in one of the fields, you must use a ? (question mark) in the
// other."
func oneDayField(dom, dow string, d *dialect) string {
	switch {
	case dom == "?" && dow == "?":
		return fmt.Sprintf("day-of-month and day-of-week are both ?; %s takes exactly one of them, with ? in the other", d.title)
	case dom != "?" && dow != "?":
		return fmt.Sprintf("day-of-month %q and day-of-week %q are both given; %s takes exactly one of them: write ? in the other", dom, dow, d.title)
	}
	return ""
}

// parseYears parses a year field other than *.
func parseYears(f string, d *dialect) (*yearSet, string) {
	years := new(yearSet)
	for item := range strings.SplitSeq(f, ",") {
		s, why := parseSpan(item, &yearField, d)
		if why != "" {
			return nil, why
		}
		years.add(s)
	}
	return years, ""
}
