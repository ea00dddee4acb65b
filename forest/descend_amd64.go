//go:build !purego

package forest

// descendRound is descendRoundGo in assembly. Instead of loading every
// block before descending, it asks the processor to prefetch each tree's
// next block as soon as that block is known and goes on to the next tree,
// so that the wait for memory overlaps the work on other trees. Go has no
// prefetch instruction; a plain load would stall the processor instead.
//
// The assembly does not check bounds. It relies on what layoutBlocks
// guarantees: every exit that isChild names a block of blocks and a slot
// below 8, every feature of a block is below len(x), and every tid[k] is
// below len(vals).
func descendRound(blocks []block, x []float64, cur []uint64, tid []int32, vals []float64) int {
	if len(cur) == 0 {
		return 0
	}
	_, _ = tid[len(cur)-1], x[0]
	return descendRoundAsm(&blocks[0], &x[0], &cur[0], &tid[0], &vals[0], len(cur))
}

//go:noescape
func descendRoundAsm(blocks *block, x *float64, cur *uint64, tid *int32, vals *float64, n int) int

// walkExits[s<<8|m] is the slot, 7 to 14, at which a walk that starts
// from slot s of a block leaves it, when bit i of m is set if the row goes
// right at split i. Start slot 7, which no exit names, is there so that
// any three bits index the table.
var walkExits = func() (t [8 * 256]uint8) {
	for start := range 8 {
		for m := range 256 {
			s := start
			for range 3 {
				if s < 7 {
					s = 2*s + 1 + (m>>s)&1
				}
			}
			t[start<<8|m] = uint8(s)
		}
	}
	return t
}()

// descendRows is descendRowsGo in assembly, prefetching as descendRound
// does, on the same guarantees, every xs[k] having the model's features.
func descendRows(blocks []block, xs [][]float64, cur []uint64, accs []*float64) int {
	if len(cur) == 0 {
		return 0
	}
	_, _ = xs[len(cur)-1], accs[len(cur)-1]
	return descendRowsAsm(&blocks[0], &xs[0], &cur[0], &accs[0], len(cur))
}

//go:noescape
func descendRowsAsm(blocks *block, xs *[]float64, cur *uint64, accs **float64, n int) int
