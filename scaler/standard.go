package scaler

import (
	"context"
	"fmt"
	"math"

	"github.com/forestream/forestream/stream"
)

// Compile-time checks that both shapes keep the stream contracts.
var (
	_ stream.Fitter      = (*Standard)(nil)
	_ stream.Transformer = (*FrozenStandard)(nil)
)

// Standard brings every feature to mean 0 and standard deviation 1, as
// scikit-learn's StandardScaler does, learning the per-feature count, mean
// and population variance online from batch after batch.
//
// Each Fit computes the batch's statistics with the corrected two-pass
// algorithm and merges them into the running ones with the update of Chan,
// Golub and LeVeque, so the result does not depend on how the stream was cut
// into batches (up to rounding) and stays accurate when the values are large
// next to their spread. NaN values are left out of their feature's
// statistics, so each feature has its own count.
//
// The zero value centers and scales and is ready to use; NewStandard sets
// the options. The number of features is taken from the first record Fit
// sees, and every later record must have as many.
//
// Concurrency: Fit, Merge and UnmarshalBinary change the scaler and must not
// run at the same time as any other method on it. All other methods only
// read, and may run at the same time as each other. A model version should
// use Freeze, whose result never changes and is safe for concurrent use
// while this scaler goes on learning.
type Standard struct {
	st standardState

	// Per-batch scratch, kept between calls so that Fit does not allocate
	// once the number of features is known.
	bn    []int64
	bk    []float64
	bmean []float64
	bm2   []float64
	bc    []float64
	// unseen counts the features with no value yet. While it is 0, Fit
	// skips looking for their shifts.
	unseen int
}

// standardState is what a Standard has learned and what its frozen copy
// holds: everything Transform, Inverse and the encoder need, and nothing a
// Fit in progress writes to.
type standardState struct {
	// The zero value centers and scales, as scikit-learn does by default.
	noMean, noStd bool
	// n, shift, mean and m2 have one entry per feature; their length is the
	// number of features, 0 before the first Fit.
	n []int64
	// shift is the first value seen of each feature. The statistics are
	// those of x-shift: on data far from zero (values near 1e9 that differ
	// by about 1) the subtraction is exact and leaves small numbers, so no
	// digits are lost to the magnitude, and a constant feature gets a
	// variance of exactly 0.
	shift []float64
	// mean is the mean of x-shift.
	mean []float64
	// m2 is the sum of squared deviations from the mean.
	m2 []float64
	// scale is derived from m2 and n after every change: what Transform
	// divides by.
	scale []float64
}

// StandardOption sets an option of a Standard; see NewStandard.
type StandardOption struct {
	apply func(*standardState)
}

// WithMean sets whether Transform subtracts the mean (scikit-learn's
// with_mean; the default is true). The mean is learned either way.
func WithMean(center bool) StandardOption {
	return StandardOption{func(st *standardState) { st.noMean = !center }}
}

// WithStd sets whether Transform divides by the standard deviation
// (scikit-learn's with_std; the default is true). When false the scale is 1
// for every feature; the variance is learned either way.
func WithStd(scale bool) StandardOption {
	return StandardOption{func(st *standardState) { st.noStd = !scale }}
}

// NewStandard returns a Standard with the given options, which has learned
// nothing yet. Without options it centers and scales, like the zero value.
func NewStandard(opts ...StandardOption) *Standard {
	s := &Standard{}
	for _, o := range opts {
		if o.apply != nil { // the zero StandardOption changes nothing
			o.apply(&s.st)
		}
	}
	return s
}

// Fit learns from the records of b, which it does not change. An empty batch
// is a no-op. The first record Fit ever sees sets the number of features.
//
// A batch with a record of the wrong number of features, or with a feature
// that is +Inf or -Inf, is refused as a whole with an *InputError naming the
// record and feature, and the scaler is unchanged; NaN is not an error but
// a missing value. ctx is only checked on entry: Fit is short and does not
// block.
func (s *Standard) Fit(ctx context.Context, b stream.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs := b.Records
	if len(recs) == 0 {
		return nil
	}
	d := len(s.st.n)
	if d == 0 {
		d = len(recs[0].Features)
		if d == 0 {
			return &InputError{Err: ErrFeatureCount, Record: 0, Feature: -1, Detail: "has no features"}
		}
	}
	if err := checkWidths(recs, d); err != nil {
		return err
	}
	s.growScratch(d)
	bn, bk, bmean, bm2, bc := s.bn[:d], s.bk[:d], s.bmean[:d], s.bm2[:d], s.bc[:d]

	// The batch's statistics are taken around the learned shifts, so that
	// they are in the same coordinates as the running ones.
	if len(s.st.n) == 0 {
		clear(bk)
		s.unseen = d
	} else {
		copy(bk, s.st.shift)
	}
	if s.unseen > 0 {
		s.pickShifts(recs, bk)
	}

	// Pass 1: counts and means, and the refusal of infinities before any
	// state is touched.
	clear(bn)
	clear(bmean)
	for i := range recs {
		x := recs[i].Features[:d]
		for j, v := range x {
			if v-v != 0 { // NaN or ±Inf, rare: keep the common path short.
				if v != v {
					continue
				}
				return &InputError{Err: ErrInfinite, Record: i, Feature: j, Detail: fmt.Sprintf("is %v", v)}
			}
			bn[j]++
			bmean[j] += v - bk[j]
		}
	}
	for j := range bmean {
		if bn[j] > 0 {
			bmean[j] /= float64(bn[j])
		}
	}

	// Pass 2: squared deviations, with the sum of the deviations as the
	// correction term of the corrected two-pass algorithm: it removes the
	// rounding error of the pass-1 mean from both the mean and m2.
	clear(bm2)
	clear(bc)
	for i := range recs {
		x := recs[i].Features[:d]
		for j, v := range x {
			if v != v {
				continue
			}
			e := (v - bk[j]) - bmean[j]
			bc[j] += e
			bm2[j] += e * e
		}
	}
	for j := range bm2 {
		if bn[j] == 0 {
			continue
		}
		nb := float64(bn[j])
		// Never below 0 in exact arithmetic; rounding could take it just
		// under, and the scale's square root would then be NaN.
		bm2[j] = max(bm2[j]-bc[j]*bc[j]/nb, 0)
		bmean[j] += bc[j] / nb
	}

	// Merge into the running state. Computed first into the scratch and
	// checked, so that an overflow leaves the scaler as it was.
	fresh := len(s.st.n) == 0
	for j := 0; j < d; j++ {
		if bn[j] == 0 {
			continue
		}
		if !fresh && s.st.n[j] > 0 {
			bmean[j], bm2[j] = chanMerge(s.st.n[j], s.st.mean[j], s.st.m2[j], bn[j], bmean[j], bm2[j], 0)
		}
		if !finite(bmean[j]) || !finite(bm2[j]) {
			return fmt.Errorf("%w: feature %d", ErrOverflow, j)
		}
	}
	if fresh {
		s.st.alloc(d)
	}
	st := &s.st
	for j := 0; j < d; j++ {
		if bn[j] == 0 {
			continue
		}
		if st.n[j] == 0 {
			st.shift[j] = bk[j]
			s.unseen--
		}
		st.n[j] += bn[j]
		st.mean[j] = bmean[j]
		st.m2[j] = bm2[j]
	}
	st.updateScale()
	return nil
}

// chanMerge merges the statistics (na, ma, m2a) and (nb, mb, m2b) of two sets,
// where mb is measured from a shift dk above the shift of ma, as Chan, Golub
// and LeVeque do: exact in exact arithmetic, and with no cancellation
// between large sums in floating point. It returns the mean and m2 of the
// union around the first set's shift.
func chanMerge(na int64, ma, m2a float64, nb int64, mb, m2b, dk float64) (mean, m2 float64) {
	fa, fb := float64(na), float64(nb)
	n := fa + fb
	delta := dk + (mb - ma)
	mean = ma + delta*(fb/n)
	m2 = m2a + m2b + delta*delta*(fa*fb/n)
	return mean, m2
}

func finite(v float64) bool { return v-v == 0 }

// pickShifts sets, for each feature with no value yet, bk to its first
// finite value in recs. Any value of the feature would do; one from the data
// makes the rest of the data small after the subtraction.
func (s *Standard) pickShifts(recs []stream.Record, bk []float64) {
	for j := range bk {
		if len(s.st.n) > 0 && s.st.n[j] > 0 {
			continue
		}
		bk[j] = 0
		for i := range recs {
			if v := recs[i].Features[j]; finite(v) {
				bk[j] = v
				break
			}
		}
	}
}

func (s *Standard) growScratch(d int) {
	if len(s.bn) >= d {
		return
	}
	s.bn = make([]int64, d)
	flat := make([]float64, 4*d)
	s.bk, s.bmean, s.bm2, s.bc = flat[:d:d], flat[d:2*d:2*d], flat[2*d:3*d:3*d], flat[3*d:]
}

func (st *standardState) alloc(d int) {
	st.n = make([]int64, d)
	flat := make([]float64, 4*d)
	st.shift, st.mean, st.m2, st.scale = flat[:d:d], flat[d:2*d:2*d], flat[2*d:3*d:3*d], flat[3*d:]
	st.updateScale()
}

// updateScale follows scikit-learn in giving a feature of zero variance a
// scale of 1, so that Transform never divides by zero: the centered feature
// stays 0 instead of becoming NaN.
func (st *standardState) updateScale() {
	for j := range st.scale {
		sd := 0.0
		if st.n[j] > 0 {
			sd = math.Sqrt(st.m2[j] / float64(st.n[j]))
		}
		if st.noStd || sd == 0 {
			sd = 1
		}
		st.scale[j] = sd
	}
}

// Merge adds the statistics other has learned to those of s, as if s had
// also been fed every batch other was fed: the way to combine scalers that
// learned from parts of a stream in parallel or on other machines. s keeps
// its own options. Merging a scaler that has learned nothing is a no-op;
// merging into one that has learned nothing copies other's statistics.
//
// Two scalers of different numbers of features give an error wrapping
// ErrFeatureCount, and s is unchanged. other is only read (it may be s), but
// must not be changed by another goroutine during the call.
func (s *Standard) Merge(other *Standard) error {
	if other == nil || len(other.st.n) == 0 {
		return nil
	}
	o := &other.st
	d := len(o.n)
	if len(s.st.n) == 0 {
		s.st.alloc(d)
		copy(s.st.n, o.n)
		copy(s.st.shift, o.shift)
		copy(s.st.mean, o.mean)
		copy(s.st.m2, o.m2)
		s.st.updateScale()
		s.unseen = 0
		for _, c := range s.st.n {
			if c == 0 {
				s.unseen++
			}
		}
		return nil
	}
	if len(s.st.n) != d {
		return fmt.Errorf("%w: merging a scaler of %d features into one of %d", ErrFeatureCount, d, len(s.st.n))
	}
	st := &s.st
	s.growScratch(d)
	mean, m2 := s.bmean[:d], s.bm2[:d]
	for j := 0; j < d; j++ {
		switch {
		case o.n[j] == 0:
			mean[j], m2[j] = st.mean[j], st.m2[j]
		case st.n[j] == 0:
			mean[j], m2[j] = o.mean[j], o.m2[j]
		default:
			mean[j], m2[j] = chanMerge(st.n[j], st.mean[j], st.m2[j], o.n[j], o.mean[j], o.m2[j], o.shift[j]-st.shift[j])
		}
		if !finite(mean[j]) || !finite(m2[j]) {
			return fmt.Errorf("%w: feature %d", ErrOverflow, j)
		}
	}
	for j := 0; j < d; j++ {
		if st.n[j] == 0 && o.n[j] > 0 {
			st.shift[j] = o.shift[j]
			s.unseen--
		}
		st.n[j] += o.n[j]
		st.mean[j], st.m2[j] = mean[j], m2[j]
	}
	st.updateScale()
	return nil
}

// Transform standardizes the records of b in place with what s has learned
// so far: x' = (x - mean) / scale per feature, without the subtraction when
// centering is off. NaN stays NaN; a feature that has had no value yet
// passes through unchanged (mean 0, scale 1).
//
// It returns ErrNotFitted before the first Fit, and an *InputError for a
// record of the wrong number of features, in which case b is unchanged. For
// use while s keeps learning, Transform with a frozen copy (Freeze).
func (s *Standard) Transform(ctx context.Context, b *stream.Batch) error {
	return s.st.transform(ctx, b)
}

// Inverse undoes Transform in place: x = x' * scale + mean, to show
// standardized values, or values predicted in standardized units, in the
// original units. Errors are as for Transform.
func (s *Standard) Inverse(ctx context.Context, b *stream.Batch) error {
	return s.st.inverse(ctx, b)
}

// Freeze returns a *FrozenStandard holding a copy of what s has learned so
// far, with s's options: later Fit and Merge calls on s never change it.
func (s *Standard) Freeze() stream.Transformer { return s.st.freeze() }

// NumFeatures returns the number of features s has learned to expect, 0
// before the first Fit.
func (s *Standard) NumFeatures() int { return len(s.st.n) }

// Counts returns, per feature, the number of non-NaN values learned from.
// Like the other readers it returns a new slice, nil before the first Fit.
func (s *Standard) Counts() []int64 { return s.st.counts() }

// Mean returns the learned mean of each feature (0 for a feature with no
// value yet), whether or not Transform centers.
func (s *Standard) Mean() []float64 { return s.st.means() }

// Var returns the learned population variance (divided by the count, as
// scikit-learn's var_) of each feature, whether or not Transform scales.
func (s *Standard) Var() []float64 { return s.st.vars() }

// Scale returns what Transform divides each feature by: the standard
// deviation, or 1 for a feature of zero variance or when scaling is off.
func (s *Standard) Scale() []float64 { return append([]float64(nil), s.st.scale...) }

// FrozenStandard is an immutable snapshot of a Standard, made by Freeze:
// the preprocessing of one model version. All its methods only read, so it
// is safe for concurrent use by any number of goroutines.
type FrozenStandard struct {
	st standardState
}

// Transform standardizes b in place, as Standard.Transform does, with the
// statistics of the moment of Freeze.
func (f *FrozenStandard) Transform(ctx context.Context, b *stream.Batch) error {
	return f.st.transform(ctx, b)
}

// Inverse undoes Transform in place, as Standard.Inverse does.
func (f *FrozenStandard) Inverse(ctx context.Context, b *stream.Batch) error {
	return f.st.inverse(ctx, b)
}

// NumFeatures returns the number of features, 0 if frozen before any Fit.
func (f *FrozenStandard) NumFeatures() int { return len(f.st.n) }

// Counts returns a copy of the per-feature counts; see Standard.Counts.
func (f *FrozenStandard) Counts() []int64 { return f.st.counts() }

// Mean returns a copy of the per-feature means; see Standard.Mean.
func (f *FrozenStandard) Mean() []float64 { return f.st.means() }

// Var returns a copy of the per-feature variances; see Standard.Var.
func (f *FrozenStandard) Var() []float64 { return f.st.vars() }

// Scale returns a copy of the per-feature scales; see Standard.Scale.
func (f *FrozenStandard) Scale() []float64 { return append([]float64(nil), f.st.scale...) }

func (st *standardState) freeze() *FrozenStandard {
	f := &FrozenStandard{st: standardState{noMean: st.noMean, noStd: st.noStd}}
	if d := len(st.n); d > 0 {
		f.st.alloc(d)
		copy(f.st.n, st.n)
		copy(f.st.shift, st.shift)
		copy(f.st.mean, st.mean)
		copy(f.st.m2, st.m2)
		copy(f.st.scale, st.scale)
	}
	return f
}

func (st *standardState) counts() []int64 { return append([]int64(nil), st.n...) }

func (st *standardState) means() []float64 {
	if len(st.n) == 0 {
		return nil
	}
	m := make([]float64, len(st.n))
	for j := range m {
		m[j] = st.shift[j] + st.mean[j]
	}
	return m
}

func (st *standardState) vars() []float64 {
	if len(st.n) == 0 {
		return nil
	}
	v := make([]float64, len(st.n))
	for j := range v {
		if st.n[j] > 0 {
			v[j] = st.m2[j] / float64(st.n[j])
		}
	}
	return v
}

func (st *standardState) transform(ctx context.Context, b *stream.Batch) error {
	d, ok, err := startBatch(ctx, b, len(st.n))
	if !ok {
		return err
	}
	shift, mean, scale := st.shift[:d], st.mean[:d], st.scale[:d]
	recs := b.Records
	switch {
	case st.noMean && st.noStd:
		// Every scale is 1: nothing to do.
	case st.noMean:
		for i := range recs {
			x := recs[i].Features[:d]
			for j := range x {
				x[j] /= scale[j]
			}
		}
	default:
		// Subtracting the shift first is exact for data near it, so the
		// small learned mean is subtracted at full precision.
		for i := range recs {
			x := recs[i].Features[:d]
			for j := range x {
				x[j] = (x[j] - shift[j] - mean[j]) / scale[j]
			}
		}
	}
	return nil
}

func (st *standardState) inverse(ctx context.Context, b *stream.Batch) error {
	d, ok, err := startBatch(ctx, b, len(st.n))
	if !ok {
		return err
	}
	shift, mean, scale := st.shift[:d], st.mean[:d], st.scale[:d]
	recs := b.Records
	for i := range recs {
		x := recs[i].Features[:d]
		if st.noMean {
			for j := range x {
				x[j] *= scale[j]
			}
			continue
		}
		for j := range x {
			x[j] = x[j]*scale[j] + mean[j] + shift[j]
		}
	}
	return nil
}

// startBatch holds the checks that Transform and Inverse of both scalers
// share, for a scaler that has learned d features (0 before the first
// Fit); it reports the number of features and whether there is anything to
// do.
func startBatch(ctx context.Context, b *stream.Batch, d int) (int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if b == nil || len(b.Records) == 0 {
		return 0, false, nil
	}
	if d == 0 {
		return 0, false, ErrNotFitted
	}
	if err := checkWidths(b.Records, d); err != nil {
		return 0, false, err
	}
	return d, true, nil
}
