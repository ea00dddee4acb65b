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
// below 8, and every tid[k] is below len(vals). The row is padded to
// blockFeatures values, which any feature byte indexes, so that the steps
// past a block's bottom split, whose results are discarded, need no mask.
func descendRound(blocks []block, x *[blockFeatures]float64, cur []uint64, tid []int32, vals []float64) int {
	if len(cur) == 0 {
		return 0
	}
	_ = tid[len(cur)-1]
	return descendRoundAsm(&blocks[0], x, &cur[0], &tid[0], &vals[0], len(cur))
}

//go:noescape
func descendRoundAsm(blocks *block, x *[blockFeatures]float64, cur *uint64, tid *int32, vals *float64, n int) int

// descendRows is descendRowsGo in assembly, prefetching as descendRound
// does. Its rows are not padded: it relies on every feature of a block
// being below len(xs[k]), which holds for rows of the model's width, and
// masks the slot as the padded walk need not.
func descendRows(blocks []block, xs [][]float64, cur []uint64, accs []*float64) int {
	if len(cur) == 0 {
		return 0
	}
	_, _ = xs[len(cur)-1], accs[len(cur)-1]
	return descendRowsAsm(&blocks[0], &xs[0], &cur[0], &accs[0], len(cur))
}

//go:noescape
func descendRowsAsm(blocks *block, xs *[]float64, cur *uint64, accs **float64, n int) int
