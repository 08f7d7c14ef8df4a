package cronfeed_test

import (
	"fmt"
	"time"

	"github.com/timerd/timerd/internal/cronfeed"
)

func ExampleCompile() {
	s, err := cronfeed.Compile(cronfeed.Spec{
		Cron:    "30 2 * * *", // 02:30 every day, New York time
		Zone:    "America/New_York",
		Created: time.Date(2030, 3, 8, 12, 0, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	next, _ := s.First()
	for range 3 {
		fmt.Println(next.In(s.Location()))
		next, _ = s.Next(next)
	}
	// Output:
	// 2030-03-09 02:30:00 -0500 EST
	// 2030-03-10 03:00:00 -0400 EDT
	// 2030-03-11 02:30:00 -0400 EDT
}

func ExampleCompile_impossible() {
	_, err := cronfeed.Compile(cronfeed.Spec{Cron: "0 0 30 2 *"})
	fmt.Println(err)
	// Output:
	// cronfeed: impossible schedule "0 0 30 2 *": day 30 never occurs in February
}

// The same day-of-week number is another day in another dialect, so the
// dialect is declared (or, for EventBridge, said by the cron(...) wrapper).
func ExampleCompile_dialects() {
	after := time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC) // a Wednesday
	for _, spec := range []cronfeed.Spec{
		{Cron: "0 9 * * 2"}, // standard: Tuesday
		{Cron: "0 0 9 ? * 2", Dialect: cronfeed.DialectQuartz},    // Quartz: Monday
		{Cron: "cron(0 9 ? * 2#1 *)"},                             // EventBridge: the first Monday
		{Cron: "0 15 10 ? * 6L", Dialect: cronfeed.DialectQuartz}, // the last Friday
		{Cron: "0 15 10 ? * 6L"},                                  // undeclared: refused, not guessed
	} {
		s, err := cronfeed.Compile(spec)
		if err != nil {
			fmt.Println(err)
			continue
		}
		next, _ := s.Next(after)
		fmt.Printf("%-11s %s\n", s.Dialect(), next.Format("Mon Jan 2 15:04"))
	}
	// Output:
	// standard    Tue May 7 09:00
	// quartz      Mon May 6 09:00
	// eventbridge Mon May 6 09:00
	// quartz      Fri May 31 10:15
	// cronfeed: invalid cron spec "0 15 10 ? * 6L": day-of-week field "6L": a numbered day with L or # is read differently by Quartz and EventBridge (6 is SAT in standard cron, FRI there); write its name, as in SATL, or declare its dialect with Timer-Cron-Dialect: quartz; want 0-7 (0 and 7 are Sunday) or SUN-SAT
}

func ExampleCompile_repeat() {
	s, _ := cronfeed.Compile(cronfeed.Spec{Repeat: "R5/P1D/2030-01-10T00:00:00Z"})
	first, _ := s.First()
	for _, t := range append([]time.Time{first}, s.Upcoming(first, 10)...) {
		fmt.Println(t.Format(time.DateOnly))
	}
	// Output:
	// 2030-01-05
	// 2030-01-06
	// 2030-01-07
	// 2030-01-08
	// 2030-01-09
}

func ExampleSchedule_Due() {
	s, _ := cronfeed.Compile(cronfeed.Spec{Cron: "@hourly", Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	lastFired := time.Date(2030, 1, 1, 3, 0, 0, 0, time.UTC)
	now := time.Date(2030, 1, 1, 7, 30, 0, 0, time.UTC) // back after four and a half hours
	for _, policy := range []cronfeed.Misfire{cronfeed.MisfireSkip, cronfeed.MisfireOnce, cronfeed.MisfireAll} {
		fire, next, _ := s.Due(lastFired, now, policy, 100)
		fmt.Printf("%-4s fire %d, last %s, then %s\n", policy, len(fire), last(fire), next.Format("15:04"))
	}
	// Output:
	// skip fire 0, last -, then 08:00
	// once fire 1, last 07:00, then 08:00
	// all  fire 4, last 07:00, then 08:00
}

func last(ts []time.Time) string {
	if len(ts) == 0 {
		return "-"
	}
	return ts[len(ts)-1].Format("15:04")
}

func ExampleJitter() {
	nominal := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	j := cronfeed.Jitter("order-42", nominal, time.Minute)
	fmt.Println(j >= 0 && j < time.Minute, j == cronfeed.Jitter("order-42", nominal, time.Minute))
	// Output: true true
}

func ExampleParseDelay() {
	loc, _ := cronfeed.LoadZone("Europe/Berlin")
	now := time.Date(2030, 3, 30, 12, 0, 0, 0, loc) // the day before DST starts
	for _, in := range []string{"24h", "PT24H", "P1D"} {
		p, _ := cronfeed.ParseDelay(in)
		fmt.Println(in, p.AddTo(now, 1))
	}
	// Output:
	// 24h 2030-03-31 13:00:00 +0200 CEST
	// PT24H 2030-03-31 13:00:00 +0200 CEST
	// P1D 2030-03-31 12:00:00 +0200 CEST
}
