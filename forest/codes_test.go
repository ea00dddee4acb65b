package forest

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// featureRows returns friedman1 rows cut or widened to p features.
func featureRows(n, p int, seed uint64) ([][]float64, []float64) {
	X, y := friedman1(n, 1, seed)
	if p > 10 {
		return widen(X, p, seed+1), y
	}
	for i := range X {
		X[i] = X[i][:p]
	}
	return X, y
}

// edgeRows returns rows on the code layout's pivots and next to them,
// and rows of extreme values, as well as rowsOnThresholds' rows.
func edgeRows(r *Regressor, trees []tree, p int, seed uint64) [][]float64 {
	rows := rowsOnThresholds(trees, p, 300, seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	// Rows that meet thresholds on their paths: down a random tree, each
	// feature takes the first threshold it meets, or a neighbour.
	for range 300 {
		x := make([]float64, p)
		set := make([]bool, p)
		tr := &trees[rng.IntN(len(trees))]
		for i := int32(0); !tr.nodes[i].isLeaf(i); i = tr.nodes[i].child(x) {
			nd := tr.nodes[i]
			if !set[nd.feat] {
				set[nd.feat] = true
				x[nd.feat] = [3]float64{math.Nextafter(nd.thr, math.Inf(-1)), nd.thr, math.Nextafter(nd.thr, math.Inf(1))}[rng.IntN(3)]
			}
		}
		for f := range x {
			if !set[f] {
				x[f] = rng.Float64()
			}
		}
		rows = append(rows, x)
	}
	if cl := r.codes; cl != nil {
		for range 200 {
			x := make([]float64, p)
			for f := range x {
				piv := cl.pivots(f)
				if len(piv) == 0 {
					x[f] = rng.Float64()
					continue
				}
				x[f] = piv[rng.IntN(len(piv))]
				switch rng.IntN(3) {
				case 1:
					x[f] = math.Nextafter(x[f], math.Inf(-1))
				case 2:
					x[f] = math.Nextafter(x[f], math.Inf(1))
				}
			}
			rows = append(rows, x)
		}
	}
	for _, v := range []float64{math.Inf(-1), -math.MaxFloat64, -1, math.Copysign(0, -1), 0, 1, math.MaxFloat64, math.Inf(1)} {
		x := make([]float64, p)
		for f := range x {
			x[f] = v
		}
		rows = append(rows, x)
		y := make([]float64, p)
		for f := range y {
			y[f] = rng.Float64()
		}
		y[rng.IntN(p)] = v
		rows = append(rows, y)
	}
	return rows
}

// TestCodeLayoutPredictsAsGrownTrees checks every width the code layout
// takes, and one more, which must fall back to the three-level blocks.
func TestCodeLayoutPredictsAsGrownTrees(t *testing.T) {
	for p := 1; p <= codeFeatures+1; p++ {
		X, y := featureRows(5000, p, uint64(50+p))
		c := Config{Trees: 20, Seed: uint64(p), Workers: 2}
		trees := grownTrees(t, X, y, c)
		r, err := c.Fit(context.Background(), X, y)
		require.NoError(t, err)
		label := fmt.Sprintf("p=%d", p)
		require.Equal(t, useCodeLayout(p), r.codes != nil, label)
		require.Equal(t, r.codes == nil, r.exits != nil, label)
		requirePredictsAsGrown(t, r, trees, edgeRows(r, trees, p, uint64(p)), label)
		assert.Equal(t, sumNodes(trees), r.NumNodes(), label)
	}
}

// TestCodeLayoutChosen checks which models take the code layout here.
func TestCodeLayoutChosen(t *testing.T) {
	if !useCodeLayout(codeFeatures) {
		t.Skip("no code layout on this processor or build")
	}
	for _, tc := range []struct {
		p      int
		forced bool
		codes  bool
	}{{1, false, true}, {codeFeatures, false, true}, {codeFeatures + 1, false, false}, {codeFeatures, true, false}} {
		useBlockLayout(t, tc.forced)
		X, y := featureRows(300, tc.p, 9)
		r, err := Config{Trees: 3, Seed: 1}.Fit(context.Background(), X, y)
		require.NoError(t, err)
		assert.Equal(t, tc.codes, r.codes != nil, "p=%d forced=%v", tc.p, tc.forced)
		assert.Equal(t, !tc.codes, r.exits != nil, "p=%d forced=%v", tc.p, tc.forced)
		data, err := r.MarshalBinary()
		require.NoError(t, err)
		var back Regressor
		require.NoError(t, back.UnmarshalBinary(data))
		assert.Equal(t, tc.codes, back.codes != nil, "p=%d forced=%v: decoded", tc.p, tc.forced)
	}
}

// ties counts the splits on x's paths where x's code equals a threshold's
// that is not a pivot, so that the exact threshold decides.
func ties(cl *codeLayout, x []float64) int {
	xc := make([]uint16, len(x))
	cl.convertGo(x, xc)
	n := 0
	for _, bi := range cl.roots {
		for bi != noBlock {
			b := &cl.blocks[bi]
			s := 0
			for s < 15 {
				c, t := int16(xc[b.feat[s]]), int16(b.codes[s])
				right := c > t
				if c == t && b.exactMask>>s&1 != 0 {
					n++
					right = x[b.feat[s]] > cl.threshold(b, s)
				}
				s = 2*s + 1 + b2i(right)
			}
			next, _, isBlock := cl.childOrLeaf(b, s-15)
			if !isBlock {
				break
			}
			bi = next
		}
	}
	return n
}

// childOrLeaf returns where exit e of b leads: a block, or a leaf's value.
func (cl *codeLayout) childOrLeaf(b *codeBlock, e int) (uint32, float64, bool) {
	below := uint16(1)<<e - 1
	if b.childMask>>e&1 != 0 {
		return b.childBase + uint32(bits.OnesCount16(b.childMask&below)), 0, true
	}
	return 0, cl.leaves[b.leafBase+uint32(bits.OnesCount16(b.leafMask&below))], false
}

// TestCodeTiesDecidedExactly gives every feature 8 pivots, so that rows
// tie with thresholds thousands of times, and checks the predictions and
// the encoding.
func TestCodeTiesDecidedExactly(t *testing.T) {
	old := maxPivots
	maxPivots = 8
	t.Cleanup(func() { maxPivots = old })
	X, y := featureRows(5000, 10, 60)
	c := Config{Trees: 20, Seed: 6}
	trees := grownTrees(t, X, y, c)
	r, err := c.Fit(context.Background(), X, y)
	require.NoError(t, err)
	if r.codes == nil {
		t.Skip("no code layout on this processor or build")
	}
	for f := range 10 {
		require.Len(t, r.codes.pivots(f), 8, "feature %d", f)
	}
	rows := edgeRows(r, trees, 10, 61)
	n := 0
	for _, x := range rows {
		n += ties(r.codes, x)
	}
	assert.Greater(t, n, 1000, "ties in %d rows", len(rows))
	requirePredictsAsGrown(t, r, trees, rows, "8 pivots")

	data, err := r.MarshalBinary()
	require.NoError(t, err)
	useBlockLayout(t, true)
	rb, err := c.Fit(context.Background(), X, y)
	require.NoError(t, err)
	require.Nil(t, rb.codes)
	want, err := rb.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, want, data, "encoded from codes and from blocks")
}

// TestCodeLayoutEncodesAsBlockLayout checks that both layouts rebuild the
// same nodes: a model encodes to the same bytes whichever layout holds it,
// trained or decoded.
func TestCodeLayoutEncodesAsBlockLayout(t *testing.T) {
	X, y := featureRows(3000, 12, 70)
	c := Config{Trees: 10, Seed: 7}
	var enc [2][]byte
	for i, blocks := range []bool{false, true} {
		useBlockLayout(t, blocks)
		r, err := c.Fit(context.Background(), X, y)
		require.NoError(t, err)
		enc[i], err = r.MarshalBinary()
		require.NoError(t, err)
	}
	assert.Equal(t, enc[1], enc[0])
	for _, blocks := range []bool{false, true} {
		useBlockLayout(t, blocks)
		var back Regressor
		require.NoError(t, back.UnmarshalBinary(enc[0]))
		again, err := back.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, enc[0], again, "decoded with blocks=%v", blocks)
	}
}

// TestCodeLayoutSpecialTrees decodes trees training would not make: a lone
// leaf, a feature never split, thresholds -0 and +0 on one feature, and
// infinite and extreme thresholds.
func TestCodeLayoutSpecialTrees(t *testing.T) {
	negZero := math.Copysign(0, -1)
	data := encodeRegressor(3, [][]rawNode{
		{{feat: -1, v: 7}},
		{
			{feat: 0, left: 1, v: negZero},
			{feat: 0, left: 3, v: -math.MaxFloat64},
			{feat: 0, left: 5, v: 0},
			{feat: -1, v: 1},
			{feat: 1, left: 7, v: math.Inf(-1)},
			{feat: 1, left: 9, v: math.Inf(1)},
			{feat: -1, v: 2},
			{feat: -1, v: 3},
			{feat: -1, v: 4},
			{feat: 0, left: 11, v: math.MaxFloat64},
			{feat: -1, v: 5},
			{feat: -1, v: 6},
			{feat: -1, v: 8},
		},
		{
			{feat: 1, left: 1, v: 0},
			{feat: -1, v: 10},
			{feat: -1, v: 20},
		},
	})
	for _, blocks := range []bool{false, true} {
		useBlockLayout(t, blocks)
		var r Regressor
		require.NoError(t, r.UnmarshalBinary(data))
		assert.Equal(t, 1+13+3, r.NumNodes())
		again, err := r.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, data, again, "blocks=%v: round trip", blocks)
		vals := []float64{math.Inf(-1), -math.MaxFloat64, math.Nextafter(-math.MaxFloat64, 0), -1, negZero, 0,
			math.SmallestNonzeroFloat64, 1, math.Nextafter(math.MaxFloat64, 0), math.MaxFloat64, math.Inf(1)}
		for _, a := range vals {
			for _, b := range vals {
				x := []float64{a, b, a}
				got, err := r.Predict(x)
				require.NoError(t, err)
				want := nodeWalk(&r, x)
				require.Equal(t, math.Float64bits(want), math.Float64bits(got), "blocks=%v x=%v", blocks, x)
				w, ok := portableWalk(&r, x)
				require.True(t, ok)
				require.Equal(t, math.Float64bits(want), math.Float64bits(w), "blocks=%v x=%v: portable", blocks, x)
			}
		}
	}
}

// TestPivotsAndCodes checks pickPivots against its definition on values
// with repeats, -0 and +0, and more distinct values than pivots.
func TestPivotsAndCodes(t *testing.T) {
	old := maxPivots
	t.Cleanup(func() { maxPivots = old })
	rng := rand.New(rand.NewPCG(8, 8))
	for _, m := range []int{3, 10, 1000} {
		maxPivots = m
		var vals []float64
		for range 200 {
			vals = append(vals, float64(rng.IntN(40)-20)/4)
		}
		vals = append(vals, math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1))
		keys := make([]placedKey, len(vals))
		for i, v := range vals {
			keys[i] = placedKey{orderedKey(v), uint32(i)}
			require.Equal(t, math.Float64bits(v), math.Float64bits(fromOrderedKey(keys[i].key)))
		}
		k, _ := radixSort(keys, nil)
		for i := 1; i < len(k); i++ {
			require.LessOrEqual(t, fromOrderedKey(k[i-1].key), fromOrderedKey(k[i].key))
		}
		codes := make([]uint16, len(vals))
		piv := pickPivots(k, codes)
		assert.LessOrEqual(t, len(piv), m)
		for i := 1; i < len(piv); i++ {
			require.Less(t, piv[i-1], piv[i], "m=%d: pivots ascend", m)
		}
		for i, v := range vals {
			below, is := 0, 0
			for _, p := range piv {
				if p < v {
					below++
				}
				if p == v {
					is = 1
				}
			}
			require.Equal(t, uint16(2*below+is), codes[i], "m=%d value %v", m, v)
		}
	}
}

// TestCodesOnEveryPivot checks the code of every pivot and both its
// neighbours against the definition.
func TestCodesOnEveryPivot(t *testing.T) {
	X, y := featureRows(2000, 4, 80)
	r, err := Config{Trees: 5, Seed: 8}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	if r.codes == nil {
		t.Skip("no code layout on this processor or build")
	}
	cl := r.codes
	for f := range 4 {
		piv := cl.pivots(f)
		for k, p := range piv {
			below, above := math.Nextafter(p, math.Inf(-1)), math.Nextafter(p, math.Inf(1))
			want := [3]int{2 * k, 2*k + 1, 2*k + 2}
			if k > 0 && piv[k-1] == below {
				want[0] = 2*k - 1
			}
			if k+1 < len(piv) && piv[k+1] == above {
				want[2] = 2*k + 3
			}
			for d, v := range []float64{below, p, above} {
				require.Equal(t, uint16(want[d]), cl.code(f, v), "feature %d pivot %d offset %d", f, k, d-1)
			}
		}
	}
}
