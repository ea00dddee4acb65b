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
	"github.com/forestream/forestream/stream/streamtest"
)

var modelSchema = stream.Schema{Features: []string{"a", "b", "c", "d"}}

// Every option and state of the frozen scalers, including features never
// seen, NaN inputs and each option, scores bit for bit after a round trip.
func TestFrozenScalersInAModelEveryState(t *testing.T) {
	mm, err := scaler.NewMinMax(-1e9, 1e9)
	require.NoError(t, err)
	fitRows(t, mm, encRows...)
	frozen := map[string]stream.Transformer{
		"Standard":         fittedStandard(t).Freeze(),
		"Standard noMean":  fittedStandard(t, scaler.WithMean(false)).Freeze(),
		"Standard noStd":   fittedStandard(t, scaler.WithStd(false)).Freeze(),
		"Standard neither": fittedStandard(t, scaler.WithMean(false), scaler.WithStd(false)).Freeze(),
		"MinMax":           fittedMinMax(t).Freeze(),
		"MinMax wide":      mm.Freeze(),
		"Standard unfit":   scaler.NewStandard().Freeze(),
	}
	for name, fr := range frozen {
		t.Run(name, func(t *testing.T) {
			m := &stream.Model{Schema: modelSchema, Transformers: []stream.Transformer{fr, fr}, Predictor: firstFeature{}, Version: 1}
			back := streamtest.TestModelEncoding(t, m, nil)
			assert.Equal(t, m.Transformers, back.Transformers, "frozen state")
			for _, raw := range [][]float64{
				{1e9, 0, 0, 0.25}, {math.NaN(), math.Inf(1), -1e308, 5e-324}, {math.Copysign(0, -1), 7, math.NaN(), 0.25},
			} {
				want, wantErr := m.Transform(raw)
				got, gotErr := back.Transform(raw)
				assert.Equal(t, wantErr, gotErr)
				require.Equal(t, len(want), len(got))
				for j := range want {
					assert.Equal(t, math.Float64bits(want[j]), math.Float64bits(got[j]), "%v feature %d", raw, j)
				}
			}
		})
	}
}

// A live scaler in a Model is refused, and the error says to freeze it.
func TestLiveScalerInAModelSaysFreezeIt(t *testing.T) {
	m := &stream.Model{Schema: modelSchema, Transformers: []stream.Transformer{fittedStandard(t)}, Predictor: firstFeature{}, Version: 1}
	_, err := m.MarshalBinary()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Freeze", "the error suggests freezing")
}

// A part of the wrong kind under a scaler's name wraps both packages'
// format errors.
func TestWrongKindUnderAScalerName(t *testing.T) {
	good, err := (&stream.Model{Schema: modelSchema, Transformers: []stream.Transformer{fittedMinMax(t).Freeze()}, Predictor: firstFeature{}, Version: 1}).MarshalBinary()
	require.NoError(t, err)
	// Rename the part scaler.FrozenMinMax to scaler.FrozenStandard: same
	// length minus two, so rebuild by hand.
	i := indexOf(good, "scaler.FrozenMinMax")
	require.Positive(t, i)
	bad := append([]byte(nil), good[:i-4]...)
	bad = append(bad, byte(len("scaler.FrozenStandard")), 0, 0, 0)
	bad = append(bad, "scaler.FrozenStandard"...)
	bad = append(bad, good[i+len("scaler.FrozenMinMax"):len(good)-4]...)
	bad = binary.LittleEndian.AppendUint32(bad, crc32.Checksum(bad, crc32.MakeTable(crc32.Castagnoli)))
	var back stream.Model
	err = back.UnmarshalBinary(bad)
	assert.ErrorIs(t, err, stream.ErrModelFormat)
	assert.ErrorIs(t, err, scaler.ErrFormat)
}

func indexOf(b []byte, s string) int { return bytes.Index(b, []byte(s)) }
