package cronfeed

import (
	"testing"
	"time"
)

// modelDaySpecs exercise L, L-n, W, LW, dL, d#n and the year field in all
// three dialects, with fixed and wildcard hours, on the days the fixture
// zones change their clocks (the last Sunday in Berlin, the second and
// first Sundays in New York).
var modelDaySpecs = []struct{ dialect, spec string }{
	{qz, "0 30 2 L * ?"}, {qz, "0 0 2 ? * 1L"}, {qz, "0 30 1 ? * 1#1"}, {qz, "0 0 2 ? * 1#2"},
	{qz, "0 0 9 15W * ?"}, {qz, "0 0 0 LW * ?"}, {qz, "0 0 12 L-3 * ?"}, {qz, "0 15 * ? * 6L"},
	{qz, "0 0/30 * LW * ?"}, {qz, "0 0 9 1W,31W * ?"}, {qz, "0 0 22-2 ? * 2#5"}, {qz, "0 45 1 ? * SUN#1,SUNL"},
	{eb, "cron(0 10 ? * 6#3 *)"}, {eb, "cron(0/15 * L * ? *)"}, {eb, "cron(30 2 ? * 1L 2030)"}, {eb, "cron(0 3 ? * L 2030)"},
	{"", "0 2 L * FRI#5"}, {"", "30 2 * * SUNL"}, {"", "0 0 1W,15W * *"}, {"", "*/20 1-3 L-1 * *"}, {"", "0 9 */7 * FRIL"},
}

// TestCronDaysMatchReferenceModel checks every minute of 2030 in Berlin,
// New York and UTC against the brute-force model of model_test.go, whose
// day rules (refDom, refDow) are written from the Quartz javadoc's words,
// not from cronday.go's arithmetic.
func TestCronDaysMatchReferenceModel(t *testing.T) {
	if testing.Short() {
		t.Skip("a year of minutes per zone")
	}
	for _, zone := range []string{berlin, ny, "UTC"} {
		loc, _ := LoadZone(zone)
		start := time.Date(2030, 1, 1, 0, 0, 0, 0, loc)
		w := newWindow(start.Add(-26*time.Hour), start.AddDate(1, 0, 0).Add(26*time.Hour), loc)
		from, to := w.instant[0].Add(15*time.Hour), w.instant[len(w.instant)-1].Add(-15*time.Hour)
		for _, c := range modelDaySpecs {
			s, err := Compile(Spec{Cron: c.spec, Dialect: c.dialect, Zone: zone})
			if err != nil {
				t.Fatal(err)
			}
			if n := compareWithModel(t, c.spec+" ("+s.Dialect()+") in "+zone, s, w, from, to, 997); n < 2 {
				t.Errorf("%s in %s: the model finds %d occurrences in 2030; a spec that never fires proves nothing", c.spec, zone, n)
			}
		}
	}
}
