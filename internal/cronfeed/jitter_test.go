package cronfeed

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"testing"
	"time"
)

// refJitter is Jitter as its doc comment describes it, from the standard
// library's FNV-1a: the independent statement of the function.
func refJitter(id string, nominal time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(nominal.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(nominal.Nanosecond()))
	h.Write(b[:])
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	j, _ := bits.Mul64(x, uint64(max))
	return time.Duration(j)
}

func TestJitterMatchesItsDescription(t *testing.T) {
	base := tm(t, "2030-01-01T00:00:00Z")
	for i := range 2000 {
		id := fmt.Sprintf("timer-%d", i)
		nominal := base.Add(time.Duration(i) * 7919 * time.Millisecond)
		for _, max := range []time.Duration{1, time.Second, time.Hour, 1<<63 - 1} {
			if got, want := Jitter(id, nominal, max), refJitter(id, nominal, max); got != want {
				t.Fatalf("Jitter(%q, %v, %v) = %v, want %v", id, nominal, max, got, want)
			}
		}
	}
}

// TestJitterPinned pins a few values: nodes of different versions must agree,
// so the function may never change.
func TestJitterPinned(t *testing.T) {
	for _, c := range []struct {
		id      string
		nominal string
		max     time.Duration
		want    time.Duration
	}{
		{"a", "2030-01-01T00:00:00Z", time.Minute, 23744986412},
		{"order-42", "2030-06-15T09:30:00.5Z", time.Hour, 629840530309},
		{"", "0001-01-01T00:00:00Z", time.Second, 405071990},
		{"x", "9999-12-31T23:59:59.999999999Z", 10 * time.Second, 7696116296},
	} {
		if got := Jitter(c.id, tm(t, c.nominal), c.max); got != c.want {
			t.Errorf("Jitter(%q, %s, %v) = %d, want %d", c.id, c.nominal, c.max, got, c.want)
		}
	}
}

func TestJitterRangeAndSpread(t *testing.T) {
	const max = time.Minute
	const n = 20000
	var buckets [10]int
	var sum time.Duration
	nominal := tm(t, "2030-01-01T00:00:00Z")
	for i := range n {
		j := Jitter(fmt.Sprintf("id-%d", i), nominal, max)
		if j < 0 || j >= max {
			t.Fatalf("Jitter out of [0, %v): %v", max, j)
		}
		buckets[j*10/max]++
		sum += j / n
	}
	for i, b := range buckets {
		if b < n/10*9/10 || b > n/10*11/10 {
			t.Errorf("decile %d holds %d of %d", i, b, n)
		}
	}
	if mean := sum; mean < max/2-max/50 || mean > max/2+max/50 {
		t.Errorf("mean jitter %v, want about %v", mean, max/2)
	}
	// Same occurrence, same jitter; another occurrence, (almost surely) another.
	a := Jitter("t", nominal, max)
	if Jitter("t", nominal.In(time.FixedZone("x", 3600)), max) != a {
		t.Error("jitter depends on the time's location")
	}
	if Jitter("t", nominal.Add(time.Nanosecond), max) == a && Jitter("t", nominal.Add(time.Second), max) == a {
		t.Error("jitter ignores the nominal time")
	}
	for _, max := range []time.Duration{0, -time.Second} {
		if j := Jitter("t", nominal, max); j != 0 {
			t.Errorf("Jitter(max %v) = %v, want 0", max, j)
		}
	}
}
