package wheel

import "math/bits"

// divisor divides by a fixed tick without a DIV instruction, which costs
// tens of cycles on the Add path and in every cascade: a multiply by the
// reciprocal gives the quotient or one less, and one compare fixes it.
type divisor struct {
	d     uint64 // the divisor, > 0
	m     uint64 // floor(2^64 / d) when d is not a power of two
	shift uint   // log2(d) when it is
	pow2  bool
}

func newDivisor(d uint64) divisor {
	if d&(d-1) == 0 {
		return divisor{d: d, shift: uint(bits.TrailingZeros64(d)), pow2: true}
	}
	// d is no power of two, so 2^64/d is not an integer and
	// floor((2^64-1)/d) equals floor(2^64/d).
	return divisor{d: d, m: ^uint64(0) / d}
}

// div returns floor(x / d). With m = 2^64/d - f, 0 <= f < 1, the product
// x*m/2^64 = x/d - x*f/2^64 lies within 1 below x/d, so its floor is the
// quotient q or q-1, and the remainder tells which.
func (v divisor) div(x uint64) uint64 {
	if v.pow2 {
		return x >> v.shift
	}
	q, _ := bits.Mul64(x, v.m)
	if x-q*v.d >= v.d {
		q++
	}
	return q
}
