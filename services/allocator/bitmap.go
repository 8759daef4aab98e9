package allocator

import (
	"math/bits"
	"math/rand/v2"
)

// bitmap is a fixed-size set of offsets [0, size): one bit each, so the ~1M addresses of a /12 cost
// 128 KiB.
type bitmap struct {
	words []uint64
	size  int
	used  int
}

func newBitmap(size int) *bitmap {
	return &bitmap{words: make([]uint64, (size+63)/64), size: size}
}

func (b *bitmap) has(off int) bool {
	return b.words[off/64]&(1<<(off%64)) != 0
}

// set marks off used and reports whether it was free.
func (b *bitmap) set(off int) bool {
	if b.has(off) {
		return false
	}
	b.words[off/64] |= 1 << (off % 64)
	b.used++
	return true
}

// clear marks off free and reports whether it was used.
func (b *bitmap) clear(off int) bool {
	if !b.has(off) {
		return false
	}
	b.words[off/64] &^= 1 << (off % 64)
	b.used--
	return true
}

// firstFree returns the lowest free offset in [from, to), a word at a time so that scanning a nearly
// full /12 stays cheap.
func (b *bitmap) firstFree(from, to int) (int, bool) {
	for off := from; off < to; {
		w := ^b.words[off/64] >> (off % 64)
		if w == 0 {
			off = (off/64 + 1) * 64
			continue
		}
		found := off + bits.TrailingZeros64(w)
		if found >= to {
			return 0, false
		}
		return found, true
	}
	return 0, false
}

// pool hands out offsets of a bitmap. Static requests may take any offset; dynamic ones prefer the
// upper band [lowBand, size) and never take an offset in noDynamic.
type pool struct {
	bits      *bitmap
	lowBand   int
	noDynamic map[int]bool
}

func newPool(size, lowBand int, noDynamic ...int) *pool {
	p := &pool{bits: newBitmap(size), lowBand: lowBand, noDynamic: map[int]bool{}}
	for _, off := range noDynamic {
		p.noDynamic[off] = true
	}
	return p
}

// bandOffset is upstream's min(max(floor, size/step), ceil), or 0 when the range is too small to
// split.
func bandOffset(size, floor, ceil, step int) int {
	if size <= floor {
		return 0
	}
	return min(max(floor, size/step), ceil)
}

func (p *pool) allocate(off int) bool { return p.bits.set(off) }
func (p *pool) release(off int)       { p.bits.clear(off) }
func (p *pool) free() int             { return p.bits.size - p.bits.used }

func (p *pool) allocateNext() (int, bool) {
	for _, band := range [][2]int{{p.lowBand, p.bits.size}, {0, p.lowBand}} {
		if off, ok := p.scanBand(band[0], band[1]); ok {
			p.bits.set(off)
			return off, true
		}
	}
	return 0, false
}

// scanBand looks for a free offset in [lo, hi) starting at a random point and wrapping once.
func (p *pool) scanBand(lo, hi int) (int, bool) {
	if hi <= lo {
		return 0, false
	}
	start := lo + rand.IntN(hi-lo)
	if off, ok := p.scanFrom(start, hi); ok {
		return off, true
	}
	return p.scanFrom(lo, start)
}

func (p *pool) scanFrom(from, to int) (int, bool) {
	for from < to {
		off, ok := p.bits.firstFree(from, to)
		if !ok {
			return 0, false
		}
		if !p.noDynamic[off] {
			return off, true
		}
		from = off + 1
	}
	return 0, false
}
