//go:build !purego

package forest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCodeAssemblyMatchesPortable checks convert against convertGo and
// runs descendCodes and descendCodesGo round by round from the same state,
// as TestDescendRoundMatchesPortable does for blocks, with few pivots so
// that ties are frequent.
func TestCodeAssemblyMatchesPortable(t *testing.T) {
	if !haveCodeWalk {
		t.Skip("the processor lacks SSSE3, POPCNT or BMI2")
	}
	old := maxPivots
	maxPivots = 30
	t.Cleanup(func() { maxPivots = old })
	X, y := featureRows(3000, codeFeatures, 90)
	c := Config{Trees: 20, Seed: 9}
	trees := grownTrees(t, X, y, c)
	r, err := c.Fit(context.Background(), X, y)
	require.NoError(t, err)
	cl := r.codes
	require.NotNil(t, cl)
	for i, x := range edgeRows(r, trees, codeFeatures, 91) {
		xc, xcGo := make([]uint16, len(x)), make([]uint16, len(x))
		cl.convert(x, xc)
		cl.convertGo(x, xcGo)
		require.Equal(t, xcGo, xc, "row %d: codes", i)
		var planes [32]uint8
		for f, c := range xc {
			planes[f], planes[16+f] = uint8(c), uint8(c>>8)
		}
		var cur []uint32
		var tid []int32
		for ti, b := range cl.roots {
			if b != noBlock {
				cur, tid = append(cur, b), append(tid, int32(ti))
			}
		}
		curGo, tidGo := slices.Clone(cur), slices.Clone(tid)
		leaf, leafGo := make([]uint32, len(cl.roots)), make([]uint32, len(cl.roots))
		for round := 0; len(cur) > 0; round++ {
			n := descendCodes(cl, x, xc, &planes, cur, tid, leaf)
			nGo := descendCodesGo(cl, x, xcGo, curGo, tidGo, leafGo)
			require.Equal(t, nGo, n, "row %d round %d: trees still walking", i, round)
			cur, tid, curGo, tidGo = cur[:n], tid[:n], curGo[:nGo], tidGo[:nGo]
			require.Equal(t, walkState(curGo, tidGo), walkState(cur, tid), "row %d round %d", i, round)
			require.Equal(t, leafGo, leaf, "row %d round %d: leaves", i, round)
		}
		want, got := cl.walkCodes(x, false), cl.walkCodes(x, true)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "row %d", i)
	}
}
