package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// offsetPart is a Transformer that adds its value to every feature; it
// encodes as that value's bits.
type offsetPart struct{ add float64 }

func (o *offsetPart) Transform(_ context.Context, b *stream.Batch) error {
	for _, r := range b.Records {
		for j := range r.Features {
			r.Features[j] += o.add
		}
	}
	return nil
}

func (o *offsetPart) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(o.add)), nil
}

// sumPart is a Predictor that sums a row times its weight.
type sumPart struct{ weight float64 }

func (s *sumPart) Predict(x []float64) (float64, error) {
	var t float64
	for _, v := range x {
		t += v
	}
	return t * s.weight, nil
}

func (s *sumPart) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(s.weight)), nil
}

func decodeFloat(data []byte) (float64, error) {
	if len(data) != 8 {
		return 0, fmt.Errorf("%d bytes, want 8", len(data))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(data)), nil
}

func init() {
	stream.RegisterPart("streamtest.offset", func(data []byte) (*offsetPart, error) {
		v, err := decodeFloat(data)
		return &offsetPart{add: v}, err
	})
	stream.RegisterPart("streamtest.sum", func(data []byte) (*sumPart, error) {
		v, err := decodeFloat(data)
		return &sumPart{weight: v}, err
	})
}

func savedModel() *stream.Model {
	return &stream.Model{
		Schema:        testSchema,
		Transformers:  []stream.Transformer{&offsetPart{add: 0.5}, &offsetPart{add: -2}},
		Predictor:     &sumPart{weight: 3},
		Version:       7,
		TrainedAt:     time.Date(2026, 11, 30, 1, 2, 3, 456, time.UTC),
		TrainedOn:     10000,
		TrainDuration: 1234 * time.Millisecond,
		HeldOut:       stream.HeldOut{N: 3700, MSE: 2.5, R2: 0.91},
	}
}

func TestModelRoundTrip(t *testing.T) {
	m := savedModel()
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	var got stream.Model
	require.NoError(t, got.UnmarshalBinary(data))
	assert.Equal(t, m, &got)
	for _, raw := range [][]float64{{1, 2, 3}, {-1e300, 0, math.SmallestNonzeroFloat64}} {
		want, err := m.Predict(raw)
		require.NoError(t, err)
		y, err := got.Predict(raw)
		require.NoError(t, err)
		assert.Equal(t, math.Float64bits(want), math.Float64bits(y))
	}
	again, err := got.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, data, again, "encoding is deterministic")
}

func TestModelEncodingNeedsRegisteredParts(t *testing.T) {
	m := savedModel()
	m.Transformers = append(m.Transformers, stream.TransformFunc(func(context.Context, *stream.Batch) error { return nil }))
	_, err := m.MarshalBinary()
	assert.ErrorContains(t, err, "transform[2]: stream.TransformFunc is not a registered part")

	_, err = (&stream.Model{Schema: testSchema}).MarshalBinary()
	assert.ErrorContains(t, err, "no Predictor")
}

func TestModelDecodingRefusesWhatIsNotAModel(t *testing.T) {
	data, err := savedModel().MarshalBinary()
	require.NoError(t, err)
	var m stream.Model
	for n := range data {
		assert.ErrorIs(t, m.UnmarshalBinary(data[:n]), stream.ErrModelFormat, "truncated to %d bytes", n)
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		assert.ErrorIs(t, m.UnmarshalBinary(bad), stream.ErrModelFormat, "byte %d changed", i)
	}
	assert.Nil(t, m.Predictor, "m is unchanged by a refused encoding")

	// A part whose own decoder refuses it: the error says which, and wraps
	// the part's error.
	short := withPart(t, "streamtest.sum", []byte{1, 2, 3})
	err = m.UnmarshalBinary(short)
	assert.ErrorIs(t, err, stream.ErrModelFormat)
	assert.ErrorContains(t, err, `part "streamtest.sum": 3 bytes, want 8`)

	unknown := withPart(t, "elsewhere.Forest", make([]byte, 8))
	assert.ErrorContains(t, m.UnmarshalBinary(unknown), `part "elsewhere.Forest" is not registered`)
}

// withPart returns an encoding of a Model without transformers whose
// predictor is the given name and bytes, with a valid checksum.
func withPart(t testing.TB, name string, part []byte) []byte {
	t.Helper()
	data, err := (&stream.Model{Schema: testSchema, Predictor: &sumPart{weight: 1}, Version: 1}).MarshalBinary()
	require.NoError(t, err)
	// The predictor ends the body: its name, its length and 8 bytes, then the checksum.
	cut := len(data) - 4 - 8 - 8 - 4 - len("streamtest.sum")
	b := append([]byte(nil), data[:cut]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(part)))
	b = append(b, part...)
	return binary.LittleEndian.AppendUint32(b, crc32c(b))
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func TestRegisterPartRefusesMistakes(t *testing.T) {
	assert.PanicsWithValue(t, `stream: RegisterPart: name "streamtest.sum" registered twice`, func() {
		stream.RegisterPart("streamtest.sum", func([]byte) (*offsetPart, error) { return nil, errors.New("no") })
	})
	assert.Panics(t, func() {
		stream.RegisterPart("streamtest.again", func([]byte) (*sumPart, error) { return nil, errors.New("no") })
	}, "a type registered twice")
	assert.Panics(t, func() {
		stream.RegisterPart("streamtest.func", func([]byte) (stream.PredictFunc, error) { return nil, errors.New("no") })
	}, "not a BinaryMarshaler")
}

func FuzzUnmarshalModel(f *testing.F) {
	data, err := savedModel().MarshalBinary()
	require.NoError(f, err)
	f.Add(data)
	f.Add(withPart(f, "streamtest.sum", []byte{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m stream.Model
		if err := m.UnmarshalBinary(data); err != nil {
			require.ErrorIs(t, err, stream.ErrModelFormat)
			return
		}
		again, err := m.MarshalBinary()
		require.NoError(t, err)
		var back stream.Model
		require.NoError(t, back.UnmarshalBinary(again), "a decoded model encodes to a decodable one")
	})
}
