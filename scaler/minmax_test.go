package scaler_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream/streamtest"
)

func TestMinMaxMapsOntoTheRange(t *testing.T) {
	var m scaler.MinMax // the zero value maps onto [0, 1]
	fitRows(t, &m, []float64{2, -10}, []float64{4, 0})
	fitRows(t, &m, []float64{3, 30})
	lo, hi := m.Range()
	assert.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
	assert.Equal(t, []float64{2, -10}, m.Min())
	assert.Equal(t, []float64{4, 30}, m.Max())
	assert.Equal(t, []int64{3, 3}, m.Counts())
	assertRowsNear(t, [][]float64{{0, 0}, {1, 1}, {0.5, 0.25}, {5, -0.25}},
		apply(t, &m, []float64{2, -10}, []float64{4, 30}, []float64{3, 0}, []float64{12, -20}),
		1e-15, 1e-15, "transformed (no clipping outside the learned range)")

	r, err := scaler.NewMinMax(-1, 2)
	require.NoError(t, err)
	fitRows(t, r, []float64{2, -10}, []float64{4, 30})
	lo, hi = r.Range()
	assert.Equal(t, [2]float64{-1, 2}, [2]float64{lo, hi})
	assertRowsNear(t, [][]float64{{-1, -1}, {2, 2}, {0.5, -0.25}}, apply(t, r, []float64{2, -10}, []float64{4, 30}, []float64{3, 0}), 1e-15, 1e-15, "transformed onto [-1, 2]")
}

func TestMinMaxConstantAndMissing(t *testing.T) {
	nan := math.NaN()
	m, err := scaler.NewMinMax(-5, 5)
	require.NoError(t, err)
	fitRows(t, m, []float64{7, nan, nan}, []float64{7, 1, nan}, []float64{7, 3, nan})
	assert.Equal(t, []int64{3, 2, 0}, m.Counts())
	got := apply(t, m, []float64{7, nan, 9}, []float64{7.5, 2, -1})
	assert.Equal(t, -5.0, got[0][0], "a constant feature maps to the low end")
	assert.Equal(t, 0.0, got[1][0], "a constant feature has a learned range of 1: 7.5 is half way")
	assert.True(t, math.IsNaN(got[0][1]), "NaN passes through")
	assert.Equal(t, 0.0, got[1][1])
	assert.Equal(t, []float64{9, -1}, []float64{got[0][2], got[1][2]}, "a feature with no value yet passes through")
}

func TestNewMinMaxRefusesBadRanges(t *testing.T) {
	for _, r := range [][2]float64{{1, 1}, {2, 1}, {math.NaN(), 1}, {0, math.Inf(1)}, {math.Inf(-1), 0}, {-math.MaxFloat64, math.MaxFloat64}} {
		m, err := scaler.NewMinMax(r[0], r[1])
		assert.ErrorIsf(t, err, scaler.ErrRange, "range %v", r)
		assert.Nilf(t, m, "range %v", r)
	}
}

func TestMinMaxRefusesBadBatchWhole(t *testing.T) {
	m := &scaler.MinMax{}
	fitRows(t, m, []float64{1, 2}, []float64{3, 4})
	before := mustMarshal(t, m)

	err := m.Fit(ctx, batchOf([]float64{0, 0}, []float64{-100, math.Inf(1)}))
	require.ErrorIs(t, err, scaler.ErrInfinite)
	assert.Contains(t, err.Error(), "record 1 feature 1")
	err = m.Fit(ctx, batchOf([]float64{0, 0}, []float64{-100, 9}, []float64{1}))
	require.ErrorIs(t, err, scaler.ErrFeatureCount)
	assert.Contains(t, err.Error(), "record 2")
	err = m.Fit(ctx, batchOf([]float64{-1e308, 1}, []float64{1e308, 1}))
	require.ErrorIs(t, err, scaler.ErrOverflow)
	assert.Equal(t, before, mustMarshal(t, m), "a refused batch leaves the scaler as it was")

	b := batchOf([]float64{1, 2}, []float64{1, 2, 3})
	require.ErrorIs(t, m.Transform(ctx, &b), scaler.ErrFeatureCount)
	assert.Equal(t, [][]float64{{1, 2}, {1, 2, 3}}, rowsOf(b), "a refused batch is not transformed")

	var fresh scaler.MinMax
	require.ErrorIs(t, fresh.Transform(ctx, &b), scaler.ErrNotFitted)
	require.ErrorIs(t, fresh.Inverse(ctx, &b), scaler.ErrNotFitted)
	require.ErrorIs(t, fresh.Fit(ctx, batchOf([]float64{})), scaler.ErrFeatureCount)
}

func TestMinMaxFreezeInverseAndMerge(t *testing.T) {
	m, err := scaler.NewMinMax(-1, 1)
	require.NoError(t, err)
	rows := [][]float64{{1, 100, 5}, {3, -100, 5}, {2, 50, math.NaN()}}
	fitRows(t, m, rows...)
	frozen, ok := m.Freeze().(*scaler.FrozenMinMax)
	require.True(t, ok, "Freeze returns a *FrozenMinMax")
	want := apply(t, frozen, rows...)
	assertSameRows(t, want, apply(t, m, rows...), "frozen and live agree")
	assertRowsNear(t, rows, invert(t, frozen, want...), 1e-15, 1e-300, "frozen inverse")
	assertRowsNear(t, rows, invert(t, m, want...), 1e-15, 1e-300, "inverse")

	other := &scaler.MinMax{}
	fitRows(t, other, []float64{-50, 0, 0}, []float64{50, 0, 10})
	require.NoError(t, m.Merge(other))
	assert.Equal(t, []float64{-50, -100, 0}, m.Min())
	assert.Equal(t, []float64{50, 100, 10}, m.Max())
	assert.Equal(t, []int64{5, 5, 4}, m.Counts())
	lo, hi := m.Range()
	assert.Equal(t, [2]float64{-1, 1}, [2]float64{lo, hi}, "Merge keeps the receiver's range")

	// The frozen copy did not move.
	assertSameRows(t, want, apply(t, frozen, rows...), "frozen after Merge")
	assert.Equal(t, []float64{1, -100, 5}, frozen.Min())
	assert.Equal(t, []float64{3, 100, 5}, frozen.Max())
	assert.Equal(t, []int64{3, 3, 2}, frozen.Counts())
	assert.Equal(t, 3, frozen.NumFeatures())
	flo, fhi := frozen.Range()
	assert.Equal(t, [2]float64{-1, 1}, [2]float64{flo, fhi})

	before := mustMarshal(t, m)
	wide := &scaler.MinMax{}
	fitRows(t, wide, []float64{1, 2})
	require.ErrorIs(t, m.Merge(wide), scaler.ErrFeatureCount)
	require.NoError(t, m.Merge(nil))
	require.NoError(t, m.Merge(&scaler.MinMax{}))
	assert.Equal(t, before, mustMarshal(t, m))
}

func TestMinMaxKeepsTheTransformerContract(t *testing.T) {
	sample := batchOf([]float64{1, 2, 3}, []float64{4, 5, 6}, []float64{-7, 0.5, math.NaN()}, []float64{2, 2, 2})
	streamtest.TestTransformer(t, &scaler.MinMax{}, sample)
}

// TestMinMaxMergeRefusesOverflow: Merge, like Fit, refuses a combined range
// that does not fit in a float64, rather than learn a state that maps every
// value to lo and that UnmarshalBinary refuses.
func TestMinMaxMergeRefusesOverflow(t *testing.T) {
	a, b := &scaler.MinMax{}, &scaler.MinMax{}
	fitRows(t, a, []float64{1, -1e308}, []float64{2, -1e308})
	fitRows(t, b, []float64{3, 1e308})
	before := mustMarshal(t, a)

	err := a.Merge(b)
	require.ErrorIs(t, err, scaler.ErrOverflow)
	assert.Contains(t, err.Error(), "feature 1")
	assert.Equal(t, before, mustMarshal(t, a), "a refused merge leaves the scaler as it was")
	var back scaler.MinMax
	require.NoError(t, back.UnmarshalBinary(mustMarshal(t, a)), "what Merge leaves decodes")
}

// A target range far wider (or narrower) than the data's makes the scale
// overflow (or underflow); Fit refuses it rather than learn a state whose
// Transform gives NaN (or whose Inverse divides by zero).
func TestMinMaxRefusesAScaleThatDoesNotFit(t *testing.T) {
	wide, err := scaler.NewMinMax(0, 1e300)
	require.NoError(t, err)
	err = wide.Fit(context.Background(), batchOf([]float64{0}, []float64{1e-10}))
	require.ErrorIs(t, err, scaler.ErrOverflow)
	assert.Contains(t, err.Error(), "feature 0")
	assert.Zero(t, wide.NumFeatures(), "a refused Fit leaves the scaler as it was")

	narrow, err := scaler.NewMinMax(0, 1e-300)
	require.NoError(t, err)
	require.ErrorIs(t, narrow.Fit(context.Background(), batchOf([]float64{-1e300}, []float64{1e300})), scaler.ErrOverflow)

	// Merge checks the same.
	a, err := scaler.NewMinMax(0, 1e300)
	require.NoError(t, err)
	fitRows(t, a, []float64{0})
	b := &scaler.MinMax{}
	fitRows(t, b, []float64{1e-10})
	require.ErrorIs(t, a.Merge(b), scaler.ErrOverflow)
}

// Merge checks a range against m's target range as Fit does, also for a
// feature m has not seen, so that it never takes a state that maps every
// value to NaN and that the decoder refuses.
func TestMinMaxMergeChecksUnseenFeatures(t *testing.T) {
	other := &scaler.MinMax{} // onto [0, 1] this range maps fine
	require.NoError(t, other.Fit(ctx, batchOf([]float64{0, 0}, []float64{1e-10, 1e-10})))

	for name, prep := range map[string]func(*scaler.MinMax) error{
		"empty": func(*scaler.MinMax) error { return nil },
		"feature seen": func(m *scaler.MinMax) error {
			return m.Fit(ctx, batchOf([]float64{math.NaN(), 0}, []float64{math.NaN(), 1}))
		},
	} {
		wide, err := scaler.NewMinMax(0, 1e300)
		require.NoError(t, err)
		require.NoError(t, prep(wide))
		before, err := wide.MarshalBinary()
		require.NoError(t, err)
		require.ErrorIs(t, wide.Fit(ctx, batchOf([]float64{0, 0}, []float64{1e-10, 0})), scaler.ErrOverflow, "Fit refuses this range")

		assert.ErrorIs(t, wide.Merge(other), scaler.ErrOverflow, name)
		after, err := wide.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, before, after, "%s: a refused Merge changes nothing", name)
	}
}
