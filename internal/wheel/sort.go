package wheel

import "math/bits"

// insertionMax is the largest batch sorted by insertion; bigger ones take
// the radix sort, whose cost per entry does not grow with the batch.
const insertionMax = 24

// sortRun sorts items by due, stably, so that entries with equal due keep
// the order they were collected in and the hand-out order is a function of
// the calls made on the wheel alone. buf is scratch of any length. It
// returns the sorted slice and the buffer to keep as scratch; the two may
// have swapped.
func sortRun(items, buf []runItem) (sorted, scratch []runItem) {
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
		buf = make([]runItem, n, cap(items))
	}
	return radixSort(items, buf[:n], lo, hi)
}

func insertionSort(items []runItem) {
	for k := 1; k < len(items); k++ {
		it := items[k]
		j := k
		for ; j > 0 && items[j-1].due > it.due; j-- {
			items[j] = items[j-1]
		}
		items[j] = it
	}
}

// radixSort is a least-significant-digit radix sort on due - lo, one byte
// per pass, over only the bytes in which the dues differ. Each pass is
// stable, so the whole sort is.
func radixSort(src, dst []runItem, lo, hi int64) (sorted, scratch []runItem) {
	width := uint(bits.Len64(uint64(hi) - uint64(lo)))
	var count [256]int
	for shift := uint(0); shift < width; shift += 8 {
		clear(count[:])
		for _, it := range src {
			count[byte((uint64(it.due)-uint64(lo))>>shift)]++
		}
		if count[byte((uint64(src[0].due)-uint64(lo))>>shift)] == len(src) {
			continue // every entry has the same byte here
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, it := range src {
			d := byte((uint64(it.due) - uint64(lo)) >> shift)
			dst[count[d]] = it
			count[d]++
		}
		src, dst = dst, src
	}
	return src, dst
}
