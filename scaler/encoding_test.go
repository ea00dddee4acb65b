package scaler_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

var encRows = [][]float64{
	{1e9 + 0.5, -3, math.NaN(), 0.25},
	{1e9 - 1.25, 7, math.NaN(), 0.25},
	{1e9 + 2, math.NaN(), math.NaN(), 0.25},
}

func fittedStandard(t testing.TB, opts ...scaler.StandardOption) *scaler.Standard {
	s := scaler.NewStandard(opts...)
	fitRows(t, s, encRows...)
	return s
}

func fittedMinMax(t testing.TB) *scaler.MinMax {
	m, err := scaler.NewMinMax(-2, 3)
	require.NoError(t, err)
	fitRows(t, m, encRows...)
	return m
}

// withCRC returns data with its last four bytes set to the checksum of the
// rest, to build inputs that get past the checksum to the value checks.
func withCRC(data []byte) []byte {
	out := append([]byte(nil), data...)
	if len(out) >= 4 {
		end := len(out) - 4
		binary.LittleEndian.PutUint32(out[end:], crc32.ChecksumIEEE(out[:end]))
	}
	return out
}

func TestStandardMarshalRoundTrip(t *testing.T) {
	for name, opts := range map[string][]scaler.StandardOption{
		"default": nil,
		"no mean": {scaler.WithMean(false)},
		"no std":  {scaler.WithStd(false)},
		"neither": {scaler.WithMean(false), scaler.WithStd(false)},
	} {
		t.Run(name, func(t *testing.T) {
			orig := fittedStandard(t, opts...)
			data := mustMarshal(t, orig)

			var back scaler.Standard // options come from the data
			require.NoError(t, back.UnmarshalBinary(data))
			assert.Equal(t, data, mustMarshal(t, &back), "re-encoding gives the same bytes")
			assert.Equal(t, orig.Counts(), back.Counts())
			assert.Equal(t, orig.Mean(), back.Mean())
			assert.Equal(t, orig.Var(), back.Var())
			assert.Equal(t, orig.Scale(), back.Scale())
			assertSameRows(t, apply(t, orig, encRows...), apply(t, &back, encRows...), "transform")

			// The restored scaler goes on learning exactly as the original,
			// including the feature that has had no value yet.
			more := [][]float64{{1e9, 1, 5, 0.25}, {1e9 + 1, 2, 6, 0.5}}
			fitRows(t, orig, more...)
			fitRows(t, &back, more...)
			assert.Equal(t, mustMarshal(t, orig), mustMarshal(t, &back))
		})
	}

	t.Run("frozen encodes as live and decodes into a Standard", func(t *testing.T) {
		s := fittedStandard(t)
		frozen := s.Freeze().(*scaler.FrozenStandard)
		data := mustMarshal(t, frozen)
		assert.Equal(t, mustMarshal(t, s), data)
		var back scaler.Standard
		require.NoError(t, back.UnmarshalBinary(data))
		assertSameRows(t, apply(t, frozen, encRows...), apply(t, back.Freeze(), encRows...), "transform")
	})

	t.Run("unfitted", func(t *testing.T) {
		data := mustMarshal(t, scaler.NewStandard(scaler.WithStd(false)))
		back := fittedStandard(t)
		require.NoError(t, back.UnmarshalBinary(data))
		assert.Zero(t, back.NumFeatures(), "the old state is replaced")
		fitRows(t, back, []float64{1, 2}, []float64{3, 6})
		assert.Equal(t, []float64{1, 1}, back.Scale(), "the options come from the data")
	})
}

func TestMinMaxMarshalRoundTrip(t *testing.T) {
	orig := fittedMinMax(t)
	data := mustMarshal(t, orig)
	assert.Equal(t, data, mustMarshal(t, orig.Freeze().(*scaler.FrozenMinMax)))
	var back scaler.MinMax
	require.NoError(t, back.UnmarshalBinary(data))
	assert.Equal(t, data, mustMarshal(t, &back))
	lo, hi := back.Range()
	assert.Equal(t, [2]float64{-2, 3}, [2]float64{lo, hi})
	assertSameRows(t, apply(t, orig, encRows...), apply(t, &back, encRows...), "transform")

	var zero, zeroBack scaler.MinMax
	require.NoError(t, zeroBack.UnmarshalBinary(mustMarshal(t, &zero)))
	lo, hi = zeroBack.Range()
	assert.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
	assert.Zero(t, zeroBack.NumFeatures())
}

func TestUnmarshalRefusesBadData(t *testing.T) {
	good := mustMarshal(t, fittedStandard(t))
	goodMM := mustMarshal(t, fittedMinMax(t))

	patch := func(data []byte, off int, b ...byte) []byte {
		out := append([]byte(nil), data...)
		copy(out[off:], b)
		return withCRC(out)
	}
	putFloat := func(data []byte, off int, v float64) []byte {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		return patch(data, off, b[:]...)
	}
	// Offsets of the first feature's entry of a Standard: count at 12,
	// shift 20, mean 28, m2 36. The third feature (index 2) has no values.
	const third = 12 + 2*32
	cases := []struct {
		name, msg string
		data      []byte
	}{
		{"nil", "too short", nil},
		{"text", "not a forestream scaler", []byte("hello, scaler, how are you?")},
		{"json", "not a forestream scaler", []byte(`{"mean":[1,2],"var":[3,4]}`)},
		{"a MinMax", "kind", goodMM},
		{"future version", "unsupported format version 2", patch(good, 4, 2)},
		{"unknown flags", "unknown flags", patch(good, 6, 0x80)},
		{"reserved byte", "reserved", patch(good, 7, 1)},
		{"more features than bytes", "truncated", patch(good, 8, 0xff, 0xff, 0xff, 0xff)},
		{"trailing data", "truncated or trailing", withCRC(append(append([]byte(nil), good...), 0, 0, 0, 0))},
		{"flipped bit", "checksum", func() []byte { b := append([]byte(nil), good...); b[30] ^= 0x10; return b }()},
		{"NaN mean", "non-finite", putFloat(good, 28, math.NaN())},
		{"infinite shift", "non-finite", putFloat(good, 20, math.Inf(1))},
		{"negative m2", "negative", putFloat(good, 36, -1)},
		{"huge count", "count", patch(good, 12, 0, 0, 0, 0, 0, 0, 0, 0x80)},
		// 2^53+1: a forged count that the next Fit would carry towards a wrap.
		{"count beyond 2^53", "count", patch(good, 12, 1, 0, 0, 0, 0, 0, 0x20, 0)},
		{"statistics without values", "without values", putFloat(good, third+16, 0.5)},
		// Each finite, but shift plus mean, the feature's mean, is not: Fit
		// and Merge never write that.
		{"overflowing mean", "overflows", putFloat(putFloat(good, 20, 1.5e308), 28, 1.5e308)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fittedStandard(t, scaler.WithMean(false))
			before := mustMarshal(t, s)
			err := s.UnmarshalBinary(c.data)
			require.ErrorIs(t, err, scaler.ErrFormat)
			assert.Contains(t, err.Error(), c.msg)
			assert.Equal(t, before, mustMarshal(t, s), "a refused decode leaves the scaler as it was")
		})
	}

	t.Run("every truncation", func(t *testing.T) {
		var s scaler.Standard
		for n := 0; n < len(good); n++ {
			assert.ErrorIsf(t, s.UnmarshalBinary(good[:n]), scaler.ErrFormat, "first %d bytes", n)
		}
		var m scaler.MinMax
		for n := 0; n < len(goodMM); n++ {
			assert.ErrorIsf(t, m.UnmarshalBinary(goodMM[:n]), scaler.ErrFormat, "first %d bytes", n)
		}
	})

	t.Run("every single-bit corruption", func(t *testing.T) {
		var s scaler.Standard
		for i := range good {
			for bit := 0; bit < 8; bit++ {
				b := append([]byte(nil), good...)
				b[i] ^= 1 << bit
				assert.ErrorIsf(t, s.UnmarshalBinary(b), scaler.ErrFormat, "byte %d bit %d", i, bit)
			}
		}
	})

	t.Run("MinMax values", func(t *testing.T) {
		// Range at 12 and 20; first feature: count 28, min 36, max 44.
		for name, data := range map[string][]byte{
			"a Standard":     good,
			"reversed range": putFloat(goodMM, 12, 10),
			"NaN range":      putFloat(goodMM, 20, math.NaN()),
			"min above max":  putFloat(goodMM, 36, 1e10),
			"infinite max":   putFloat(goodMM, 44, math.Inf(1)),
			"unknown flags":  patch(goodMM, 6, 1),
		} {
			var m scaler.MinMax
			assert.ErrorIsf(t, m.UnmarshalBinary(data), scaler.ErrFormat, name)
		}
	})
}

// FuzzUnmarshal feeds the decoders arbitrary bytes, as they are and with a
// valid checksum (to reach the value checks). Whatever the input, a decoder
// returns an ErrFormat error or a state that encodes back to the same bytes
// and transforms without trouble; it never panics.
func FuzzUnmarshal(f *testing.F) {
	seeds := [][]byte{
		mustMarshal(f, fittedStandard(f)),
		mustMarshal(f, fittedStandard(f, scaler.WithMean(false), scaler.WithStd(false))),
		mustMarshal(f, scaler.NewStandard()),
		mustMarshal(f, fittedMinMax(f)),
		mustMarshal(f, &scaler.MinMax{}),
		nil,
		[]byte("FSSC"),
	}
	for _, s := range seeds {
		f.Add(s)
		if len(s) > 20 {
			f.Add(s[:len(s)/2])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withCRC(data)} {
			var s scaler.Standard
			if err := s.UnmarshalBinary(in); err != nil {
				require.ErrorIs(t, err, scaler.ErrFormat)
			} else {
				out, _ := s.MarshalBinary()
				require.True(t, bytes.Equal(in, out), "re-encoding changed the bytes")
				exercise(t, &s, s.NumFeatures())
			}
			var m scaler.MinMax
			if err := m.UnmarshalBinary(in); err != nil {
				require.ErrorIs(t, err, scaler.ErrFormat)
			} else {
				out, _ := m.MarshalBinary()
				require.True(t, bytes.Equal(in, out), "re-encoding changed the bytes")
				exercise(t, &m, m.NumFeatures())
			}
		}
	})
}

// exercise runs a decoded scaler's methods on a batch of its width; they
// must not panic, and Transform must not fail.
func exercise(t *testing.T, f stream.Fitter, d int) {
	if d == 0 || d > 1000 {
		return
	}
	row := make([]float64, d)
	for j := range row {
		row[j] = float64(j) - 1.5
	}
	b := batchOf(row, row)
	require.NoError(t, f.Transform(ctx, &b))
	require.NoError(t, f.Freeze().Transform(ctx, &b))
	// A decoded state may hold values so large that new data overflows
	// them: that is the one error Fit may give here.
	if err := f.Fit(ctx, batchOf(row)); err != nil {
		require.ErrorIs(t, err, scaler.ErrOverflow)
	}
}

// firstFeature is a Predictor that returns a row's first feature, so that
// a Model's score is what its frozen scaler made of the row.
type firstFeature struct{}

func (firstFeature) Predict(x []float64) (float64, error) { return x[0], nil }
func (firstFeature) MarshalBinary() ([]byte, error)       { return nil, nil }

func init() {
	stream.RegisterPart("scaler_test.firstFeature", func([]byte) (firstFeature, error) { return firstFeature{}, nil })
}

// A pipeline's models hold frozen scalers, which stream.Model's encoding
// carries through the parts this package registers.
func TestFrozenScalersTravelInAModel(t *testing.T) {
	for name, frozen := range map[string]stream.Transformer{
		"Standard": fittedStandard(t).Freeze(),
		"MinMax":   fittedMinMax(t).Freeze(),
	} {
		m := &stream.Model{Schema: stream.Schema{Features: []string{"a", "b", "c", "d"}}, Transformers: []stream.Transformer{frozen}, Predictor: firstFeature{}, Version: 2}
		data, err := m.MarshalBinary()
		require.NoError(t, err, name)
		var back stream.Model
		require.NoError(t, back.UnmarshalBinary(data), name)
		assert.IsType(t, frozen, back.Transformers[0], name)
		for _, x := range []float64{-3, 0, 0.25, 1e6} {
			raw := []float64{x, 1, 2, 3}
			want, err := m.Predict(raw)
			require.NoError(t, err)
			got, err := back.Predict(raw)
			require.NoError(t, err)
			assert.Equal(t, math.Float64bits(want), math.Float64bits(got), "%s at %v", name, x)
		}
	}
}
