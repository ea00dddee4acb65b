package forest

import "math"

// descendRoundGo moves every tree in cur down by one block: cur[k] is the
// exit that leads tree tid[k] into its current block. A tree that reaches
// a leaf has the leaf's value stored in vals[tid[k]] and leaves cur, the
// last tree taking its place. It returns how many trees still walk.
//
// It first touches every tree's block in a tight loop, so that their cache
// misses overlap, and only then descends. This is the portable version of
// descendRound, and the reference the assembly is tested against.
func descendRoundGo(blocks []block, x []float64, cur []uint64, tid []int32, vals []float64) int {
	touchBlocks(blocks, cur)
	n := len(cur)
	for k := 0; k < n; {
		e := blocks[childBlock(cur[k])].exitOf(x, childSlot(cur[k]))
		if isChild(e) {
			cur[k] = e
			k++
			continue
		}
		vals[tid[k]] = math.Float64frombits(e)
		n--
		cur[k], tid[k] = cur[n], tid[n]
	}
	return n
}

// descendRowsGo is descendRoundGo for batch scoring: many rows walk one
// tree. Row xs[k] walks from cur[k]; when it reaches a leaf, the leaf's
// value is added to *accs[k] and the last row takes its place. It returns
// how many rows still walk.
func descendRowsGo(blocks []block, xs [][]float64, cur []uint64, accs []*float64) int {
	touchBlocks(blocks, cur)
	n := len(cur)
	for k := 0; k < n; {
		e := blocks[childBlock(cur[k])].exitOf(xs[k], childSlot(cur[k]))
		if isChild(e) {
			cur[k] = e
			k++
			continue
		}
		*accs[k] += math.Float64frombits(e)
		n--
		cur[k], xs[k], accs[k] = cur[n], xs[n], accs[n]
	}
	return n
}
