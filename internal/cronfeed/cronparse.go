package cronfeed

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/robfig/cron/v3"
)

// maxSpecLen bounds the text a spec may have: long enough for any honest
// cron line or repeating interval, short enough that parsing stays cheap.
const maxSpecLen = 512

// cronParser is robfig's parser in the configuration timerd documents: five
// fields, or six with seconds first, plus descriptors. It only ever sees six
// fields here: prefixes, descriptors and Sunday-as-7 are handled before it.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// starBit is the bit robfig sets in a field's mask when the field used * or ?.
const starBit = 1 << 63

// cronText is what parseCron found in a Timer-Cron value.
type cronText struct {
	zone  string    // the CRON_TZ=/TZ= prefix's zone, "" if none
	spec  *cronSpec // a field spec, or nil for @every
	every Period    // the interval of @every
}

// Field names and what each accepts, for error messages.
var fieldInfo = [6]struct{ name, accepts string }{
	{"second", "0-59"},
	{"minute", "0-59"},
	{"hour", "0-23"},
	{"day-of-month", "1-31"},
	{"month", "1-12 or JAN-DEC"},
	{"day-of-week", "0-7 (0 and 7 are Sunday) or SUN-SAT"},
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

// parseCron parses a Timer-Cron value. It never panics, whatever the input:
// robfig/cron v3.0.1 does on "TZ=UTC" alone, so prefixes are taken off here
// and robfig only sees six well-formed fields.
func parseCron(text string) (cronText, error) {
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
	if rest == "" {
		return bad(cronForms)
	}
	fields := strings.Fields(rest)
	if strings.HasPrefix(rest, "@") {
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
		fields = strings.Fields(six)
	}
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return bad(fmt.Sprintf("has %d fields; %s", len(fields), cronForms))
	}
	spec, why := compileFields(fields)
	if why != "" {
		return bad(why)
	}
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

// compileFields checks six fields, lets robfig build the masks, and records
// the star flags. It returns why the fields are wrong, or "".
func compileFields(fields []string) (*cronSpec, string) {
	var err error
	for i, f := range fields {
		if why := checkField(f, i == 4 || i == 5); why != "" {
			return nil, fmt.Sprintf("%s field %q: %s; want %s", fieldInfo[i].name, f, why, fieldInfo[i].accepts)
		}
	}
	if fields[5], err = sundaySeven(fields[5]); err != nil {
		return nil, fmt.Sprintf("day-of-week field %q: %v; want %s", fields[5], err, fieldInfo[5].accepts)
	}
	sched, err := cronParser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, blameField(fields, err)
	}
	s, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, "not a field schedule"
	}
	star := func(f string) bool { return f[0] == '*' || f[0] == '?' }
	return &cronSpec{
		second: s.Second &^ starBit, minute: s.Minute &^ starBit, hour: s.Hour &^ starBit,
		dom: s.Dom &^ starBit, month: s.Month &^ starBit, dow: s.Dow &^ starBit,
		domStar: star(fields[3]), dowStar: star(fields[5]), wildHour: star(fields[2]),
		fields: strings.Join(fields, " "),
	}, ""
}

// blameField finds which field robfig rejected, to name it in the message.
func blameField(fields []string, err error) string {
	probe := []string{"0", "0", "0", "*", "*", "*"}
	for i, f := range fields {
		trial := append([]string(nil), probe...)
		trial[i] = f
		if _, e := cronParser.Parse(strings.Join(trial, " ")); e != nil {
			return fmt.Sprintf("%s field %q: %v; want %s", fieldInfo[i].name, f, e, fieldInfo[i].accepts)
		}
	}
	return err.Error()
}

// checkField enforces the grammar robfig is lenient about: a field is a
// comma-separated list of items "* | ? | v | v-v", each optionally "/step",
// where v is a number (or a name, in month and day-of-week). robfig would
// silently accept "*-5" as "*" and "1,,2" as "1,2".
func checkField(f string, names bool) string {
	for item := range strings.SplitSeq(f, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep && !isDigits(step) {
			return "a step after / must be a positive number"
		}
		if base == "*" || base == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(base, "-")
		if !isValue(lo, names) || isRange && !isValue(hi, names) {
			if item == "" {
				return "empty list item"
			}
			return fmt.Sprintf("%q is not a value, a range a-b, * or ?, each optionally with /step", item)
		}
	}
	return ""
}

func isValue(s string, names bool) bool {
	if isDigits(s) {
		return true
	}
	if !names || len(s) != 3 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) || r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

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

// dowNames are the day-of-week names robfig knows, by number.
var dowNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// sundaySeven rewrites a day-of-week field so that 7 means Sunday, as in
// Vixie cron ("5-7", "7"), which robfig rejects (its range is 0-6).
func sundaySeven(f string) (string, error) {
	if !strings.Contains(f, "7") {
		return f, nil
	}
	items := strings.Split(f, ",")
	for i, item := range items {
		base, step, hasStep := strings.Cut(item, "/")
		lo, hi, isRange := strings.Cut(base, "-")
		if !isRange {
			if lo == "7" {
				if hasStep {
					return "", fmt.Errorf("7/%s would start after Saturday", step)
				}
				items[i] = "0"
			}
			continue
		}
		if hi != "7" {
			continue
		}
		from := dayNumber(lo)
		if from < 0 || from > 7 {
			continue // let robfig report it
		}
		n := 1
		if hasStep {
			fmt.Sscan(step, &n)
		}
		if n < 1 {
			continue
		}
		if from == 7 {
			items[i] = "0"
			continue
		}
		items[i] = lo + "-6"
		if hasStep {
			items[i] += "/" + step
		}
		if (7-from)%n == 0 {
			items[i] += ",0"
		}
	}
	return strings.Join(items, ","), nil
}

// dayNumber is the number of a day-of-week value ("3", "wed"), or -1.
func dayNumber(v string) int {
	if isDigits(v) {
		n := 0
		fmt.Sscan(v, &n)
		return n
	}
	for i, name := range dowNames {
		if strings.EqualFold(v, name) {
			return i
		}
	}
	return -1
}
