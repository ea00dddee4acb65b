package scaler_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

// num is a float64 that reads JSON null as NaN, which is how
// testdata/make_fixture.py writes NaN.
type num float64

func (n *num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = num(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = num(f)
	return err
}

func floats(v []num) []float64 {
	if v == nil {
		return nil
	}
	f := make([]float64, len(v))
	for i := range v {
		f[i] = float64(v[i])
	}
	return f
}

func fxRows(v [][]num) [][]float64 {
	r := make([][]float64, len(v))
	for i := range v {
		r[i] = floats(v[i])
	}
	return r
}

type fixture struct {
	Sklearn string    `json:"sklearn"`
	Batches [][][]num `json:"batches"`
	Probe   [][]num   `json:"probe"`
	Cases   []struct {
		Name     string `json:"name"`
		Kind     string `json:"kind"`
		WithMean bool   `json:"with_mean"`
		WithStd  bool   `json:"with_std"`
		Range    []num  `json:"range"`
		Steps    []struct {
			Count       []int64 `json:"count"`
			Mean        []num   `json:"mean"`
			Var         []num   `json:"var"`
			Scale       []num   `json:"scale"`
			Min         []num   `json:"min"`
			Max         []num   `json:"max"`
			Offset      []num   `json:"offset"`
			Transformed [][]num `json:"transformed"`
		} `json:"steps"`
	} `json:"cases"`
}

// TestAgreesWithScikitLearn replays the fixture's batches through each
// scaler, as partial_fit calls, and compares the statistics and the
// transformed probe batch after every batch with scikit-learn's.
func TestAgreesWithScikitLearn(t *testing.T) {
	data, err := os.ReadFile("testdata/sklearn_fixture.json")
	require.NoError(t, err)
	var fx fixture
	require.NoError(t, json.Unmarshal(data, &fx))
	require.Len(t, fx.Cases, 5, "fixture cases")
	require.NotEmpty(t, fx.Batches)
	probe := fxRows(fx.Probe)

	// Relative tolerance. near scales it by the larger of |want| and a
	// floor; the floors make room for values that are 0 in exact arithmetic:
	// scikit-learn gives the constant feature a variance near 1e-32 where
	// this package gives exactly 0.
	const rel = 1e-12
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Steps)
			var f stream.Fitter
			switch c.Kind {
			case "standard":
				f = scaler.NewStandard(scaler.WithMean(c.WithMean), scaler.WithStd(c.WithStd))
			case "minmax":
				require.Len(t, c.Range, 2)
				m, err := scaler.NewMinMax(float64(c.Range[0]), float64(c.Range[1]))
				require.NoError(t, err)
				f = m
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
			for i, step := range c.Steps {
				require.NoError(t, f.Fit(ctx, batchOf(fxRows(fx.Batches[i])...)))
				at := fmt.Sprintf("after batch %d: ", i)
				switch s := f.(type) {
				case *scaler.Standard:
					assert.Equal(t, step.Count, s.Counts(), at+"count")
					assertNear(t, floats(step.Mean), s.Mean(), rel, 1e-300, at+"mean")
					if step.Var != nil { // scikit-learn learns no variance without with_std
						assertNear(t, floats(step.Var), s.Var(), rel, 1e-18, at+"var")
						assertNear(t, floats(step.Scale), s.Scale(), rel, 0, at+"scale")
					} else {
						for j, sc := range s.Scale() {
							assert.Equalf(t, 1.0, sc, at+"scale[%d] without with_std", j)
						}
					}
				case *scaler.MinMax:
					assert.Equal(t, step.Count, s.Counts(), at+"count")
					assert.Equal(t, floats(step.Min), s.Min(), at+"min")
					assert.Equal(t, floats(step.Max), s.Max(), at+"max")
				}
				assertRowsNear(t, fxRows(step.Transformed), apply(t, f, probe...), rel, 1e-12, at+"transformed")
				assertRowsNear(t, fxRows(step.Transformed), apply(t, f.Freeze(), probe...), rel, 1e-12, at+"frozen transformed")
			}
		})
	}
}
