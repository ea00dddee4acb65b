//go:build !amd64 || purego

package forest

// descendRound moves every tree in cur down by one block; see
// descendRoundGo.
func descendRound(blocks []block, x []float64, cur []uint64, tid []int32, vals []float64) int {
	return descendRoundGo(blocks, x, cur, tid, vals)
}

// descendRows moves every row in cur down by one block; see
// descendRowsGo.
func descendRows(blocks []block, xs [][]float64, cur []uint64, accs []*float64) int {
	return descendRowsGo(blocks, xs, cur, accs)
}
