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
func sortItems(items, buf []item, counts *[]uint32) (sorted, scratch []item) {
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
	if n >= bucketMin {
		return bucketSort(items, buf[:n], lo, hi, counts)
	}
	return radixSort(items, buf[:n], lo, hi)
}

// bucketMin is the smallest batch that bucketSort sorts; smaller ones take
// radixSort.
const bucketMin = 2048

// bucketDigit bounds the buckets of bucketSort: 2^16 counts of 4 bytes
// stay in the second-level cache.
const bucketDigit = 16

// bucketSort sorts src by due with one stable counting pass on the top
// bits of due - lo, about log2(n) of them, and then sorts each bucket on
// its own: entries of one bucket need ordering only among themselves.
// With spread-out dues the buckets hold a few entries each and take an
// insertion sort; a big one (many equal or close dues) takes radixSort.
// Every step is stable, so the whole sort is. It returns the sorted slice
// and the buffer to keep as scratch.
func bucketSort(src, dst []item, lo, hi int64, counts *[]uint32) (sorted, scratch []item) {
	width := bits.Len64(uint64(hi) - uint64(lo))
	digit := min(bucketDigit, bits.Len(uint(len(src))), width)
	shift := uint(width - digit)
	if cap(*counts) < 1<<digit+1 {
		*counts = make([]uint32, 1<<bucketDigit+1)
	}
	count := (*counts)[:1<<digit+1]
	clear(count)
	for _, it := range src {
		count[(uint64(it.due)-uint64(lo))>>shift+1]++
	}
	var sum uint32
	for d, c := range count {
		sum += c
		count[d] = sum
	}
	// count[d] is now the start of bucket d.
	for _, it := range src {
		d := (uint64(it.due) - uint64(lo)) >> shift
		dst[count[d]] = it
		count[d]++
	}
	// count[d] is now the end of bucket d. When no bucket is big, one
	// insertion sort of the whole array sorts each bucket in place, as
	// no entry moves past the start of its bucket; otherwise each bucket
	// is sorted on its own.
	start, biggest := uint32(0), uint32(0)
	for _, end := range count[:1<<digit] {
		biggest = max(biggest, end-start)
		start = end
	}
	if biggest <= insertionMax {
		insertionSort(dst)
		return dst, src
	}
	start = 0
	for _, end := range count[:1<<digit] {
		if end-start > 1 {
			sortBucket(dst[start:end], src[start:end])
		}
		start = end
	}
	return dst, src
}

// sortBucket sorts b stably by due, using tmp (as long as b) as scratch.
func sortBucket(b, tmp []item) {
	if len(b) <= insertionMax {
		insertionSort(b)
		return
	}
	lo, hi, inOrder := b[0].due, b[0].due, true
	for k := 1; k < len(b); k++ {
		d := b[k].due
		inOrder = inOrder && d >= b[k-1].due
		lo, hi = min(lo, d), max(hi, d)
	}
	if inOrder {
		return
	}
	if sorted, _ := radixSort(b, tmp, lo, hi); &sorted[0] != &b[0] {
		copy(b, sorted)
	}
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

// sortIndices sorts slab indices ascending by their top indexDigit bits,
// with one stable counting pass: that puts each stretch of the slab
// (1/4096 of it) together, which is all the page and cache locality of
// collectDue needs, at a fraction of the cost of a full sort. It returns
// the sorted slice and the buffer to keep as scratch.
func sortIndices(src, buf []uint32) (sorted, scratch []uint32) {
	const digit = 12
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
	shift := uint(max(0, bits.Len32(top)-digit))
	var count [1 << digit]uint32
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
	return dst, src
}
