package forest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grownTrees trains like Fit but keeps the trees as grown, before they are
// laid out for prediction.
func grownTrees(t *testing.T, X [][]float64, y []float64, c Config) []tree {
	t.Helper()
	ps, err := c.resolve(len(X), len(X[0]))
	require.NoError(t, err)
	d, err := newDataset(context.Background(), X, y, ps.workers)
	require.NoError(t, err)
	trees, err := growAll(context.Background(), d, ps)
	require.NoError(t, err)
	return trees
}

// rowsOnThresholds returns rows whose values sit exactly on the trees'
// thresholds, where x <= threshold must still go left, and next to them.
func rowsOnThresholds(trees []tree, p, n int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var rows [][]float64
	for len(rows) < n {
		tr := trees[rng.IntN(len(trees))]
		x := make([]float64, p)
		for j := range x {
			i := rng.IntN(len(tr.nodes))
			nd := tr.nodes[i]
			if nd.isLeaf(int32(i)) || int(nd.feat) != j {
				x[j] = rng.Float64()
				continue
			}
			x[j] = nd.thr
			switch rng.IntN(3) {
			case 1:
				x[j] = math.Nextafter(nd.thr, math.Inf(-1))
			case 2:
				x[j] = math.Nextafter(nd.thr, math.Inf(1))
			}
		}
		rows = append(rows, x)
	}
	return rows
}

func TestLayoutPredictsAsGrownTrees(t *testing.T) {
	for _, tc := range []struct {
		p      int
		blocks bool
	}{{10, false}, {10, true}, {codeFeatures, false}, {codeFeatures + 1, false}, {blockFeatures, false}, {blockFeatures + 1, false}} {
		useBlockLayout(t, tc.blocks)
		p := tc.p
		X, y := friedman1(600, 1, 30)
		if p > 10 {
			X = widen(X, p, 31)
		}
		c := Config{Trees: 12, Seed: 4, MinLeaf: 2}
		trees := grownTrees(t, X, y, c)
		r, err := c.Fit(context.Background(), X, y)
		require.NoError(t, err)
		assert.Equal(t, useCodeLayout(p), r.codes != nil, "p=%d: code layout", p)
		assert.Equal(t, !useCodeLayout(p) && p <= blockFeatures, r.exits != nil, "p=%d: block layout", p)

		requirePredictsAsGrown(t, r, trees, rowsOnThresholds(trees, p, 400, uint64(p)), fmt.Sprintf("p=%d", p))
		for ti := range trees {
			assert.Len(t, r.tree(ti, nil), len(trees[ti].nodes), "p=%d tree %d", p, ti)
		}
		assert.Equal(t, r.NumNodes(), sumNodes(trees))
		if r.exits != nil {
			// countBlocks must count exactly the blocks add takes: every
			// block is used, none is missing.
			used := map[uint32]bool{}
			note := func(e uint64) {
				if isChild(e) {
					used[childBlock(e)] = true
				}
			}
			for _, e := range r.exits {
				note(e)
			}
			for i := range r.blocks {
				for _, e := range r.blocks[i].exit {
					note(e)
				}
			}
			assert.Len(t, used, len(r.blocks), "p=%d: blocks in use", p)
		}
	}
}

// requirePredictsAsGrown checks that Predict, PredictBatch and the
// portable walks all give, to the bit, the average of the leaf values the
// grown trees reach, added in tree order.
func requirePredictsAsGrown(t *testing.T, r *Regressor, trees []tree, rows [][]float64, label string) {
	t.Helper()
	out := make([]float64, len(rows))
	require.NoError(t, r.PredictBatch(rows, out))
	portable := make([]float64, len(rows))
	r.predictBatch(rows, portable, true)
	for i, x := range rows {
		want := 0.0
		for ti := range trees {
			want += trees[ti].nodes[trees[ti].leaf(x)].thr
		}
		want /= float64(len(trees))
		got, err := r.Predict(x)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%s row %d", label, i)
		require.Equal(t, math.Float64bits(want), math.Float64bits(out[i]), "%s batch row %d", label, i)
		require.Equal(t, math.Float64bits(want), math.Float64bits(portable[i]), "%s portable batch row %d", label, i)
		if w, ok := portableWalk(r, x); ok {
			require.Equal(t, math.Float64bits(want), math.Float64bits(w), "%s portable row %d", label, i)
		}
	}
}

func sumNodes(trees []tree) int {
	n := 0
	for _, tr := range trees {
		n += len(tr.nodes)
	}
	return n
}

// widen appends p-len(X[0]) uniform noise features to every row.
func widen(X [][]float64, p int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([][]float64, len(X))
	for i, x := range X {
		out[i] = append(append(make([]float64, 0, p), x...), make([]float64, p-len(x))...)
		for j := len(x); j < p; j++ {
			out[i][j] = rng.Float64()
		}
	}
	return out
}

func TestWideModelRoundTrip(t *testing.T) {
	X, y := friedman1(300, 1, 32)
	X = widen(X, blockFeatures+44, 33)
	r, err := Config{Trees: 5, Seed: 1}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	require.Nil(t, r.exits, "more features than a block can index")
	b, err := r.MarshalBinary()
	require.NoError(t, err)
	var back Regressor
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, r.NumNodes(), back.NumNodes())
	for i, x := range X[:100] {
		want, _ := r.Predict(x)
		got, err := back.Predict(x)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "row %d", i)
	}
	again, err := back.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, again)
}

// TestDecodedTreeShapes decodes hand-written trees in an order training
// never produces, with leaves at every level of a block, and checks
// predictions against the format's rule: x[feature] <= value goes left.
func TestDecodedTreeShapes(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocks=%v", blocks), func(t *testing.T) {
			useBlockLayout(t, blocks)
			testDecodedTreeShapes(t)
		})
	}
}

func testDecodedTreeShapes(t *testing.T) {
	// Tree 0: a lone leaf. Tree 1: a leaf right below the root, then a
	// path five splits deep that crosses from one block to the next:
	//
	//	0: x0 <= 0.5 ? 1 : 2
	//	1: leaf 10
	//	2: x1 <= 0.5 ? 3 : 4
	//	3: leaf 20
	//	4: x0 <= 0.75 ? 5 : 6
	//	5: leaf 30
	//	6: x1 <= 0.75 ? 7 : 8
	//	7: leaf 40
	//	8: x0 <= 0.9 ? 9 : 10
	//	9: leaf 50
	//	10: leaf 60
	data := encodeRegressor(2, [][]rawNode{
		{{feat: -1, v: 7}},
		{
			{feat: 0, left: 1, v: 0.5},
			{feat: -1, v: 10},
			{feat: 1, left: 3, v: 0.5},
			{feat: -1, v: 20},
			{feat: 0, left: 5, v: 0.75},
			{feat: -1, v: 30},
			{feat: 1, left: 7, v: 0.75},
			{feat: -1, v: 40},
			{feat: 0, left: 9, v: 0.9},
			{feat: -1, v: 50},
			{feat: -1, v: 60},
		},
	})
	var r Regressor
	require.NoError(t, r.UnmarshalBinary(data))
	assert.Equal(t, 12, r.NumNodes())
	cases := []struct {
		x    []float64
		leaf float64
	}{
		{[]float64{0.5, 0}, 10},
		{[]float64{0.6, 0.5}, 20},
		{[]float64{0.7, 0.6}, 30},
		{[]float64{0.8, 0.75}, 40},
		{[]float64{0.9, 0.8}, 50},
		{[]float64{0.95, 0.8}, 60},
		{[]float64{math.Inf(1), math.Inf(1)}, 60},
		{[]float64{math.Inf(-1), 1}, 10},
	}
	X := make([][]float64, len(cases))
	for i, c := range cases {
		X[i] = c.x
	}
	out := make([]float64, len(X))
	require.NoError(t, r.PredictBatch(X, out))
	portable := make([]float64, len(X))
	r.predictBatch(X, portable, true)
	for i, c := range cases {
		got, err := r.Predict(c.x)
		require.NoError(t, err)
		assert.Equal(t, (7+c.leaf)/2, got, "x=%v", c.x)
		assert.Equal(t, got, out[i], "x=%v batch", c.x)
		w, ok := portableWalk(&r, c.x)
		require.True(t, ok)
		assert.Equal(t, got, w, "x=%v portable", c.x)
		assert.Equal(t, got, portable[i], "x=%v portable batch", c.x)
	}
}

// TestLayoutClustersPages checks that a row's walk down a tree meets a new
// page seldom: laid out depth-first, this forest's walks would meet 0.62
// pages a block visited; clustered they meet 0.50.
func TestLayoutClustersPages(t *testing.T) {
	useBlockLayout(t, true)
	X, y := friedman1(4000, 1, 5)
	r, err := Config{Trees: 8, Seed: 2}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	require.NotNil(t, r.exits)
	rows, _ := friedman1(500, 1, 6)
	pages, visits := 0, 0
	for _, x := range rows {
		for _, e := range r.exits {
			page := -1
			for isChild(e) {
				b := int(childBlock(e))
				if b/pageBlocks != page {
					page = b / pageBlocks
					pages++
				}
				visits++
				e = r.blocks[b].exitOf(x, childSlot(e))
			}
		}
	}
	ratio := float64(pages) / float64(visits)
	assert.Less(t, ratio, 0.55, "pages met per block visited")
}
