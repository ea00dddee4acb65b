package forest

import (
	"fmt"
	"math"
)

// maxTargetSum bounds the sum of |target| over the rows, far enough below
// √MaxFloat64 (about 1.3e154) that squared sums stay finite.
const maxTargetSum = 1e150

// maxTarget is the bound Config.CheckTarget puts on one |target|: with it,
// no window of fewer than 1e10 rows, more than any machine holds, reaches
// maxTargetSum.
const maxTarget = 1e140

// validateXY checks the training data every trainer needs: a non-empty,
// rectangular, finite matrix and exactly one finite target per row. It
// returns the number of features.
func validateXY(X [][]float64, y []float64) (int, error) {
	if len(X) > 0 && len(y) != len(X) {
		return 0, fmt.Errorf("%w: %d rows, %d targets", ErrTargetCount, len(X), len(y))
	}
	p, err := validateX(X)
	if err != nil {
		return 0, err
	}
	biggest := 0.0
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%w: target %d is %v", ErrNonFinite, i, v)
		}
		biggest = max(biggest, math.Abs(v))
	}
	// Split search squares sums of up to n weighted targets; past this
	// they overflow and every prediction would silently be infinite.
	if biggest*float64(len(y)) >= maxTargetSum {
		return 0, fmt.Errorf("%w: |target| up to %g over %d rows; rescale the targets so that rows × largest |target| < %g", ErrTargetRange, biggest, len(y), maxTargetSum)
	}
	return p, nil
}

// validateX checks that X is a non-empty, rectangular, finite matrix and
// returns its number of columns.
func validateX(X [][]float64) (int, error) {
	if len(X) == 0 {
		return 0, ErrNoRows
	}
	p := len(X[0])
	if p == 0 {
		return 0, ErrNoFeatures
	}
	if len(X) > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d rows, at most %d supported", ErrInvalidConfig, len(X), math.MaxInt32)
	}
	for i, row := range X {
		if len(row) != p {
			return 0, fmt.Errorf("%w: row %d has %d features, row 0 has %d", ErrRaggedRows, i, len(row), p)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%w: row %d feature %d is %v", ErrNonFinite, i, j, v)
			}
		}
	}
	return p, nil
}

// checkRow validates one row to predict.
func checkRow(x []float64, p int) error {
	if p == 0 {
		return ErrNotTrained
	}
	if len(x) != p {
		return fmt.Errorf("%w: got %d, model takes %d", ErrFeatureCount, len(x), p)
	}
	for j, v := range x {
		if v != v {
			return fmt.Errorf("%w: feature %d is NaN", ErrNonFinite, j)
		}
	}
	return nil
}

// splitmix64 is the SplitMix64 finalizer. It turns the master seed and a
// tree's index into well-separated seeds, so each tree has its own random
// stream that does not depend on which worker grows it.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
