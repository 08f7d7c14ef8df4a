package cronfeed

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/robfig/cron/v3"
)

// robfigStar is the bit robfig/cron sets in a field's mask for * and ?.
const robfigStar = 1 << 63

// TestStandardFieldsMatchRobfig pins that timerd's own field parser, which
// replaced robfig/cron's to read L, W, # and the Quartz and EventBridge
// numbering, reads every standard spec as robfig/cron v3.0.1 did: the same
// specs accepted and rejected, the same values in every field. Stored
// timers are recompiled on load, so a standard spec must never change
// meaning. The specs are drawn from the strict grammar timerd always
// enforced before robfig saw a field (robfig alone would also take "*-5"),
// with values beyond each field's range, steps of 0 and names in any case,
// and ? only where robfig documents it, in the day fields (timerd now
// refuses it elsewhere: see TestDialectErrors).
// Day-of-week 7 is left out: timerd rewrote it to 0 for robfig, and
// TestCronCalendar pins its meaning.
func TestStandardFieldsMatchRobfig(t *testing.T) {
	parser := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	rng := rand.New(rand.NewPCG(14, 2030))
	ranges := [...]*fieldRange{&secondField, &minuteField, &hourField, &domField, &monthField, &standard.dow}
	accepted := 0
	for range 30000 {
		fields := make([]string, 6)
		for i, r := range ranges {
			fields[i] = randomField(rng, r, i == fDow, i == fDom || i == fDow)
		}
		text := strings.Join(fields, " ")
		mine, why := compileFields(fields, standard)
		theirs, err := parser.Parse(text)
		if (why == "") != (err == nil) {
			t.Fatalf("%q: timerd says %q, robfig says %v", text, why, err)
		}
		if err != nil {
			continue
		}
		accepted++
		s := theirs.(*cron.SpecSchedule)
		for i, pair := range [][2]uint64{
			{mine.second, s.Second}, {mine.minute, s.Minute}, {mine.hour, s.Hour},
			{mine.dom, s.Dom}, {mine.month, s.Month}, {mine.dow, s.Dow},
		} {
			if pair[0] != pair[1]&^robfigStar {
				t.Fatalf("%q: %s field: timerd %b, robfig %b", text, ranges[i].name, pair[0], pair[1]&^robfigStar)
			}
		}
	}
	if accepted < 4000 {
		t.Fatalf("only %d of the generated specs parsed: the generator misses the valid grammar", accepted)
	}
}

// randomField draws a field of one to three items: *, ?, values, ranges,
// each maybe with a step, values sometimes out of range or named.
func randomField(rng *rand.Rand, r *fieldRange, dow, day bool) string {
	value := func() string {
		if r.names != nil && rng.IntN(3) == 0 {
			name := r.names[rng.IntN(len(r.names))]
			if rng.IntN(2) == 0 {
				name = strings.ToUpper(name)
			}
			return name
		}
		v := r.min + rng.IntN(r.last-r.min+1)
		if rng.IntN(10) == 0 { // out of range, now and then
			v = [...]int{r.min - 1, r.max + 1, r.max + 2}[rng.IntN(3)]
		}
		if dow && v == 7 || v < 0 {
			v = 8
		}
		return strconv.Itoa(v)
	}
	items := make([]string, 1+rng.IntN(3))
	for i := range items {
		switch rng.IntN(5) {
		case 0:
			items[i] = "*"
			if day && rng.IntN(2) == 0 {
				items[i] = "?"
			}
		case 1, 2:
			items[i] = value()
		default:
			lo, hi := value(), value()
			if a, b := r.value(lo); rng.IntN(4) != 0 && b {
				if c, d := r.value(hi); d && c < a { // mostly in order
					lo, hi = hi, lo
				}
			}
			items[i] = lo + "-" + hi
		}
		if rng.IntN(3) == 0 {
			items[i] += "/" + strconv.Itoa(rng.IntN(r.max+2))
		}
	}
	return strings.Join(items, ",")
}
