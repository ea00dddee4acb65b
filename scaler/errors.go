package scaler

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/forestream/forestream/stream"
)

// Errors returned by this package. Check them with errors.Is; an error about
// one record of a batch is an *InputError, which errors.As extracts to learn
// which record and feature.
var (
	// ErrNotFitted is returned by Transform and Inverse before the scaler
	// has learned the number of features from a batch.
	ErrNotFitted = errors.New("scaler: not fitted")
	// ErrFeatureCount is returned for a record whose number of features
	// differs from the number the scaler learned from its first batch, and by
	// Merge for two scalers of different widths.
	ErrFeatureCount = errors.New("scaler: wrong number of features")
	// ErrInfinite is returned by Fit for a feature that is +Inf or -Inf: one
	// such value would turn the running statistics into Inf or NaN for good.
	ErrInfinite = errors.New("scaler: infinite feature value")
	// ErrOverflow is returned by Fit and Merge when finite values are so far
	// apart that their mean, variance or range does not fit in a float64, or
	// when a MinMax's scale onto its target range would not. The scaler is
	// left as it was.
	ErrOverflow = errors.New("scaler: statistics overflow float64")
	// ErrFormat is returned by UnmarshalBinary for data that is not a state
	// this package wrote: truncated, corrupted, of an unknown version, or of
	// the other kind of scaler.
	ErrFormat = errors.New("scaler: invalid encoded state")
	// ErrRange is returned by NewMinMax for a target range that is not
	// finite or whose low end is not below its high end.
	ErrRange = errors.New("scaler: invalid target range")
)

// InputError describes the record of a batch that Fit, Transform or Inverse
// refused. The whole batch is refused: neither the scaler nor the batch has
// been changed. Unwrap gives the sentinel error (ErrFeatureCount or
// ErrInfinite).
type InputError struct {
	// Err is the sentinel error saying what is wrong.
	Err error
	// Record is the index of the record in the batch.
	Record int
	// Feature is the index of the offending feature, or -1 when the
	// problem is the record as a whole (its number of features).
	Feature int
	// Detail says what was found, such as "has 3 features, want 4".
	Detail string
}

// Error gives the sentinel, then the record and feature at fault.
func (e *InputError) Error() string {
	s := e.Err.Error() + ": record " + strconv.Itoa(e.Record)
	if e.Feature >= 0 {
		s += " feature " + strconv.Itoa(e.Feature)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel error, so errors.Is(err, ErrFeatureCount) and
// the like work on an *InputError.
func (e *InputError) Unwrap() error { return e.Err }

// checkWidths is run before any value is touched, so that a bad record late
// in a batch cannot leave the batch half transformed or the statistics half
// updated.
func checkWidths(recs []stream.Record, d int) error {
	for i := range recs {
		if len(recs[i].Features) != d {
			return featureCountError(i, len(recs[i].Features), d)
		}
	}
	return nil
}

func featureCountError(i, got, want int) error {
	return &InputError{Err: ErrFeatureCount, Record: i, Feature: -1,
		Detail: fmt.Sprintf("has %d features, want %d", got, want)}
}
