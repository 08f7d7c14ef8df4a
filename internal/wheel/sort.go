package wheel

import "math/bits"

// insertionMax is the largest batch sorted by insertion; bigger ones take
// the radix sort, whose cost per entry does not grow with the batch.
const insertionMax = 24

// sortItems sorts items by due, stably, so that entries with equal due keep
// the order they were collected in and the hand-out order is a function of
// the calls made on the wheel alone. buf is scratch of any length. It
// returns the sorted slice and the buffer to keep as scratch; the two may
// have swapped.
func sortItems(items, buf []item) (sorted, scratch []item) {
	n := len(items)
	if n < 2 {
		return items, buf
	}
	if n <= insertionMax {
		insertionSort(items)
		return items, buf
	}
	lo, hi, inOrder := items[0].due, items[0].due, true
	for k := 1; k < n; k++ {
		d := items[k].due
		inOrder = inOrder && d >= items[k-1].due
		lo, hi = min(lo, d), max(hi, d)
	}
	if inOrder {
		return items, buf
	}
	if cap(buf) < n {
		buf = make([]item, n, cap(items))
	}
	return radixSort(items, buf[:n], lo, hi)
}

func insertionSort(items []item) {
	for k := 1; k < len(items); k++ {
		it := items[k]
		j := k
		for ; j > 0 && items[j-1].due > it.due; j-- {
			items[j] = items[j-1]
		}
		items[j] = it
	}
}

// radixSort is a least-significant-digit radix sort on due - lo, over
// only the bits in which the dues differ. Digits are about log2(n) bits,
// at most maxDigit, so that the counting array stays small next to the
// data and in the first-level cache, and the passes are balanced. Each pass
// is stable, so the whole sort is.
func radixSort(src, dst []item, lo, hi int64) (sorted, scratch []item) {
	const maxDigit = 12
	width := bits.Len64(uint64(hi) - uint64(lo))
	digit := min(maxDigit, max(6, bits.Len(uint(len(src)))))
	passes := (width + digit - 1) / digit
	digit = (width + passes - 1) / passes
	var counts [1 << maxDigit]uint32
	count := counts[:1<<digit]
	mask := uint64(len(count) - 1)
	for shift := 0; shift < width; shift += digit {
		clear(count)
		for _, it := range src {
			count[(uint64(it.due)-uint64(lo))>>shift&mask]++
		}
		if count[(uint64(src[0].due)-uint64(lo))>>shift&mask] == uint32(len(src)) {
			continue // every entry has the same digit here
		}
		var sum uint32
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, it := range src {
			d := (uint64(it.due) - uint64(lo)) >> shift & mask
			dst[count[d]] = it
			count[d]++
		}
		src, dst = dst, src
	}
	return src, dst
}

// sortIndices sorts slab indices ascending with an LSD radix sort of 11-bit
// digits over the bits in use. It returns the sorted slice and the buffer
// to keep as scratch.
func sortIndices(src, buf []uint32) (sorted, scratch []uint32) {
	const digit = 11
	if len(src) < 2 {
		return src, buf
	}
	var top uint32
	for _, i := range src {
		top |= i
	}
	if cap(buf) < len(src) {
		buf = make([]uint32, len(src), cap(src))
	}
	dst := buf[:len(src)]
	var count [1 << digit]uint32
	for shift := 0; shift < bits.Len32(top); shift += digit {
		clear(count[:])
		for _, i := range src {
			count[i>>shift&(1<<digit-1)]++
		}
		var sum uint32
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, i := range src {
			d := i >> shift & (1<<digit - 1)
			dst[count[d]] = i
			count[d]++
		}
		src, dst = dst, src
	}
	return src, dst
}
