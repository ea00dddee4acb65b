package scaler_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

func TestStandardLearnsMeanVarianceAndScale(t *testing.T) {
	s := scaler.NewStandard()
	fitRows(t, s, []float64{1, 10}, []float64{2, 20})
	fitRows(t, s, []float64{3, 30}, []float64{4, 40})

	assert.Equal(t, 2, s.NumFeatures())
	assert.Equal(t, []int64{4, 4}, s.Counts())
	assertNear(t, []float64{2.5, 25}, s.Mean(), 1e-15, 0, "mean")
	assertNear(t, []float64{1.25, 125}, s.Var(), 1e-15, 0, "var")
	assertNear(t, []float64{math.Sqrt(1.25), math.Sqrt(125)}, s.Scale(), 1e-15, 0, "scale")

	got := apply(t, s, []float64{1, 40}, []float64{2.5, 25})
	z := 1.5 / math.Sqrt(1.25)
	assertRowsNear(t, [][]float64{{-z, z}, {0, 0}}, got, 1e-15, 1e-15, "transformed")
}

func TestStandardZeroValueIsNewStandard(t *testing.T) {
	var zero scaler.Standard
	s := scaler.NewStandard()
	rows := [][]float64{{1, -3}, {5, 8}, {2, 2}}
	fitRows(t, &zero, rows...)
	fitRows(t, s, rows...)
	assert.Equal(t, apply(t, s, rows...), apply(t, &zero, rows...))
	assert.Equal(t, mustMarshal(t, s), mustMarshal(t, &zero))
}

func TestStandardConstantFeatureGetsScaleOne(t *testing.T) {
	s := scaler.NewStandard()
	// 0.1 is not exact in binary, so a mean computed as sum/n drifts off
	// it and gives a tiny non-zero variance; the shift makes it exactly 0.
	for i := 0; i < 50; i++ {
		fitRows(t, s, []float64{0.1, float64(i)}, []float64{0.1, float64(-i)}, []float64{0.1, 3})
	}
	assert.Equal(t, 0.0, s.Var()[0], "variance of a constant feature")
	assert.Equal(t, 1.0, s.Scale()[0])
	assert.Equal(t, 0.1, s.Mean()[0])
	got := apply(t, s, []float64{0.1, 0}, []float64{0.35, 0})
	assert.Equal(t, 0.0, got[0][0], "the constant itself maps to 0")
	assert.InDelta(t, 0.25, got[1][0], 1e-15, "other values are only shifted")
}

func TestStandardNaNIsMissing(t *testing.T) {
	nan := math.NaN()
	s := scaler.NewStandard()
	fitRows(t, s,
		[]float64{1, nan, nan},
		[]float64{nan, 4, nan},
		[]float64{3, 8, nan},
	)
	assert.Equal(t, []int64{2, 2, 0}, s.Counts(), "each feature counts its own values")
	assertNear(t, []float64{2, 6, 0}, s.Mean(), 1e-15, 1e-300, "mean")
	assertNear(t, []float64{1, 4, 0}, s.Var(), 1e-15, 1e-300, "var")

	got := apply(t, s, []float64{nan, 8, 7})
	assert.True(t, math.IsNaN(got[0][0]), "NaN passes through")
	assert.InDelta(t, 1.0, got[0][1], 1e-15)
	assert.Equal(t, 7.0, got[0][2], "a feature with no value yet passes through unchanged")

	// The third feature learns once values come.
	fitRows(t, s, []float64{nan, nan, 10}, []float64{nan, nan, 20})
	assert.Equal(t, []int64{2, 2, 2}, s.Counts())
	assert.InDelta(t, 15.0, s.Mean()[2], 1e-15)
	assert.InDelta(t, 25.0, s.Var()[2], 1e-13)
}

func TestStandardOptions(t *testing.T) {
	rows := [][]float64{{1, 100}, {3, 300}, {5, 200}, {7, 400}}
	probe := []float64{4, 50}
	ref := scaler.NewStandard()
	fitRows(t, ref, rows...)
	mean, scale := ref.Mean(), ref.Scale()

	cases := []struct {
		name string
		opts []scaler.StandardOption
		want []float64
	}{
		{"default", nil, []float64{(4 - mean[0]) / scale[0], (50 - mean[1]) / scale[1]}},
		{"no mean", []scaler.StandardOption{scaler.WithMean(false)}, []float64{4 / scale[0], 50 / scale[1]}},
		{"no std", []scaler.StandardOption{scaler.WithStd(false)}, []float64{4 - mean[0], 50 - mean[1]}},
		{"neither", []scaler.StandardOption{scaler.WithMean(false), scaler.WithStd(false)}, probe},
		{"both true", []scaler.StandardOption{scaler.WithMean(true), scaler.WithStd(true)}, []float64{(4 - mean[0]) / scale[0], (50 - mean[1]) / scale[1]}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := scaler.NewStandard(c.opts...)
			fitRows(t, s, rows...)
			assertNear(t, c.want, apply(t, s, probe)[0], 1e-14, 1e-14, "transformed")
			assertNear(t, mean, s.Mean(), 1e-15, 0, "mean is learned whatever the options")
			assertNear(t, ref.Var(), s.Var(), 1e-15, 0, "variance is learned whatever the options")
			assertNear(t, probe, invert(t, s, apply(t, s, probe)...)[0], 1e-14, 1, "inverse")
		})
	}
}

func TestStandardRefusesBadBatchWhole(t *testing.T) {
	good := [][]float64{{1, 2, 3}, {4, 5, 6}}
	cases := []struct {
		name            string
		rows            [][]float64
		sentinel        error
		record, feature int
		msg             string
	}{
		{"short record", [][]float64{{1, 2, 3}, {1, 2, 3}, {1, 2}}, scaler.ErrFeatureCount, 2, -1, "record 2: has 2 features, want 3"},
		{"long record", [][]float64{{1, 2, 3, 4}}, scaler.ErrFeatureCount, 0, -1, "record 0: has 4 features, want 3"},
		{"+Inf", [][]float64{{1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {1, math.Inf(1), 3}}, scaler.ErrInfinite, 3, 1, "record 3 feature 1: is +Inf"},
		{"-Inf late in the batch", [][]float64{{1, 2, 3}, {1, 2, math.Inf(-1)}}, scaler.ErrInfinite, 1, 2, "record 1 feature 2: is -Inf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := scaler.NewStandard()
			fitRows(t, s, good...)
			before := mustMarshal(t, s)

			err := s.Fit(ctx, batchOf(c.rows...))
			require.Error(t, err)
			assert.ErrorIs(t, err, c.sentinel)
			var ie *scaler.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, c.record, ie.Record)
			assert.Equal(t, c.feature, ie.Feature)
			assert.Contains(t, err.Error(), c.msg)
			assert.Contains(t, err.Error(), "scaler: ")
			assert.Equal(t, before, mustMarshal(t, s), "a refused batch leaves the scaler as it was")
		})
	}

	t.Run("first batch sets the width", func(t *testing.T) {
		s := scaler.NewStandard()
		err := s.Fit(ctx, batchOf([]float64{1, 2}, []float64{1, 2, 3}))
		require.ErrorIs(t, err, scaler.ErrFeatureCount)
		assert.Contains(t, err.Error(), "record 1: has 3 features, want 2")
		assert.Equal(t, 0, s.NumFeatures(), "a refused first batch teaches nothing")
		fitRows(t, s, []float64{1, 2, 3})
		assert.Equal(t, 3, s.NumFeatures())
	})

	t.Run("record without features", func(t *testing.T) {
		err := scaler.NewStandard().Fit(ctx, batchOf([]float64{}))
		require.ErrorIs(t, err, scaler.ErrFeatureCount)
		assert.Contains(t, err.Error(), "record 0")
	})

	t.Run("overflow", func(t *testing.T) {
		s := scaler.NewStandard()
		fitRows(t, s, good...)
		before := mustMarshal(t, s)
		err := s.Fit(ctx, batchOf([]float64{1, 2, 1e308}, []float64{1, 2, -1e308}))
		require.ErrorIs(t, err, scaler.ErrOverflow)
		assert.Contains(t, err.Error(), "feature 2")
		assert.Equal(t, before, mustMarshal(t, s))
	})

	t.Run("transform leaves a bad batch unchanged", func(t *testing.T) {
		s := scaler.NewStandard()
		fitRows(t, s, good...)
		b := batchOf([]float64{1, 2, 3}, []float64{4, 5, 6}, []float64{7, 8})
		for _, op := range []func(context.Context, *stream.Batch) error{s.Transform, s.Inverse, s.Freeze().Transform} {
			err := op(ctx, &b)
			require.ErrorIs(t, err, scaler.ErrFeatureCount)
			assert.Contains(t, err.Error(), "record 2")
			assert.Equal(t, [][]float64{{1, 2, 3}, {4, 5, 6}, {7, 8}}, rowsOf(b))
		}
	})
}

func TestStandardBeforeFit(t *testing.T) {
	s := scaler.NewStandard()
	b := batchOf([]float64{1, 2})
	assert.ErrorIs(t, s.Transform(ctx, &b), scaler.ErrNotFitted)
	assert.ErrorIs(t, s.Inverse(ctx, &b), scaler.ErrNotFitted)
	assert.ErrorIs(t, s.Freeze().Transform(ctx, &b), scaler.ErrNotFitted)
	assert.Equal(t, [][]float64{{1, 2}}, rowsOf(b))
	assert.Nil(t, s.Mean())
	assert.Nil(t, s.Var())
	assert.Nil(t, s.Counts())
	assert.Zero(t, s.NumFeatures())

	// Nothing to do is not an error, fitted or not.
	require.NoError(t, s.Fit(ctx, stream.Batch{}))
	assert.Zero(t, s.NumFeatures(), "an empty batch teaches nothing")
	assert.NoError(t, s.Transform(ctx, nil))
	assert.NoError(t, s.Transform(ctx, &stream.Batch{}))
}

func TestStandardHonoursCancelledContext(t *testing.T) {
	s := scaler.NewStandard()
	fitRows(t, s, []float64{1}, []float64{3})
	before := mustMarshal(t, s)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	b := batchOf([]float64{100})
	assert.ErrorIs(t, s.Fit(cancelled, b), context.Canceled)
	assert.ErrorIs(t, s.Transform(cancelled, &b), context.Canceled)
	assert.Equal(t, before, mustMarshal(t, s))
	assert.Equal(t, [][]float64{{100}}, rowsOf(b))
}

func TestStandardFreezeIsASnapshot(t *testing.T) {
	s := scaler.NewStandard()
	fitRows(t, s, []float64{1, 10}, []float64{3, 30})
	frozen, ok := s.Freeze().(*scaler.FrozenStandard)
	require.True(t, ok, "Freeze returns a *FrozenStandard")
	probe := []float64{2, 15}
	want := apply(t, frozen, probe)
	mean, variance, scale, counts := frozen.Mean(), frozen.Var(), frozen.Scale(), frozen.Counts()
	encoded := mustMarshal(t, frozen)
	assert.Equal(t, mustMarshal(t, s), encoded, "frozen and live encode the same state")

	fitRows(t, s, []float64{100, -5}, []float64{-40, 7}, []float64{math.NaN(), 1})
	other := scaler.NewStandard()
	fitRows(t, other, []float64{1e6, 1e6})
	require.NoError(t, s.Merge(other))
	require.NotEqual(t, mean, s.Mean(), "precondition: the live scaler moved on")

	assert.Equal(t, want, apply(t, frozen, probe))
	assert.Equal(t, mean, frozen.Mean())
	assert.Equal(t, variance, frozen.Var())
	assert.Equal(t, scale, frozen.Scale())
	assert.Equal(t, counts, frozen.Counts())
	assert.Equal(t, encoded, mustMarshal(t, frozen))
	assert.Equal(t, 2, frozen.NumFeatures())

	// Readers hand out copies, so a caller cannot change a frozen state.
	frozen.Mean()[0] = 42
	frozen.Scale()[0] = 42
	frozen.Counts()[0] = 42
	frozen.Var()[0] = 42
	assert.Equal(t, want, apply(t, frozen, probe))
	assert.Equal(t, mean, frozen.Mean())
}

func TestStandardInverseRoundTrips(t *testing.T) {
	rows := [][]float64{{1, -200, 0.001}, {2, 150, 0.002}, {7, 10, 0.0035}, {math.NaN(), 0, 0.0001}}
	for _, opts := range [][]scaler.StandardOption{nil, {scaler.WithMean(false)}, {scaler.WithStd(false)}} {
		s := scaler.NewStandard(opts...)
		fitRows(t, s, rows...)
		back := invert(t, s, apply(t, s, rows...)...)
		assertRowsNear(t, rows, back, 1e-14, 1e-300, "inverse of transform")
		frozen := s.Freeze().(*scaler.FrozenStandard)
		assertSameRows(t, back, invert(t, frozen, apply(t, frozen, rows...)...), "frozen inverse")
	}
}

func TestStandardMergeEdgeCases(t *testing.T) {
	rowsA := [][]float64{{1, 2}, {3, 5}, {math.NaN(), 9}}
	rowsB := [][]float64{{10, -2}, {12, -4}}

	t.Run("nil and empty are no-ops", func(t *testing.T) {
		s := scaler.NewStandard()
		fitRows(t, s, rowsA...)
		before := mustMarshal(t, s)
		require.NoError(t, s.Merge(nil))
		require.NoError(t, s.Merge(scaler.NewStandard()))
		assert.Equal(t, before, mustMarshal(t, s))
	})

	t.Run("into an empty scaler copies, keeping its options", func(t *testing.T) {
		src := scaler.NewStandard()
		fitRows(t, src, rowsA...)
		dst := scaler.NewStandard(scaler.WithMean(false))
		require.NoError(t, dst.Merge(src))
		assert.Equal(t, src.Counts(), dst.Counts())
		assert.Equal(t, src.Mean(), dst.Mean())
		assert.Equal(t, src.Var(), dst.Var())
		assert.Equal(t, []float64{1 / src.Scale()[0], 2 / src.Scale()[1]}, apply(t, dst, []float64{1, 2})[0], "no centering")
		// And the copy is independent of its source.
		fitRows(t, src, rowsB...)
		assert.Equal(t, []int64{2, 3}, dst.Counts())
	})

	t.Run("equals fitting both", func(t *testing.T) {
		a, b, both := scaler.NewStandard(), scaler.NewStandard(), scaler.NewStandard()
		fitRows(t, a, rowsA...)
		fitRows(t, b, rowsB...)
		fitRows(t, both, append(append([][]float64{}, rowsA...), rowsB...)...)
		require.NoError(t, a.Merge(b))
		assert.Equal(t, both.Counts(), a.Counts())
		assertNear(t, both.Mean(), a.Mean(), 1e-14, 0, "mean")
		assertNear(t, both.Var(), a.Var(), 1e-14, 0, "var")
	})

	t.Run("with itself doubles the counts only", func(t *testing.T) {
		s := scaler.NewStandard()
		fitRows(t, s, rowsA...)
		mean, variance := s.Mean(), s.Var()
		require.NoError(t, s.Merge(s))
		assert.Equal(t, []int64{4, 6}, s.Counts())
		assertNear(t, mean, s.Mean(), 1e-15, 0, "mean")
		assertNear(t, variance, s.Var(), 1e-15, 0, "var")
	})

	t.Run("different widths", func(t *testing.T) {
		a, b := scaler.NewStandard(), scaler.NewStandard()
		fitRows(t, a, rowsA...)
		fitRows(t, b, []float64{1, 2, 3})
		before := mustMarshal(t, a)
		err := a.Merge(b)
		require.ErrorIs(t, err, scaler.ErrFeatureCount)
		assert.Contains(t, err.Error(), "3 features into one of 2")
		assert.Equal(t, before, mustMarshal(t, a))
	})

	t.Run("a feature unseen on one side", func(t *testing.T) {
		a, b := scaler.NewStandard(), scaler.NewStandard()
		fitRows(t, a, []float64{1, math.NaN()}, []float64{3, math.NaN()})
		fitRows(t, b, []float64{math.NaN(), 1e9}, []float64{math.NaN(), 1e9 + 2})
		require.NoError(t, a.Merge(b))
		assert.Equal(t, []int64{2, 2}, a.Counts())
		assert.Equal(t, []float64{2, 1e9 + 1}, a.Mean())
		assert.Equal(t, []float64{1, 1}, a.Var())
	})
}

func TestStandardKeepsTheTransformerContract(t *testing.T) {
	sample := batchOf([]float64{1, 2, 3}, []float64{4, 5, 6}, []float64{-7, 0.5, math.NaN()}, []float64{2, 2, 2})
	streamtest.TestTransformer(t, scaler.NewStandard(), sample)
	streamtest.TestTransformer(t, scaler.NewStandard(scaler.WithMean(false)), sample)
}

func TestInputErrorMessage(t *testing.T) {
	err := error(&scaler.InputError{Err: scaler.ErrInfinite, Record: 7, Feature: 2, Detail: "is +Inf"})
	assert.Equal(t, "scaler: infinite feature value: record 7 feature 2: is +Inf", err.Error())
	assert.True(t, errors.Is(err, scaler.ErrInfinite))
	assert.False(t, errors.Is(err, scaler.ErrFeatureCount))
}
