package cronfeed

import (
	"math/bits"
	"time"
)

// Jitter returns the delay added to the occurrence of timer id at nominal,
// uniform in [0, max) and the same on every node, after every restart and in
// every version: it depends on id and nominal alone. max <= 0 gives 0.
//
// The function, for reimplementation elsewhere: h = FNV-1a 64 over the bytes
// of id, then the 8 bytes of nominal.Unix() and the 4 bytes of
// nominal.Nanosecond(), both big-endian; h is mixed with MurmurHash3's
// 64-bit finalizer (fmix64); the jitter is the high 64 bits of h·max in
// nanoseconds. Seconds and nanoseconds (not UnixNano) keep it defined for
// every year.
func Jitter(id string, nominal time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := range len(id) {
		h = (h ^ uint64(id[i])) * prime64
	}
	sec, ns := uint64(nominal.Unix()), uint64(nominal.Nanosecond())
	for shift := 56; shift >= 0; shift -= 8 {
		h = (h ^ (sec >> uint(shift) & 0xff)) * prime64
	}
	for shift := 24; shift >= 0; shift -= 8 {
		h = (h ^ (ns >> uint(shift) & 0xff)) * prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	j, _ := bits.Mul64(h, uint64(max))
	return time.Duration(j)
}
