package scaler

import (
	"context"
	"fmt"
	"math"

	"github.com/forestream/forestream/stream"
)

var (
	_ stream.Fitter      = (*MinMax)(nil)
	_ stream.Transformer = (*FrozenMinMax)(nil)
)

// MinMax maps every feature linearly onto a target range, [0, 1] unless
// chosen otherwise, from the smallest and largest value it has learned, as
// scikit-learn's MinMaxScaler does: x' = x*scale + offset, where scale =
// (hi-lo)/(max-min) and offset = lo - min*scale. A feature whose learned
// range is zero (below 10 machine epsilons, as in scikit-learn) gets a
// range of 1, so its values map to lo. NaN is left out of the statistics
// and passes through Transform as NaN. Values outside the learned range
// map outside the target range: Transform does not clip.
//
// The formula is scikit-learn's to the last bit, rounding included: for
// values far from zero next to their spread (Unix nanoseconds, say) the
// offset is much larger than the target range, and its rounding can move a
// result by up to an ulp of x*scale, a constant one too, away from lo.
// Subtract such a baseline before scaling.
//
// The zero value maps to [0, 1] and is ready to use. The concurrency rules
// are those of Standard: Fit, Merge and UnmarshalBinary must not overlap any
// other call; the other methods only read; Freeze gives an immutable copy
// that is safe for concurrent use.
type MinMax struct {
	st minMaxState

	// Per-batch scratch, kept so that Fit does not allocate.
	bn   []int64
	bmin []float64
	bmax []float64
}

type minMaxState struct {
	// lo and hi are the target range; both 0 (the zero value) means [0, 1],
	// which NewMinMax can never be asked for, since it needs lo < hi.
	lo, hi float64
	// One entry per feature; length 0 before the first Fit.
	n        []int64
	min, max []float64
	// Derived after every change: Transform computes x*mul + add, in the
	// order scikit-learn does, so that the results agree to the last bit.
	mul, add []float64
}

// NewMinMax returns a MinMax that maps onto [lo, hi]. It returns an error
// wrapping ErrRange unless lo < hi and both are finite.
func NewMinMax(lo, hi float64) (*MinMax, error) {
	if !finite(lo) || !finite(hi) || !(lo < hi) || !finite(hi-lo) {
		return nil, fmt.Errorf("%w: [%v, %v]", ErrRange, lo, hi)
	}
	return &MinMax{st: minMaxState{lo: lo, hi: hi}}, nil
}

func (st *minMaxState) target() (lo, hi float64) {
	if st.lo == 0 && st.hi == 0 {
		return 0, 1
	}
	return st.lo, st.hi
}

// Fit learns the per-feature minimum and maximum from the records of b,
// which it does not change. The rules are those of Standard.Fit: the first
// record sets the number of features; a record of the wrong width or an
// infinite value refuses the batch with an *InputError and leaves m as it
// was; NaN is a missing value; an empty batch is a no-op.
func (m *MinMax) Fit(ctx context.Context, b stream.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs := b.Records
	if len(recs) == 0 {
		return nil
	}
	d := len(m.st.n)
	if d == 0 {
		d = len(recs[0].Features)
		if d == 0 {
			return &InputError{Err: ErrFeatureCount, Record: 0, Feature: -1, Detail: "has no features"}
		}
	}
	if err := checkWidths(recs, d); err != nil {
		return err
	}
	if len(m.bn) < d {
		m.bn = make([]int64, d)
		flat := make([]float64, 2*d)
		m.bmin, m.bmax = flat[:d:d], flat[d:]
	}
	bn, bmin, bmax := m.bn[:d], m.bmin[:d], m.bmax[:d]
	clear(bn)
	for j := range bmin {
		bmin[j], bmax[j] = math.Inf(1), math.Inf(-1)
	}
	for i := range recs {
		x := recs[i].Features[:d]
		for j, v := range x {
			if v-v != 0 {
				if v != v {
					continue
				}
				return &InputError{Err: ErrInfinite, Record: i, Feature: j, Detail: fmt.Sprintf("is %v", v)}
			}
			bn[j]++
			bmin[j] = min(bmin[j], v)
			bmax[j] = max(bmax[j], v)
		}
	}
	if len(m.st.n) > 0 {
		for j := range bn {
			if m.st.n[j] > 0 {
				bmin[j] = min(bmin[j], m.st.min[j])
				bmax[j] = max(bmax[j], m.st.max[j])
			}
		}
	}
	for j := range bn {
		if bn[j] > 0 {
			if err := m.st.checkRange(j, bmin[j], bmax[j]); err != nil {
				return err
			}
		}
	}
	if len(m.st.n) == 0 {
		m.st.alloc(d)
	}
	for j := range bn {
		if bn[j] > 0 {
			m.st.n[j] += bn[j]
			m.st.min[j], m.st.max[j] = bmin[j], bmax[j]
		}
	}
	m.st.update()
	return nil
}

func (st *minMaxState) alloc(d int) {
	st.n = make([]int64, d)
	flat := make([]float64, 4*d)
	st.min, st.max, st.mul, st.add = flat[:d:d], flat[d:2*d:2*d], flat[2*d:3*d:3*d], flat[3*d:]
	st.update()
}

// checkRange returns an error wrapping ErrOverflow unless feature j may
// learn the range [lo, hi]: the range must fit in a float64, and so must
// the scale and offset that map it onto the target range, or Transform
// would give NaN, or Inverse divide by zero, for every value.
func (st *minMaxState) checkRange(j int, lo, hi float64) error {
	if !finite(hi - lo) {
		return fmt.Errorf("%w: feature %d ranges from %v to %v", ErrOverflow, j, lo, hi)
	}
	tlo, thi := st.target()
	r := hi - lo
	if r < 10*epsilon {
		r = 1
	}
	if mul := (thi - tlo) / r; !finite(mul) || mul == 0 || !finite(tlo-lo*mul) {
		return fmt.Errorf("%w: feature %d ranges from %v to %v, which does not map onto [%v, %v] in float64", ErrOverflow, j, lo, hi, tlo, thi)
	}
	return nil
}

// update derives Transform's coefficients. A feature with no value yet
// passes through unchanged.
func (st *minMaxState) update() {
	lo, hi := st.target()
	for j := range st.mul {
		if st.n[j] == 0 {
			st.mul[j], st.add[j] = 1, 0
			continue
		}
		r := st.max[j] - st.min[j]
		if r < 10*epsilon {
			r = 1
		}
		st.mul[j] = (hi - lo) / r
		st.add[j] = lo - st.min[j]*st.mul[j]
	}
}

// epsilon is the float64 machine epsilon, numpy's finfo(float64).eps.
const epsilon = 0x1p-52

// Merge adds other's learned minima, maxima and counts to m's, exactly: as
// if m had also been fed every batch other was fed. m keeps its own target
// range. Merging a MinMax that has learned nothing is a no-op; different
// numbers of features give an error wrapping ErrFeatureCount, and a combined
// range too wide for a float64 one wrapping ErrOverflow, and either leaves m
// as it was.
func (m *MinMax) Merge(other *MinMax) error {
	if other == nil || len(other.st.n) == 0 {
		return nil
	}
	o, st := &other.st, &m.st
	d := len(o.n)
	if len(st.n) != 0 && len(st.n) != d {
		return fmt.Errorf("%w: merging a scaler of %d features into one of %d", ErrFeatureCount, d, len(st.n))
	}
	// Checked before anything changes, as in Fit: a range or scale that
	// does not fit in a float64 would map every value to NaN or lo, and the
	// decoder would refuse the state. m's own target range decides, and a
	// feature m has not seen takes other's range as it is.
	for j := 0; j < d; j++ {
		if o.n[j] == 0 {
			continue
		}
		lo, hi := o.min[j], o.max[j]
		if len(st.n) != 0 && st.n[j] > 0 {
			lo, hi = min(st.min[j], lo), max(st.max[j], hi)
		}
		if err := st.checkRange(j, lo, hi); err != nil {
			return err
		}
	}
	if len(st.n) == 0 {
		st.alloc(d)
	}
	for j := 0; j < d; j++ {
		switch {
		case o.n[j] == 0:
		case st.n[j] == 0:
			st.min[j], st.max[j] = o.min[j], o.max[j]
		default:
			st.min[j], st.max[j] = min(st.min[j], o.min[j]), max(st.max[j], o.max[j])
		}
		st.n[j] += o.n[j]
	}
	st.update()
	return nil
}

// Transform maps the records of b in place onto the target range with what m
// has learned so far. Errors are those of Standard.Transform: ErrNotFitted
// before the first Fit, an *InputError (and b unchanged) for a record of the
// wrong width.
func (m *MinMax) Transform(ctx context.Context, b *stream.Batch) error {
	return m.st.transform(ctx, b)
}

// Inverse undoes Transform in place: x = (x' - offset) / scale.
func (m *MinMax) Inverse(ctx context.Context, b *stream.Batch) error {
	return m.st.inverse(ctx, b)
}

// Freeze returns a *FrozenMinMax holding a copy of what m has learned so
// far: later Fit and Merge calls on m never change it.
func (m *MinMax) Freeze() stream.Transformer { return m.st.freeze() }

// NumFeatures returns the number of features m expects, 0 before the first
// Fit.
func (m *MinMax) NumFeatures() int { return len(m.st.n) }

// Range returns the target range.
func (m *MinMax) Range() (lo, hi float64) { return m.st.target() }

// Counts returns, per feature, the number of non-NaN values learned from,
// in a new slice (nil before the first Fit), as do the other readers.
func (m *MinMax) Counts() []int64 { return append([]int64(nil), m.st.n...) }

// Min returns the smallest value learned of each feature (0 for a feature
// with no value yet).
func (m *MinMax) Min() []float64 { return append([]float64(nil), m.st.min...) }

// Max returns the largest value learned of each feature (0 for a feature
// with no value yet).
func (m *MinMax) Max() []float64 { return append([]float64(nil), m.st.max...) }

// FrozenMinMax is an immutable snapshot of a MinMax, made by Freeze. All its
// methods only read, so it is safe for concurrent use.
type FrozenMinMax struct {
	st minMaxState
}

// Transform maps b in place as MinMax.Transform does, with the statistics of
// the moment of Freeze.
func (f *FrozenMinMax) Transform(ctx context.Context, b *stream.Batch) error {
	return f.st.transform(ctx, b)
}

// Inverse undoes Transform in place.
func (f *FrozenMinMax) Inverse(ctx context.Context, b *stream.Batch) error {
	return f.st.inverse(ctx, b)
}

// NumFeatures returns the number of features, 0 if frozen before any Fit.
func (f *FrozenMinMax) NumFeatures() int { return len(f.st.n) }

// Range returns the target range.
func (f *FrozenMinMax) Range() (lo, hi float64) { return f.st.target() }

// Counts returns a copy of the per-feature counts.
func (f *FrozenMinMax) Counts() []int64 { return append([]int64(nil), f.st.n...) }

// Min returns a copy of the per-feature minima.
func (f *FrozenMinMax) Min() []float64 { return append([]float64(nil), f.st.min...) }

// Max returns a copy of the per-feature maxima.
func (f *FrozenMinMax) Max() []float64 { return append([]float64(nil), f.st.max...) }

func (st *minMaxState) freeze() *FrozenMinMax {
	f := &FrozenMinMax{st: minMaxState{lo: st.lo, hi: st.hi}}
	if d := len(st.n); d > 0 {
		f.st.alloc(d)
		copy(f.st.n, st.n)
		copy(f.st.min, st.min)
		copy(f.st.max, st.max)
		f.st.update()
	}
	return f
}

func (st *minMaxState) transform(ctx context.Context, b *stream.Batch) error {
	d, ok, err := startBatch(ctx, b, len(st.n))
	if !ok {
		return err
	}
	mul, add, recs := st.mul[:d], st.add[:d], b.Records
	for i := range recs {
		x := recs[i].Features[:d]
		for j := range x {
			// The conversion keeps the compiler from fusing this into an
			// FMA (it may on some targets), which rounds differently.
			x[j] = float64(x[j]*mul[j]) + add[j]
		}
	}
	return nil
}

func (st *minMaxState) inverse(ctx context.Context, b *stream.Batch) error {
	d, ok, err := startBatch(ctx, b, len(st.n))
	if !ok {
		return err
	}
	mul, add, recs := st.mul[:d], st.add[:d], b.Records
	for i := range recs {
		x := recs[i].Features[:d]
		for j := range x {
			x[j] = (x[j] - add[j]) / mul[j]
		}
	}
	return nil
}
