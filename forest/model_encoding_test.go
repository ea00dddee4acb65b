package forest

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

var schema10 = stream.Schema{Features: []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9"}, Target: "y"}

func requireSameBits(t *testing.T, want, got []float64, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
			t.Fatalf("%s %d: %v then %v", what, i, want[i], got[i])
		}
	}
}

// A large regressor (more trees than one scoring chunk, deep trees) trained
// through Train scores bit for bit after a round trip in a Model, row by
// row and in batches, with NaN and extreme inputs.
func TestRegressorInAModelBitForBit(t *testing.T) {
	X, y := friedman1(2000, 0.5, 11)
	pred, err := Config{Trees: 300, Seed: 4}.Train(context.Background(), schema10, X, y)
	require.NoError(t, err)
	m := &stream.Model{Schema: schema10, Predictor: pred, Version: 3, TrainedOn: len(y)}
	m.HeldOut = pred.(stream.HeldOutReporter).HeldOut()
	back := streamtest.TestModelEncoding(t, m, nil)
	assert.Equal(t, math.Float64bits(m.HeldOut.MSE), math.Float64bits(back.HeldOut.MSE))
	assert.Equal(t, back.HeldOut, back.Predictor.(stream.HeldOutReporter).HeldOut(), "the decoded predictor reports what the model does")

	rows := append([][]float64{}, X[:500]...)
	rows = append(rows, []float64{math.NaN(), 0, 0, 0, 0, 0, 0, 0, 0, 0}, []float64{math.Inf(1), math.Inf(-1), 1e308, math.Copysign(0, -1), 5e-324, 0, 0, 0, 0, 0})
	var b stream.Batch
	for _, r := range rows {
		b.Records = append(b.Records, stream.Record{Features: r})
	}
	want, got := make([]float64, len(rows)), make([]float64, len(rows))
	wantErr := m.PredictBatch(context.Background(), b, want)
	gotErr := back.PredictBatch(context.Background(), b, got)
	assert.Equal(t, wantErr, gotErr)
	requireSameBits(t, want, got, "batch row")
	for i, r := range rows {
		w, werr := m.Predict(r)
		g, gerr := back.Predict(r)
		assert.Equal(t, werr, gerr)
		require.Equal(t, math.Float64bits(w), math.Float64bits(g), "row %d", i)
	}
}

// A classifier model's probabilities, asked through Transform as the Model
// doc suggests, are bit for bit too.
func TestClassifierInAModelProbabilities(t *testing.T) {
	X, labels := blobs(400, 9)
	cl, err := ClassifierConfig{Trees: 20}.Fit(context.Background(), X, labels)
	require.NoError(t, err)
	m := &stream.Model{Schema: stream.Schema{Features: []string{"a", "b", "c", "d"}}, Predictor: cl, Version: 1}
	back := streamtest.TestModelEncoding(t, m, nil)
	bcl, ok := back.Predictor.(*Classifier)
	require.True(t, ok)
	assert.Equal(t, cl.NumClasses(), bcl.NumClasses())
	assert.Equal(t, cl.FeatureImportances(), bcl.FeatureImportances())
	for i, x := range append(X[:100], []float64{math.NaN(), 1, 2, 3}) {
		xt, err := m.Transform(x)
		require.NoError(t, err)
		pw, werr := cl.Probabilities(xt, nil)
		xb, err := back.Transform(x)
		require.NoError(t, err)
		pg, gerr := bcl.Probabilities(xb, nil)
		require.Equal(t, werr, gerr)
		requireSameBits(t, pw, pg, "probability")
		w, _ := m.Predict(x)
		g, _ := back.Predict(x)
		require.Equal(t, math.Float64bits(w), math.Float64bits(g), "row %d", i)
	}
}

// An untrained or nil forest in a Model is an error at MarshalBinary, not a
// panic.
func TestUntrainedOrNilForestCannotBeSaved(t *testing.T) {
	for name, p := range map[string]stream.Predictor{
		"untrained Regressor":  &Regressor{},
		"nil *Regressor":       (*Regressor)(nil),
		"untrained Classifier": &Classifier{},
		"nil *Classifier":      (*Classifier)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			m := &stream.Model{Schema: schema10, Predictor: p, Version: 1}
			var err error
			assert.NotPanics(t, func() { _, err = m.MarshalBinary() })
			assert.Error(t, err)
		})
	}
}

// A corrupted forest part under a recomputed model checksum wraps both
// stream's and forest's format errors.
func TestCorruptForestPartInAModel(t *testing.T) {
	X, y := friedman1(300, 0.5, 1)
	r, err := Config{Trees: 3, Seed: 1}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	data, err := (&stream.Model{Schema: schema10, Predictor: r, Version: 1}).MarshalBinary()
	require.NoError(t, err)
	bad := append([]byte(nil), data[:len(data)-4]...)
	bad[len(bad)-10] ^= 0xff // inside the forest's bytes, its own checksum
	bad = binary.LittleEndian.AppendUint32(bad, crc32.Checksum(bad, crc32.MakeTable(crc32.Castagnoli)))
	var m stream.Model
	err = m.UnmarshalBinary(bad)
	assert.ErrorIs(t, err, stream.ErrModelFormat)
	assert.ErrorIs(t, err, ErrFormat)
}
