package cronfeed

import (
	"testing"
	"time"
)

const (
	qz = DialectQuartz
	eb = DialectEventBridge
)

// TestEventBridgeExamples: every example of AWS's "Cron expressions
// reference" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html),
// exactly as AWS writes it, without a declared dialect: the cron(...)
// wrapper says EventBridge. The rules quoted there: six required fields
// "cron(Minutes Hours Day-of-month Month Day-of-week Year)"; Day-of-week
// "1-7 or SUN-SAT"; "If you specify a value or a * (asterisk) in one of the
// fields, you must use a ? (question mark) in the other"; "3#2 would be the
// second Tuesday of the month: the 3 refers to Tuesday because it is the
// third day of each week". 2030-05-01 is a Wednesday.
func TestEventBridgeExamples(t *testing.T) {
	runNext(t, []nextCase{
		// "Run at 10:00 am (UTC+0) every day"
		{spec: "cron(0 10 * * ? *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T10:00:00Z", "2030-05-02T10:00:00Z"}},
		// "Run at 12:15 pm (UTC+0) every day"
		{spec: "cron(15 12 * * ? *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T12:15:00Z", "2030-05-02T12:15:00Z"}},
		// "Run at 6:00 pm (UTC+0) every Monday through Friday"
		{spec: "cron(0 18 ? * MON-FRI *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T18:00:00Z", "2030-05-02T18:00:00Z", "2030-05-03T18:00:00Z", "2030-05-06T18:00:00Z"}},
		// "Run at 8:00 am (UTC+0) every 1st day of the month"
		{spec: "cron(0 8 1 * ? *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T08:00:00Z", "2030-06-01T08:00:00Z"}},
		// "Run every 15 minutes"
		{spec: "cron(0/15 * * * ? *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-01T00:15:00Z", "2030-05-01T00:30:00Z", "2030-05-01T00:45:00Z", "2030-05-01T01:00:00Z"}},
		// "Run every 10 minutes Monday through Friday"
		{spec: "cron(0/10 * ? * MON-FRI *)", after: "2030-05-03T23:45:00Z",
			want: []string{"2030-05-03T23:50:00Z", "2030-05-06T00:00:00Z", "2030-05-06T00:10:00Z"}},
		// "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm (UTC+0)"
		{spec: "cron(0/5 8-17 ? * MON-FRI *)", after: "2030-05-03T17:50:00Z",
			want: []string{"2030-05-03T17:55:00Z", "2030-05-06T08:00:00Z", "2030-05-06T08:05:00Z"}},
		// "Run at 9:00 am (UTC+0) on the first Monday of each month"
		{spec: "cron(0 9 ? * 2#1 *)", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-06T09:00:00Z", "2030-06-03T09:00:00Z", "2030-07-01T09:00:00Z"}},
		// The same, declared, without the wrapper, and with a zone.
		{spec: "0 9 ? * 2#1 *", dialect: eb, after: "2030-05-01T00:00:00Z", want: []string{"2030-05-06T09:00:00Z"}},
		{spec: "cron(0 9 ? * 2#1 *)", dialect: eb, zone: berlin, after: "2030-05-01T00:00:00Z", want: []string{"2030-05-06T07:00:00Z"}},
		{spec: "CRON_TZ=Europe/Berlin cron(0 9 ? * MON *)", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-06T07:00:00Z"}},
		// 3#2, AWS's own explanation: the second Tuesday. L alone: Saturday.
		{spec: "cron(0 9 ? * 3#2 *)", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-14T09:00:00Z", "2030-06-11T09:00:00Z"}},
		{spec: "cron(0 9 ? * L *)", after: "2030-05-01T00:00:00Z", want: []string{"2030-05-04T09:00:00Z", "2030-05-11T09:00:00Z"}},
		// The year field, required; * is every year.
		{spec: "cron(0 0 1 1 ? 2031-2032)", after: "2030-05-01T00:00:00Z",
			want: []string{"2031-01-01T00:00:00Z", "2032-01-01T00:00:00Z"}, done: true},
		{spec: "cron(0 12 L * ? 2030)", after: "2030-10-01T00:00:00Z",
			want: []string{"2030-10-31T12:00:00Z", "2030-11-30T12:00:00Z", "2030-12-31T12:00:00Z"}, done: true},
	})
}

// TestQuartzExamples: the examples of Quartz's CronTrigger tutorial
// (https://www.quartz-scheduler.org/documentation/quartz-2.3.0/tutorials/crontrigger.html)
// and of the CronExpression javadoc, declared as Quartz. The rules quoted
// there: "6 or 7 fields", seconds first, the year optional; day of week
// "1-7 or SUN-SAT"; "6L" means "the last friday of the month"; "6#3" means
// "the third Friday of the month"; "L-3 ... the third-to-last day of the
// calendar month" (Quartz computes the last day minus 3: L-2 in May is the
// 29th); "you must currently use the '?' character in one of these fields".
// 2030-05-01 is a Wednesday.
func TestQuartzExamples(t *testing.T) {
	runNext(t, []nextCase{
		// "Fire at 10:15am on the last Friday of every month"
		{spec: "0 15 10 ? * 6L", dialect: qz, after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-31T10:15:00Z", "2030-06-28T10:15:00Z", "2030-07-26T10:15:00Z"}},
		// "Fire at 10:15am on the last day of every month"
		{spec: "0 15 10 L * ?", dialect: qz, after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-31T10:15:00Z", "2030-06-30T10:15:00Z", "2030-07-31T10:15:00Z"}},
		// "Fire at 10:15am on the 2nd-to-last last day of every month"
		{spec: "0 15 10 L-2 * ?", dialect: qz, after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-29T10:15:00Z", "2030-06-28T10:15:00Z", "2030-07-29T10:15:00Z"}},
		// "Fire at 10:15am on the third Friday of every month"
		{spec: "0 15 10 ? * 6#3", dialect: qz, after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-17T10:15:00Z", "2030-06-21T10:15:00Z", "2030-07-19T10:15:00Z"}},
		// "Fire at 12pm (noon) every 5 days every month, starting on the first day of the month."
		{spec: "0 0 12 1/5 * ?", dialect: qz, after: "2030-05-26T12:00:00Z",
			want: []string{"2030-05-31T12:00:00Z", "2030-06-01T12:00:00Z", "2030-06-06T12:00:00Z"}},
		// "Fire at 10:15am every Monday, Tuesday, Wednesday, Thursday and Friday", in 2027 only.
		{spec: "0 15 10 ? * MON-FRI 2027", dialect: qz, after: "2027-12-30T12:00:00Z",
			want: []string{"2027-12-31T10:15:00Z"}, done: true},
		// "Fire at 10:15am on every last friday of every month during the years 2002, 2003, 2004 and 2005"
		{spec: "0 15 10 ? * 6L 2002-2005", dialect: qz, after: "2005-11-01T00:00:00Z",
			want: []string{"2005-11-25T10:15:00Z", "2005-12-30T10:15:00Z"}, done: true},
		// "Fire at 12pm (noon) every day"; "Fire at 10:15am every day" (three spellings).
		{spec: "0 0 12 * * ?", dialect: qz, after: "2030-05-01T12:00:00Z", want: []string{"2030-05-02T12:00:00Z"}},
		{spec: "0 15 10 ? * *", dialect: qz, after: "2030-05-01T12:00:00Z", want: []string{"2030-05-02T10:15:00Z"}},
		{spec: "0 15 10 * * ? *", dialect: qz, after: "2030-05-01T12:00:00Z", want: []string{"2030-05-02T10:15:00Z"}},
		// "Fire at 2:10pm and at 2:44pm every Wednesday in the month of March."
		{spec: "0 10,44 14 ? 3 WED", dialect: qz, after: "2030-03-01T00:00:00Z",
			want: []string{"2030-03-06T14:10:00Z", "2030-03-06T14:44:00Z", "2030-03-13T14:10:00Z"}},
		// "Fire every November 11th at 11:11am."
		{spec: "0 11 11 11 11 ?", dialect: qz, after: "2030-05-01T00:00:00Z", want: []string{"2030-11-11T11:11:00Z", "2031-11-11T11:11:00Z"}},
		// "Overflowing ranges is supported": 22-2 is 22, 23, 0, 1, 2; FRI-MON wraps too.
		{spec: "0 0 22-2 * * ?", dialect: qz, after: "2030-05-01T12:00:00Z",
			want: []string{"2030-05-01T22:00:00Z", "2030-05-01T23:00:00Z", "2030-05-02T00:00:00Z", "2030-05-02T01:00:00Z", "2030-05-02T02:00:00Z", "2030-05-02T22:00:00Z"}},
		{spec: "0 0 12 ? * FRI-MON", dialect: qz, after: "2030-05-01T12:00:00Z",
			want: []string{"2030-05-03T12:00:00Z", "2030-05-04T12:00:00Z", "2030-05-05T12:00:00Z", "2030-05-06T12:00:00Z", "2030-05-10T12:00:00Z"}},
		// L alone in day-of-week "simply means 7 or SAT".
		{spec: "0 0 12 ? * L", dialect: qz, after: "2030-05-01T12:00:00Z", want: []string{"2030-05-04T12:00:00Z"}},
	})
}

// TestDialectNumbering: the same day-of-week number is another day in
// another dialect, and names are the same in all. 2030-05-01 is a Wednesday.
func TestDialectNumbering(t *testing.T) {
	const after = "2030-05-01T12:00:00Z"
	runNext(t, []nextCase{
		{spec: "0 9 * * 2", after: after, want: []string{"2030-05-07T09:00:00Z"}},                // standard: Tuesday
		{spec: "0 0 9 ? * 2", dialect: qz, after: after, want: []string{"2030-05-06T09:00:00Z"}}, // Quartz: Monday
		{spec: "cron(0 9 ? * 2 *)", after: after, want: []string{"2030-05-06T09:00:00Z"}},        // EventBridge: Monday
		{spec: "0 9 * * 1", after: after, want: []string{"2030-05-06T09:00:00Z"}},                // standard: Monday
		{spec: "0 0 9 ? * 1", dialect: qz, after: after, want: []string{"2030-05-05T09:00:00Z"}}, // Quartz: Sunday
		{spec: "0 9 * * 7", after: after, want: []string{"2030-05-05T09:00:00Z"}},                // standard: Sunday
		{spec: "0 0 9 ? * 7", dialect: qz, after: after, want: []string{"2030-05-04T09:00:00Z"}}, // Quartz: Saturday
		{spec: "cron(0 9 ? * 7 *)", after: after, want: []string{"2030-05-04T09:00:00Z"}},        // EventBridge: Saturday
		{spec: "0 9 * * 1-5", after: "2030-05-03T12:00:00Z", want: []string{"2030-05-06T09:00:00Z"}},
		{spec: "0 0 9 ? * 2-6", dialect: qz, after: "2030-05-03T12:00:00Z", want: []string{"2030-05-06T09:00:00Z"}},
		// Names: one meaning everywhere. The third Friday, three ways.
		{spec: "0 9 * * FRI#3", after: after, want: []string{"2030-05-17T09:00:00Z"}},
		{spec: "0 0 9 ? * FRI#3", dialect: qz, after: after, want: []string{"2030-05-17T09:00:00Z"}},
		{spec: "cron(0 9 ? * 6#3 *)", after: after, want: []string{"2030-05-17T09:00:00Z"}},
		{spec: "0 9 * * friL", after: after, want: []string{"2030-05-31T09:00:00Z"}},
		{spec: "0 0 9 ? * 6l", dialect: qz, after: after, want: []string{"2030-05-31T09:00:00Z"}},
		// An explicit standard reads what "" reads.
		{spec: "0 9 * * 2", dialect: DialectStandard, after: after, want: []string{"2030-05-07T09:00:00Z"}},
		{spec: "0 9 * * 2", dialect: " Standard ", after: after, want: []string{"2030-05-07T09:00:00Z"}},
	})
}

func TestDialectErrors(t *testing.T) {
	runErr(t, []errCase{
		// A dialect is standard, quartz or eventbridge.
		{Spec{Cron: "0 9 * * *", Dialect: "cronie"}, ErrDialect, []string{`"cronie"`, "standard (the default), quartz or eventbridge"}},
		{Spec{Repeat: "R/PT1H", Dialect: qz, Created: time.Unix(0, 0)}, ErrDialect, []string{"repeating interval"}},
		{Spec{Cron: "cron(0 10 * * ? *)", Dialect: qz}, ErrDialect, []string{"EventBridge's", "quartz"}},
		{Spec{Cron: "cron(0 10 * * ? *)", Dialect: DialectStandard}, ErrDialect, []string{"EventBridge's"}},
		// Quartz-only shapes without a declared dialect: never guessed.
		{Spec{Cron: "0 15 10 ? * 6L 2027"}, ErrCron, []string{"has 7 fields", "Timer-Cron-Dialect: quartz"}},
		{Spec{Cron: "0 15 10 ? * 6L"}, ErrCron, []string{`"6L"`, "6 is SAT in standard cron, FRI there", "SATL", "Timer-Cron-Dialect: quartz"}},
		{Spec{Cron: "0 15 10 ? * 6#3"}, ErrCron, []string{`"6#3"`, "SAT#3", "Timer-Cron-Dialect: quartz"}},
		{Spec{Cron: "0 0 12 * * 0L"}, ErrCron, []string{"0 is SUN in standard cron, not a day there", "SUNL"}},
		{Spec{Cron: "0 0 12 ? * L"}, ErrCron, []string{"L alone means Saturday", "Timer-Cron-Dialect: quartz"}},
		// An EventBridge line without its wrapper is no standard cron: ? outside
		// the day fields (robfig took it as *: every hour at :10, every hour
		// in February).
		{Spec{Cron: "0 10 * * ? *"}, ErrCron, []string{`month field "?"`, "wrap it in cron(...)", "Timer-Cron-Dialect: eventbridge"}},
		{Spec{Cron: "0 12 ? * 2 *"}, ErrCron, []string{`hour field "?"`, "EventBridge"}},
		// Both day fields, or neither: Quartz and AWS take exactly one.
		{Spec{Cron: "0 0 12 15 * MON", Dialect: qz}, ErrCron, []string{`day-of-month "15" and day-of-week "MON" are both given`, "write ? in the other"}},
		{Spec{Cron: "0 0 12 * * *", Dialect: qz}, ErrCron, []string{"both given"}},
		{Spec{Cron: "0 0 12 ? * ?", Dialect: qz}, ErrCron, []string{"both ?"}},
		{Spec{Cron: "cron(0 12 ? * ? *)"}, ErrCron, []string{"both ?", "EventBridge"}},
		{Spec{Cron: "cron(0 12 1 * MON *)"}, ErrCron, []string{"both given"}},
		{Spec{Cron: "cron(0 12 * * * *)"}, ErrCron, []string{"both given"}},
		// Field counts.
		{Spec{Cron: "cron(0 12 * * ?)"}, ErrCron, []string{"has 5 fields", "the year required"}},
		{Spec{Cron: "cron(0 0 12 * * ? *)"}, ErrCron, []string{"has 7 fields", "EventBridge"}},
		{Spec{Cron: "0 12 * * ?", Dialect: qz}, ErrCron, []string{"has 5 fields", "Quartz specs have 6 fields"}},
		{Spec{Cron: "0 0 12 * * ? * *", Dialect: qz}, ErrCron, []string{"has 8 fields"}},
		{Spec{Cron: "cron()"}, ErrCron, []string{"EventBridge specs are cron("}},
		{Spec{Cron: "cron(0 10 * * ? *"}, ErrCron, []string{"closing )"}},
		{Spec{Cron: "rate(5 minutes)"}, ErrCron, []string{"rate(", "@every 5m"}},
		// ? only alone, in a day field, in Quartz and EventBridge.
		{Spec{Cron: "cron(? 10 * * ? *)"}, ErrCron, []string{`minute field "?"`, "? stands alone"}},
		{Spec{Cron: "0 0 12 ?,1 * MON", Dialect: qz}, ErrCron, []string{"? stands alone"}},
		// Numbers, ranges and names in the dialect's terms.
		{Spec{Cron: "0 0 12 ? * 0", Dialect: qz}, ErrCron, []string{`day-of-week field "0"`, "1-7 (1 is Sunday)"}},
		{Spec{Cron: "cron(0 12 ? * 8 *)"}, ErrCron, []string{"8 is outside 1-7"}},
		{Spec{Cron: "0 0 12 ? * 0#2", Dialect: qz}, ErrCron, []string{`"0" is not a day`}},
		{Spec{Cron: "cron(0 22-2 * * ? *)"}, ErrCron, []string{"start beyond end", "EventBridge"}},
		{Spec{Cron: "0 22-2 * * *"}, ErrCron, []string{"start beyond end", "standard cron"}},
		{Spec{Cron: "0 0 12 ? * MON 2031-2030", Dialect: qz}, ErrCron, []string{`year field "2031-2030"`, "start beyond end"}},
		{Spec{Cron: "cron(0 12 * * ? 1969)"}, ErrCron, []string{"1969 is outside 1970-9999"}},
		{Spec{Cron: "cron(0 12 * * ? 20x0)"}, ErrCron, []string{`year field "20x0"`}},
		// Descriptors and @every belong to standard cron.
		{Spec{Cron: "@daily", Dialect: qz}, ErrCron, []string{"descriptors and @every are standard cron, not Quartz"}},
		{Spec{Cron: "@every 1h", Dialect: eb, Created: time.Unix(0, 0)}, ErrCron, []string{"not EventBridge"}},
	})
}

func TestParseDialect(t *testing.T) {
	for in, want := range map[string]string{
		"": "", " ": "", "standard": DialectStandard, "Quartz": DialectQuartz, " EVENTBRIDGE ": DialectEventBridge,
	} {
		if got, err := ParseDialect(in); err != nil || got != want {
			t.Errorf("ParseDialect(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"aws", "vixie", "quartz2", "cron"} {
		if got, err := ParseDialect(in); err == nil {
			t.Errorf("ParseDialect(%q) = %q, want an error", in, got)
		}
	}
}

// TestScheduleDialect: what the service must persist beside the spec.
func TestScheduleDialect(t *testing.T) {
	for _, c := range []struct{ spec, dialect, want string }{
		{"0 9 * * *", "", DialectStandard},
		{"@every 1h", "", DialectStandard},
		{"cron(0 9 ? * 2#1 *)", "", DialectEventBridge},
		{"0 0 9 ? * 6#3", "QUARTZ", DialectQuartz},
	} {
		s, err := Compile(Spec{Cron: c.spec, Dialect: c.dialect, Created: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() != c.want {
			t.Errorf("%q (%q): Dialect() = %q, want %q", c.spec, c.dialect, s.Dialect(), c.want)
		}
		again, err := Compile(Spec{Cron: c.spec, Dialect: s.Dialect(), Created: time.Unix(0, 0)})
		if err != nil || again.String() != s.String() {
			t.Errorf("%q recompiled in %q: %v, %v; want %v", c.spec, s.Dialect(), again, err, s)
		}
	}
	s, _ := Compile(Spec{Repeat: "R/PT1H", Created: time.Unix(0, 0)})
	if s.Dialect() != "" {
		t.Errorf("repeat: Dialect() = %q, want \"\"", s.Dialect())
	}
}
