package cronfeed

import (
	"testing"
	"time"
)

// Tables for L, W and #, following the Quartz CronExpression javadoc
// (https://www.quartz-scheduler.org/api/2.3.0/org/quartz/CronExpression.html)
// and the CronTrigger tutorial, which AWS's "Cron expressions reference"
// repeats for EventBridge:
//
//   - "the value "L" in the day-of-month field means "the last day of the
//     month" - day 31 for January, day 28 for February on non-leap years";
//   - "if you were to specify "15W" as the value for the day-of-month field,
//     the meaning is: "the nearest weekday to the 15th of the month". So if
//     the 15th is a Saturday, the trigger will fire on Friday the 14th. If
//     the 15th is a Sunday, the trigger will fire on Monday the 16th. ...
//     However if you specify "1W" as the value for day-of-month, and the 1st
//     is a Saturday, the trigger will fire on Monday the 3rd, as it will not
//     'jump' over the boundary of a month's days";
//   - "'LW' ... translates to "last weekday of the month"";
//   - "Note that if you specify "#5" and there is not 5 of the given
//     day-of-week in the month, then no firing will occur that month".
//
// Weekdays: 2030-06-01 Sat, 2030-09-01 Sun, 2030-03-31 Sun, 2030-08-31 Sat,
// 2030-11-30 Sat, 2030-06-15 Sat, 2030-09-15 Sun, 2030-01-01 Tue.

func TestLastDayOfMonth(t *testing.T) {
	runNext(t, []nextCase{
		// February: 29 days in 2028, 28 in 2027, and 28 in 2100 (divisible by
		// 100, not by 400: not a leap year).
		{spec: "0 0 12 L 2 ?", dialect: qz, after: "2027-01-01T00:00:00Z",
			want: []string{"2027-02-28T12:00:00Z", "2028-02-29T12:00:00Z", "2029-02-28T12:00:00Z"}},
		{spec: "0 0 12 L 2 ?", dialect: qz, after: "2099-03-01T00:00:00Z",
			want: []string{"2100-02-28T12:00:00Z", "2101-02-28T12:00:00Z"}},
		{spec: "cron(0 12 L 2 ? *)", after: "2099-03-01T00:00:00Z", want: []string{"2100-02-28T12:00:00Z"}},
		{spec: "0 12 L 2 *", after: "2027-01-01T00:00:00Z", want: []string{"2027-02-28T12:00:00Z", "2028-02-29T12:00:00Z"}},
		{spec: "0 12 L * *", after: "2028-01-31T12:00:00Z",
			want: []string{"2028-02-29T12:00:00Z", "2028-03-31T12:00:00Z", "2028-04-30T12:00:00Z"}},
		// L-n: n days before the last (Quartz computes last - n).
		{spec: "0 0 12 L-1 2 ?", dialect: qz, after: "2027-01-01T00:00:00Z",
			want: []string{"2027-02-27T12:00:00Z", "2028-02-28T12:00:00Z", "2029-02-27T12:00:00Z"}},
		{spec: "0 0 12 L-30 * ?", dialect: qz, after: "2030-01-01T12:00:00Z", // the 1st of 31-day months only
			want: []string{"2030-03-01T12:00:00Z", "2030-05-01T12:00:00Z"}},
		// Lists are unions: the 1st, the 15th and the last day.
		{spec: "0 12 1,15,L * *", after: "2030-02-01T12:00:00Z",
			want: []string{"2030-02-15T12:00:00Z", "2030-02-28T12:00:00Z", "2030-03-01T12:00:00Z"}},
		// Standard cron: with a restricted day-of-week, either matches (Vixie).
		{spec: "0 12 L * MON", after: "2030-06-25T00:00:00Z",
			want: []string{"2030-06-30T12:00:00Z", "2030-07-01T12:00:00Z", "2030-07-08T12:00:00Z"}},
	})
}

func TestNearestWeekday(t *testing.T) {
	runNext(t, []nextCase{
		// 1W: Saturday the 1st moves to Monday the 3rd, never to the month before;
		// Sunday the 1st to Monday the 2nd.
		{spec: "0 0 9 1W * ?", dialect: qz, after: "2030-05-15T00:00:00Z",
			want: []string{"2030-06-03T09:00:00Z", "2030-07-01T09:00:00Z", "2030-08-01T09:00:00Z", "2030-09-02T09:00:00Z"}},
		// 31W: Sunday the 31st moves to Friday the 29th, never to the month
		// after; Saturday the 31st to Friday the 30th; no day 31, no fire.
		{spec: "0 0 9 31W * ?", dialect: qz, after: "2030-03-01T00:00:00Z",
			want: []string{"2030-03-29T09:00:00Z", "2030-05-31T09:00:00Z", "2030-07-31T09:00:00Z",
				"2030-08-30T09:00:00Z", "2030-10-31T09:00:00Z", "2030-12-31T09:00:00Z"}},
		// 15W on a weekend: Saturday to Friday the 14th, Sunday to Monday the 16th.
		{spec: "0 0 9 15W * ?", dialect: qz, after: "2030-06-01T00:00:00Z",
			want: []string{"2030-06-14T09:00:00Z", "2030-07-15T09:00:00Z", "2030-08-15T09:00:00Z", "2030-09-16T09:00:00Z"}},
		// LW: the last weekday.
		{spec: "0 0 18 LW * ?", dialect: qz, after: "2030-08-01T00:00:00Z",
			want: []string{"2030-08-30T18:00:00Z", "2030-09-30T18:00:00Z", "2030-10-31T18:00:00Z", "2030-11-29T18:00:00Z", "2030-12-31T18:00:00Z"}},
		{spec: "cron(0 18 LW * ? *)", after: "2030-03-01T00:00:00Z", want: []string{"2030-03-29T18:00:00Z"}},
		// W means the same in standard cron.
		{spec: "0 9 15W * *", after: "2030-09-01T00:00:00Z", want: []string{"2030-09-16T09:00:00Z"}},
		// 30W in February: day 30 does not exist, so nothing that month.
		{spec: "0 0 9 30W * ?", dialect: qz, after: "2030-01-31T00:00:00Z",
			want: []string{"2030-03-29T09:00:00Z", "2030-04-30T09:00:00Z"}},
	})
}

func TestNthWeekday(t *testing.T) {
	runNext(t, []nextCase{
		// The fifth Wednesday: January and May 2030 have one; February to
		// April have four, so nothing fires in them.
		{spec: "0 0 9 ? * 4#5", dialect: qz, after: "2030-01-01T00:00:00Z",
			want: []string{"2030-01-30T09:00:00Z", "2030-05-29T09:00:00Z"}},
		{spec: "0 9 * * WED#5", after: "2030-01-01T00:00:00Z",
			want: []string{"2030-01-30T09:00:00Z", "2030-05-29T09:00:00Z"}},
		{spec: "cron(0 9 ? * WED#5 *)", after: "2030-01-01T00:00:00Z", want: []string{"2030-01-30T09:00:00Z"}},
		// A fifth Friday in February needs a leap year whose February starts
		// on a Friday: 2036 and 2064 (and 2008 before).
		{spec: "0 0 0 ? 2 6#5", dialect: qz, after: "2030-01-01T00:00:00Z",
			want: []string{"2036-02-29T00:00:00Z", "2064-02-29T00:00:00Z"}},
		// The first and last such weekday, and a list of them.
		{spec: "0 9 * * MON#1,FRIL", after: "2030-05-01T00:00:00Z",
			want: []string{"2030-05-06T09:00:00Z", "2030-05-31T09:00:00Z", "2030-06-03T09:00:00Z", "2030-06-28T09:00:00Z"}},
		// Standard cron: the 1st or the third Friday (Vixie), the 1st and a Friday.
		{spec: "0 9 1 * FRI#3", after: "2030-05-01T12:00:00Z",
			want: []string{"2030-05-17T09:00:00Z", "2030-06-01T09:00:00Z", "2030-06-21T09:00:00Z"}},
		{spec: "0 9 */7 * FRIL", after: "2030-05-01T12:00:00Z", // star-led: AND, the 29th is a last Friday
			want: []string{"2030-11-29T09:00:00Z"}},
	})
}

func TestYearField(t *testing.T) {
	runNext(t, []nextCase{
		{spec: "0 0 0 1 1 ? 2031,2033,2035-2036", dialect: qz, after: "2030-01-01T00:00:00Z",
			want: []string{"2031-01-01T00:00:00Z", "2033-01-01T00:00:00Z", "2035-01-01T00:00:00Z", "2036-01-01T00:00:00Z"}, done: true},
		{spec: "0 0 0 1 1 ? 2030/100", dialect: qz, after: "2000-01-01T00:00:00Z", // 2030, 2130, 2230; 2330 never occurs
			want: []string{"2030-01-01T00:00:00Z", "2130-01-01T00:00:00Z", "2230-01-01T00:00:00Z"}, done: true},
		{spec: "cron(0 0 1 1 ? */100)", after: "1969-01-01T00:00:00Z", // 1970, 2070, 2170 (a * year starts at 1970)
			want: []string{"1970-01-01T00:00:00Z", "2070-01-01T00:00:00Z", "2170-01-01T00:00:00Z"}, done: true},
		{spec: "cron(0 0 1 1 ? 2250-9999)", after: "2261-06-01T00:00:00Z", want: []string{"2262-01-01T00:00:00Z"}, done: true},
		// Bounds still apply.
		{spec: "cron(0 0 1 * ? 2030)", start: "2030-11-15T00:00:00Z", after: "2029-01-01T00:00:00Z",
			want: []string{"2030-12-01T00:00:00Z"}, done: true},
	})
}

// TestDaysAcrossDST: L, LW, dL and d#n keep the DST rules of
// docs/semantics.md. Europe/Berlin changes on the last Sunday of March and
// of October (2030-03-31, the last day of March, 02:00 CET -> 03:00 CEST;
// 2027-10-31, the last day of October, 03:00 CEST -> 02:00 CET;
// 2030-10-27). America/New_York changes on the second Sunday of March and
// the first Sunday of November (2030-03-10, 02:00 EST -> 03:00 EDT;
// 2030-11-03, 02:00 EDT -> 01:00 EST).
func TestDaysAcrossDST(t *testing.T) {
	runNext(t, []nextCase{
		// L on the spring-forward day: 02:30 does not exist, fire at 03:00 CEST.
		{spec: "0 30 2 L * ?", dialect: qz, zone: berlin, after: "2030-03-01T00:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-30T02:30:00+02:00"}},
		{spec: "30 2 L * *", zone: berlin, after: "2030-03-01T00:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-30T02:30:00+02:00"}},
		// L on the fall-back day: 02:30 occurs twice, fire at the first.
		{spec: "0 30 2 L * ?", dialect: qz, zone: berlin, after: "2027-10-01T00:00:00+02:00",
			want: []string{"2027-10-31T02:30:00+02:00", "2027-11-30T02:30:00+01:00"}},
		{spec: "0 30 2 L * ?", dialect: qz, zone: berlin, after: "2027-10-31T02:30:00+02:00",
			want: []string{"2027-11-30T02:30:00+01:00"}},
		// A wildcard hour on L follows real time: both 02:30s, none skipped.
		{spec: "0 30 * L * ?", dialect: qz, zone: berlin, after: "2027-10-31T01:00:00+02:00",
			want: []string{"2027-10-31T01:30:00+02:00", "2027-10-31T02:30:00+02:00", "2027-10-31T02:30:00+01:00", "2027-10-31T03:30:00+01:00"}},
		{spec: "0 30 * L * ?", dialect: qz, zone: berlin, after: "2030-03-31T01:00:00+01:00",
			want: []string{"2030-03-31T01:30:00+01:00", "2030-03-31T03:30:00+02:00"}},
		// The last Sunday is Berlin's DST day: 1L (Quartz), SUNL (standard), 1L (EventBridge).
		{spec: "0 0 2 ? * 1L", dialect: qz, zone: berlin, after: "2030-03-01T00:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-28T02:00:00+02:00"}},
		{spec: "0 2 * * SUNL", zone: berlin, after: "2030-03-01T00:00:00+01:00",
			want: []string{"2030-03-31T03:00:00+02:00", "2030-04-28T02:00:00+02:00"}},
		{spec: "cron(30 2 ? * 1L *)", zone: berlin, after: "2030-10-01T00:00:00+02:00",
			want: []string{"2030-10-27T02:30:00+02:00", "2030-11-24T02:30:00+01:00"}},
		// The last Friday (6L, FRIL) keeps 09:00 on the wall clock across the change.
		{spec: "0 0 9 ? * 6L", dialect: qz, zone: berlin, after: "2030-02-01T00:00:00+01:00",
			want: []string{"2030-02-22T09:00:00+01:00", "2030-03-29T09:00:00+01:00", "2030-04-26T09:00:00+02:00"}},
		{spec: "0 9 * * FRIL", zone: ny, after: "2030-02-01T00:00:00-05:00",
			want: []string{"2030-02-22T09:00:00-05:00", "2030-03-29T09:00:00-04:00"}},
		{spec: "0 0 9 ? * 6L", dialect: qz, zone: ny, after: "2030-10-01T00:00:00-04:00",
			want: []string{"2030-10-25T09:00:00-04:00", "2030-11-29T09:00:00-05:00"}},
		// The second Sunday of March is New York's spring-forward day, the
		// first Sunday of November its fall-back day.
		{spec: "0 30 2 ? * 1#2", dialect: qz, zone: ny, after: "2030-03-01T00:00:00-05:00",
			want: []string{"2030-03-10T03:00:00-04:00", "2030-04-14T02:30:00-04:00"}},
		{spec: "0 30 1 ? * 1#1", dialect: qz, zone: ny, after: "2030-10-15T00:00:00-04:00",
			want: []string{"2030-11-03T01:30:00-04:00", "2030-12-01T01:30:00-05:00"}},
		{spec: "cron(0/30 * ? 11 1#1 2030)", zone: ny, after: "2030-11-03T00:40:00-04:00",
			want: []string{"2030-11-03T01:00:00-04:00", "2030-11-03T01:30:00-04:00", "2030-11-03T01:00:00-05:00", "2030-11-03T01:30:00-05:00", "2030-11-03T02:00:00-05:00"}},
		// LW and L in New York across the spring change.
		{spec: "0 0 17 LW * ?", dialect: qz, zone: ny, after: "2030-02-01T00:00:00-05:00",
			want: []string{"2030-02-28T17:00:00-05:00", "2030-03-29T17:00:00-04:00"}},
	})
}

func TestDaysImpossible(t *testing.T) {
	runErr(t, []errCase{
		{Spec{Cron: "cron(0 0 1 1 ? 2300)"}, ErrImpossible, []string{`year field "2300"`, "no year from 1970 to 2262"}},
		{Spec{Cron: "0 0 0 1 1 ? 1975-1971,2263-2299", Dialect: qz}, ErrCron, []string{"start beyond end"}},
		{Spec{Cron: "0 0 0 1 1 ? 2263-2299", Dialect: qz}, ErrImpossible, []string{"no year from 1970 to 2262"}},
		{Spec{Cron: "0 0 0 30W 2 ?", Dialect: qz}, ErrImpossible, []string{`"0 0 0 30W 2 ?"`, "day 30 never occurs in February"}},
		{Spec{Cron: "0 0 0 L-29 2 ?", Dialect: qz}, ErrImpossible, []string{"L-29 never occurs in February"}},
		{Spec{Cron: "0 0 31W 4,6 *"}, ErrImpossible, []string{"day 31 never occurs in April, June"}},
		{Spec{Cron: "0 0 0 ? 2 6#5 2030-2035", Dialect: qz}, ErrImpossible, []string{`no date in the years "2030-2035"`}},
		{Spec{Cron: "cron(0 0 29 2 ? 2027)"}, ErrImpossible, []string{`no date in the years "2027"`}},
		// Standard cron, star-led day-of-month: days 1 and 17 AND the second
		// Friday (the 8th to the 14th).
		{Spec{Cron: "0 0 */16 * FRI#2"}, ErrImpossible, []string{"no date matches"}},
	})
	// Possible, if rarely: not refused. (Days 1, 8, 15, 22, 29 and the last
	// Friday of February meet on February 22 when February 1 is a Friday in a
	// common year: 2030.)
	for _, spec := range []Spec{
		{Cron: "0 0 0 ? 2 6#5", Dialect: qz},
		{Cron: "cron(0 0 29 2 ? 2027-2028)"}, // 2028 is a leap year
		{Cron: "0 0 0 L-27 2 ?", Dialect: qz},
		{Cron: "0 0 */7 2 FRIL"},
	} {
		spec.Created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := Compile(spec); err != nil {
			t.Errorf("Compile(%+v): %v", spec, err)
		}
	}
}
