package stream_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// Transform gives exactly the row the Predictor scores, and leaves raw as
// it was.
func TestModelTransformIsWhatThePredictorSees(t *testing.T) {
	double := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for _, r := range b.Records {
			for j := range r.Features {
				r.Features[j] *= 2
			}
		}
		return nil
	})
	var seen []float64
	spy := stream.PredictFunc(func(x []float64) (float64, error) { seen = append([]float64(nil), x...); return 0, nil })
	m := &stream.Model{Schema: testSchema, Transformers: []stream.Transformer{double, double}, Predictor: spy, Version: 1}
	raw := []float64{1, 2, 3}
	got, err := m.Transform(raw)
	require.NoError(t, err)
	_, err = m.Predict(raw)
	require.NoError(t, err)
	assert.Equal(t, seen, got)
	assert.Equal(t, []float64{4, 8, 12}, got)
	assert.Equal(t, []float64{1, 2, 3}, raw, "raw is not changed")

	_, err = m.Transform([]float64{1})
	assert.ErrorIs(t, err, stream.ErrFeatureCount)
}
