package stream_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/forestream/forestream/stream"
)

func TestMeasure(t *testing.T) {
	a := stream.Measure([]float64{1, 2, 4, 0, 9}, []float64{1, 3, 2, 0})
	assert.Equal(t, 4, a.N, "paired over the shorter")
	assert.InDelta(t, 3.0/4, a.MAE, 1e-15)
	assert.InDelta(t, math.Sqrt(5.0/4), a.RMSE, 1e-15)
	// targets 1, 3, 2, 0: mean 1.5, sum of squares 5, errors' squares 5
	assert.InDelta(t, 0, a.R2, 1e-15)
	assert.Equal(t, 0.5, a.Correct, "two of the four class indices match")

	none := stream.Measure(nil, nil)
	assert.Zero(t, none.N)
	for name, v := range map[string]float64{"MAE": none.MAE, "RMSE": none.RMSE, "R2": none.R2, "Correct": none.Correct} {
		assert.True(t, math.IsNaN(v), "%s of nothing is NaN, not %v", name, v)
	}
}
