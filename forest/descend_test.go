package forest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDescendRoundMatchesPortable runs descendRound and descendRoundGo
// round by round from the same state and checks that after every round the
// same trees still walk, at the same exits, and that the same leaf values
// were stored. The two may order the trees differently.
func TestDescendRoundMatchesPortable(t *testing.T) {
	useBlockLayout(t, true)
	X, y := friedman1(800, 1, 40)
	r, err := Config{Trees: 20, Seed: 5}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	require.NotNil(t, r.exits)
	for i, x := range X[:50] {
		var cur, curGo []uint64
		var tid, tidGo []int32
		for ti, e := range r.exits {
			if isChild(e) {
				cur, tid = append(cur, e), append(tid, int32(ti))
			}
		}
		curGo, tidGo = slices.Clone(cur), slices.Clone(tid)
		vals, valsGo := make([]float64, len(r.exits)), make([]float64, len(r.exits))
		for round := 0; len(cur) > 0; round++ {
			n := descendRound(r.blocks, x, cur, tid, vals)
			nGo := descendRoundGo(r.blocks, x, curGo, tidGo, valsGo)
			require.Equal(t, nGo, n, "row %d round %d: trees still walking", i, round)
			cur, tid, curGo, tidGo = cur[:n], tid[:n], curGo[:nGo], tidGo[:nGo]
			require.Equal(t, walkState(curGo, tidGo), walkState(cur, tid), "row %d round %d", i, round)
			require.Equal(t, valsGo, vals, "row %d round %d: leaf values", i, round)
		}
		for ti, e := range r.exits {
			if isChild(e) {
				require.Equal(t, math.Float64bits(leafValue(r, e, x)), math.Float64bits(vals[ti]), "row %d tree %d", i, ti)
			}
		}
	}
}

// TestDescendRowsMatchesPortable does the same for the batch walk, many
// rows through one tree, including rows that reach their leaves in
// different rounds.
func TestDescendRowsMatchesPortable(t *testing.T) {
	useBlockLayout(t, true)
	X, y := friedman1(800, 1, 41)
	r, err := Config{Trees: 3, Seed: 6}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	for ti, root := range r.exits {
		require.True(t, isChild(root))
		rows := X[:groupSize]
		cur := make([]uint64, len(rows))
		for k := range cur {
			cur[k] = root
		}
		curGo := slices.Clone(cur)
		xs, xsGo := slices.Clone(rows), slices.Clone(rows)
		acc, accGo := make([]float64, len(rows)), make([]float64, len(rows))
		accs, accsGo := make([]*float64, len(rows)), make([]*float64, len(rows))
		for k := range rows {
			accs[k], accsGo[k] = &acc[k], &accGo[k]
		}
		for round := 0; len(cur) > 0; round++ {
			n := descendRows(r.blocks, xs, cur, accs)
			nGo := descendRowsGo(r.blocks, xsGo, curGo, accsGo)
			require.Equal(t, nGo, n, "tree %d round %d: rows still walking", ti, round)
			cur, xs, accs = cur[:n], xs[:n], accs[:n]
			curGo, xsGo, accsGo = curGo[:nGo], xsGo[:nGo], accsGo[:nGo]
			require.Equal(t, accGo, acc, "tree %d round %d", ti, round)
		}
		for k, x := range rows {
			require.Equal(t, math.Float64bits(leafValue(r, root, x)), math.Float64bits(acc[k]), "tree %d row %d", ti, k)
		}
	}
}

// leafValue walks x from exit e block by block, as the portable walks do.
func leafValue(r *Regressor, e uint64, x []float64) float64 {
	for isChild(e) {
		e = r.blocks[childBlock(e)].exitOf(x, childSlot(e))
	}
	return math.Float64frombits(e)
}
