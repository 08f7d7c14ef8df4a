package cronfeed

import (
	"testing"
	"time"
)

func benchNext(b *testing.B, spec Spec) {
	s, err := Compile(spec)
	if err != nil {
		b.Fatal(err)
	}
	after := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		next, ok := s.Next(after)
		if !ok {
			after = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		after = next
	}
}

func BenchmarkNextCronFixedNY(b *testing.B)    { benchNext(b, Spec{Cron: "30 2 * * *", Zone: ny}) }
func BenchmarkNextCronWildcardNY(b *testing.B) { benchNext(b, Spec{Cron: "*/5 * * * *", Zone: ny}) }
func BenchmarkNextCronUTC(b *testing.B)        { benchNext(b, Spec{Cron: "0 9 * * MON-FRI"}) }
func BenchmarkNextCronLeapDay(b *testing.B)    { benchNext(b, Spec{Cron: "0 0 29 2 *"}) }
func BenchmarkNextCronLastFridayBerlin(b *testing.B) {
	benchNext(b, Spec{Cron: "0 15 10 ? * 6L", Dialect: DialectQuartz, Zone: berlin})
}
func BenchmarkNextCronNearestWeekday(b *testing.B) {
	benchNext(b, Spec{Cron: "cron(0 18 LW * ? *)"})
}
func BenchmarkNextCronFifthFridayOfFebruary(b *testing.B) { // every 28 years or so
	benchNext(b, Spec{Cron: "0 0 0 ? 2 6#5", Dialect: DialectQuartz, Zone: ny})
}
func BenchmarkNextEvery(b *testing.B) {
	benchNext(b, Spec{Cron: "@every 90s", Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
}
func BenchmarkNextRepeatMonthly(b *testing.B) {
	benchNext(b, Spec{Repeat: "R/2030-01-31T10:00:00/P1M", Zone: berlin})
}

func BenchmarkCompileCron(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(Spec{Cron: "CRON_TZ=Europe/Berlin 0 9 * * MON-FRI", Created: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileImpossible(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(Spec{Cron: "0 0 31 2 *"}); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkCompileRareInYearRange(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(Spec{Cron: "0 0 0 ? 2 6#5 2030-2262", Dialect: DialectQuartz}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDueOnceCron(b *testing.B) {
	s, err := Compile(Spec{Cron: "*/5 * * * *", Zone: ny, Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	last, now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2030, 4, 2, 0, 0, 1, 0, time.UTC)
	for b.Loop() {
		s.Due(last, now, MisfireOnce, 1)
	}
}

func BenchmarkJitter(b *testing.B) {
	t := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		Jitter("order-12345", t, time.Minute)
	}
}
