//go:build !amd64 || purego

package forest

// useCodeLayout says whether a model of p features is laid out in
// codeBlocks: only where the assembly walk exists.
func useCodeLayout(int) bool { return false }

// convert writes the biased codes of x to xc; see convertGo.
func (cl *codeLayout) convert(x []float64, xc []uint16) { cl.convertGo(x, xc) }

// descendCodes moves every tree in cur down by one block; see
// descendCodesGo.
func descendCodes(cl *codeLayout, x []float64, xc []uint16, _ *[32]uint8, cur []uint32, tid []int32, leaf []uint32) int {
	return descendCodesGo(cl, x, xc, cur, tid, leaf)
}
