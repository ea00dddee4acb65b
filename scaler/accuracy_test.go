package scaler_test

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

// twoPass is the reference: mean and population variance per feature over
// all rows at once, NaN left out, in two plain float64 passes.
func twoPass(rows [][]float64) (mean, variance []float64) {
	d := len(rows[0])
	mean, variance = make([]float64, d), make([]float64, d)
	n := make([]float64, d)
	for _, r := range rows {
		for j, v := range r {
			if !math.IsNaN(v) {
				n[j]++
				mean[j] += v
			}
		}
	}
	for j := range mean {
		mean[j] /= n[j]
	}
	for _, r := range rows {
		for j, v := range r {
			if !math.IsNaN(v) {
				variance[j] += (v - mean[j]) * (v - mean[j])
			}
		}
	}
	for j := range variance {
		variance[j] /= n[j]
	}
	return mean, variance
}

// exactMoments is the reference for hard data, where plain float64 sums
// lose digits: the mean from an exact sum, then the squared deviations in
// float64 (each deviation is exact, being between nearby numbers).
func exactMoments(rows [][]float64, j int) (mean, variance float64) {
	sum := new(big.Float).SetPrec(512)
	for _, r := range rows {
		sum.Add(sum, new(big.Float).SetFloat64(r[j]))
	}
	sum.Quo(sum, new(big.Float).SetInt64(int64(len(rows))))
	mean, _ = sum.Float64()
	var m2 float64
	for _, r := range rows {
		e := r[j] - mean
		m2 += e * e
	}
	return mean, m2 / float64(len(rows))
}

// feed fits rows to f in consecutive batches whose sizes next() picks.
func feed(t testing.TB, f stream.Fitter, rows [][]float64, next func() int) {
	t.Helper()
	for i := 0; i < len(rows); {
		k := min(next(), len(rows)-i)
		require.NoError(t, f.Fit(ctx, batchOf(rows[i:i+k]...)))
		i += k
	}
}

// ordinaryRows has features of very different magnitudes, none with a mean
// near 0 (where a relative error means nothing), and some missing values.
func ordinaryRows(r *rand.Rand, n int) [][]float64 {
	means := []float64{5, -300, 1.5e4, 0.02, 70, 1}
	spreads := []float64{2, 40, 3e3, 0.005, 0.1, 0.3}
	rows := make([][]float64, n)
	for i := range rows {
		row := make([]float64, len(means))
		for j := range row {
			row[j] = means[j] + spreads[j]*r.NormFloat64()
		}
		if r.IntN(20) == 0 {
			row[r.IntN(len(row))] = math.NaN()
		}
		rows[i] = row
	}
	return rows
}

func TestStandardAgreesWithTwoPassOnOrdinaryData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rows := ordinaryRows(r, 20000)
	wantMean, wantVar := twoPass(rows)
	for _, maxBatch := range []int{1, 16, 256, 5000, 20000} {
		t.Run(fmt.Sprintf("batches up to %d", maxBatch), func(t *testing.T) {
			s := scaler.NewStandard()
			feed(t, s, rows, func() int { return 1 + r.IntN(maxBatch) })
			assertNear(t, wantMean, s.Mean(), 1e-12, 0, "mean")
			assertNear(t, wantVar, s.Var(), 1e-12, 0, "var")
		})
	}
}

func TestStandardStaysAccurateOnHardData(t *testing.T) {
	// Values near 1e9 that differ by about 1: the naive sum-of-squares
	// formula loses every digit here, and plain running means lose several.
	r := rand.New(rand.NewPCG(3, 4))
	const n = 30000
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = []float64{1e9 + r.NormFloat64(), -1e9 + 0.5*r.NormFloat64() + 3}
	}
	var want [2][2]float64
	for j := range want {
		want[j][0], want[j][1] = exactMoments(rows, j)
	}
	sizes := map[string]func() int{
		"1":              func() int { return 1 },
		"7":              func() int { return 7 },
		"256":            func() int { return 256 },
		"10000":          func() int { return 10000 },
		"random 1-10000": func() int { return 1 + r.IntN(10000) },
		"random 1-10":    func() int { return 1 + r.IntN(10) },
	}
	for name, next := range sizes {
		t.Run("batches of "+name, func(t *testing.T) {
			s := scaler.NewStandard()
			feed(t, s, rows, next)
			for j := range want {
				assert.LessOrEqualf(t, relErr(s.Var()[j], want[j][1]), 1e-9, "variance of feature %d: %v, want %v", j, s.Var()[j], want[j][1])
				assert.LessOrEqualf(t, relErr(s.Mean()[j], want[j][0]), 1e-15, "mean of feature %d", j)
			}
		})
	}
}

// TestMergeEqualsOneScaler is the property that makes parallel learning
// possible: any split of a stream over several scalers, merged, gives what
// one scaler fed the whole stream gives.
func TestMergeEqualsOneScaler(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(2000)
		d := 1 + r.IntN(8)
		rows := make([][]float64, n)
		for i := range rows {
			rows[i] = make([]float64, d)
			for j := range rows[i] {
				rows[i][j] = float64(j*100) + float64(j+1)*r.NormFloat64()
				if r.IntN(10) == 0 {
					rows[i][j] = math.NaN()
				}
			}
		}
		parts := 2 + r.IntN(3)
		whole := scaler.NewStandard()
		wholeMM := &scaler.MinMax{}
		split := make([]*scaler.Standard, parts)
		splitMM := make([]*scaler.MinMax, parts)
		for p := range split {
			split[p] = scaler.NewStandard()
			splitMM[p] = &scaler.MinMax{}
		}
		// Random batches, each sent to a random part.
		for i := 0; i < n; {
			k := min(1+r.IntN(300), n-i)
			b := batchOf(rows[i : i+k]...)
			p := r.IntN(parts)
			require.NoError(t, split[p].Fit(ctx, b))
			require.NoError(t, splitMM[p].Fit(ctx, b))
			require.NoError(t, whole.Fit(ctx, b))
			require.NoError(t, wholeMM.Fit(ctx, b))
			i += k
		}
		merged, mergedMM := scaler.NewStandard(), &scaler.MinMax{}
		for p := range split {
			require.NoError(t, merged.Merge(split[p]))
			require.NoError(t, mergedMM.Merge(splitMM[p]))
		}
		what := fmt.Sprintf("trial %d (%d rows, %d features, %d parts)", trial, n, d, parts)
		require.Equal(t, whole.Counts(), merged.Counts(), what)
		assertNear(t, whole.Mean(), merged.Mean(), 1e-12, 1, what+" mean")
		assertNear(t, whole.Var(), merged.Var(), 1e-12, 0, what+" var")
		// Min and max merge exactly.
		require.Equal(t, wholeMM.Counts(), mergedMM.Counts(), what)
		require.Equal(t, wholeMM.Min(), mergedMM.Min(), what)
		require.Equal(t, wholeMM.Max(), mergedMM.Max(), what)
	}
}
