package stream_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"strings"
	"sync"
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

// bodyBuilder builds a Model body field by field, so that tests can put any
// value in any length and then seal it with a valid CRC-32C.
type bodyBuilder struct{ b []byte }

func newBody() *bodyBuilder {
	z := &bodyBuilder{b: []byte("forestMD")}
	return z.u32(1)
}
func (z *bodyBuilder) u32(v uint32) *bodyBuilder {
	z.b = binary.LittleEndian.AppendUint32(z.b, v)
	return z
}
func (z *bodyBuilder) u64(v uint64) *bodyBuilder {
	z.b = binary.LittleEndian.AppendUint64(z.b, v)
	return z
}
func (z *bodyBuilder) raw(p []byte) *bodyBuilder { z.b = append(z.b, p...); return z }
func (z *bodyBuilder) name(s string) *bodyBuilder {
	return z.u32(uint32(len(s))).raw([]byte(s))
}
func (z *bodyBuilder) part(name string, data []byte) *bodyBuilder {
	return z.name(name).u64(uint64(len(data))).raw(data)
}

// schemaAndFacts writes a valid schema and the training facts, up to and not
// including the transformer count.
func (z *bodyBuilder) schemaAndFacts(trainedOn, heldN uint64) *bodyBuilder {
	at, _ := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).MarshalBinary()
	z.u32(1).name("a").name("y").u64(1).name(string(at))
	return z.u64(trainedOn).u64(0).u64(heldN).u64(0).u64(0)
}

func (z *bodyBuilder) seal() []byte {
	out := append([]byte(nil), z.b...)
	return binary.LittleEndian.AppendUint32(out, crc32c(out))
}

func floatBytes(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

// allocBytes reports how many bytes f allocated.
func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Corrupted lengths and counts, each under a valid checksum: refused with
// ErrModelFormat, without a panic and without allocating for what is not
// there.
func TestModelDecodingRefusesCorruptLengths(t *testing.T) {
	at, _ := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).MarshalBinary()
	cases := map[string][]byte{
		"feature count 2^32-1":      newBody().u32(math.MaxUint32).seal(),
		"feature count 2^31":        newBody().u32(1 << 31).raw(make([]byte, 64)).seal(),
		"feature name len 2^32-1":   newBody().u32(1).u32(math.MaxUint32).raw(make([]byte, 64)).seal(),
		"target name len 2^32-1":    newBody().u32(1).name("a").u32(math.MaxUint32).seal(),
		"TrainedAt len 2^32-1":      newBody().u32(1).name("a").name("y").u64(1).u32(math.MaxUint32).seal(),
		"TrainedAt garbage":         newBody().u32(1).name("a").name("y").u64(1).name("\x09garbage").seal(),
		"transformer count 2^32-1":  newBody().schemaAndFacts(0, 0).u32(math.MaxUint32).seal(),
		"transformer count 2^16":    newBody().schemaAndFacts(0, 0).u32(1 << 16).seal(),
		"part name len 2^32-1":      newBody().schemaAndFacts(0, 0).u32(0).u32(math.MaxUint32).seal(),
		"part len 2^64-1":           newBody().schemaAndFacts(0, 0).u32(0).name("streamtest.sum").u64(math.MaxUint64).raw(make([]byte, 8)).seal(),
		"part len 2^63":             newBody().schemaAndFacts(0, 0).u32(0).name("streamtest.sum").u64(1 << 63).raw(make([]byte, 8)).seal(),
		"part len 2^32+8":           newBody().schemaAndFacts(0, 0).u32(0).name("streamtest.sum").u64(1<<32 + 8).raw(make([]byte, 8)).seal(),
		"predictor in transformers": newBody().schemaAndFacts(0, 0).u32(1).part("streamtest.sum", floatBytes(1)).part("streamtest.sum", floatBytes(1)).seal(),
		"transformer as predictor":  newBody().schemaAndFacts(0, 0).u32(0).part("streamtest.offset", floatBytes(1)).seal(),
		"no predictor":              newBody().schemaAndFacts(0, 0).u32(0).seal(),
		"trailing byte":             newBody().schemaAndFacts(0, 0).u32(0).part("streamtest.sum", floatBytes(1)).raw([]byte{0}).seal(),
		"future version":            bodyBuilderVersion(2),
		"version 0":                 bodyBuilderVersion(0),
		"zero features":             newBody().u32(0).name("y").u64(1).name(string(at)).u64(0).u64(0).u64(0).u64(0).u64(0).u32(0).part("streamtest.sum", floatBytes(1)).seal(),
		"header only":               newBody().seal(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var m stream.Model
			var err error
			n := allocBytes(func() {
				assert.NotPanics(t, func() { err = m.UnmarshalBinary(data) })
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, stream.ErrModelFormat)
			assert.Less(t, n, uint64(1<<20), "allocated %d bytes for %d of input", n, len(data))
			assert.Nil(t, m.Predictor)
		})
	}
}

func bodyBuilderVersion(v uint32) []byte {
	z := &bodyBuilder{b: []byte("forestMD")}
	z.u32(v)
	good, _ := savedModel().MarshalBinary()
	z.raw(good[12 : len(good)-4])
	return z.seal()
}

// A future version is named in the error, not taken for corruption.
func TestModelDecodingNamesAFutureVersion(t *testing.T) {
	var m stream.Model
	err := m.UnmarshalBinary(bodyBuilderVersion(2))
	assert.ErrorIs(t, err, stream.ErrModelFormat)
	assert.ErrorContains(t, err, "version 2")
}

// Counts beyond an int are corruption, or data from a 64-bit machine read
// on a 32-bit one: refused, not wrapped or truncated.
func TestModelDecodingRefusesCountsBeyondAnInt(t *testing.T) {
	for _, c := range []struct {
		name           string
		trainedOn, hoN uint64
	}{
		{"TrainedOn 2^63", 1 << 63, 0},
		{"TrainedOn 2^64-1", math.MaxUint64, 0},
		{"HeldOut.N 2^63", 0, 1 << 63},
		{"TrainedOn 2^40", 1 << 40, 0}, // fits an int on 64-bit machines only
	} {
		t.Run(c.name, func(t *testing.T) {
			data := newBody().schemaAndFacts(c.trainedOn, c.hoN).u32(0).part("streamtest.sum", floatBytes(1)).seal()
			var m stream.Model
			err := m.UnmarshalBinary(data)
			if err != nil {
				assert.ErrorIs(t, err, stream.ErrModelFormat)
				return
			}
			assert.Equal(t, c.trainedOn, uint64(m.TrainedOn), "TrainedOn decoded as %d", m.TrainedOn)
			assert.Equal(t, c.hoN, uint64(m.HeldOut.N), "HeldOut.N decoded as %d", m.HeldOut.N)
			assert.GreaterOrEqual(t, m.TrainedOn, 0, "a negative record count is accepted")
			assert.GreaterOrEqual(t, m.HeldOut.N, 0, "a negative held-out count is accepted")
		})
	}
}

// Every field, at its edges, survives a round trip.
func TestModelRoundTripEveryField(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	m := savedModel()
	m.Schema = stream.Schema{Features: []string{"é", "a b", strings.Repeat("x", 1000)}, Target: ""}
	m.Version = math.MaxUint64
	m.TrainedAt = time.Now().In(ny)
	m.TrainedOn = math.MaxInt
	m.TrainDuration = -5 * time.Nanosecond
	m.HeldOut = stream.HeldOut{N: 0, MSE: nan, R2: math.Inf(-1)}
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	var got stream.Model
	require.NoError(t, got.UnmarshalBinary(data))

	assert.Equal(t, m.Schema, got.Schema)
	assert.Equal(t, m.Transformers, got.Transformers)
	assert.Equal(t, m.Predictor, got.Predictor)
	assert.Equal(t, m.Version, got.Version)
	assert.True(t, m.TrainedAt.Equal(got.TrainedAt), "instant")
	assert.Equal(t, m.TrainedOn, got.TrainedOn)
	assert.Equal(t, m.TrainDuration, got.TrainDuration)
	assert.Equal(t, m.HeldOut.N, got.HeldOut.N)
	assert.Equal(t, math.Float64bits(m.HeldOut.MSE), math.Float64bits(got.HeldOut.MSE), "NaN payload")
	assert.Equal(t, math.Float64bits(m.HeldOut.R2), math.Float64bits(got.HeldOut.R2))
	_, off := m.TrainedAt.Zone()
	_, gotOff := got.TrainedAt.Zone()
	assert.Equal(t, off, gotOff, "TrainedAt keeps its offset, not its zone's name")
}

// MarshalBinary refuses what UnmarshalBinary would: a service saving such a
// model must not find out only when it restarts.
func TestModelSavesOnlyWhatLoads(t *testing.T) {
	many := make([]stream.Transformer, 1<<16+1)
	for i := range many {
		many[i] = &offsetPart{}
	}
	for name, m := range map[string]*stream.Model{
		"empty schema":         {Predictor: &sumPart{weight: 1}, Version: 1},
		"duplicate features":   {Schema: stream.Schema{Features: []string{"a", "a"}}, Predictor: &sumPart{weight: 1}, Version: 1},
		"unnamed feature":      {Schema: stream.Schema{Features: []string{""}}, Predictor: &sumPart{weight: 1}, Version: 1},
		"65537 transformers":   {Schema: testSchema, Transformers: many, Predictor: &sumPart{weight: 1}, Version: 1},
		"ok (control)":         {Schema: testSchema, Predictor: &sumPart{weight: 1}, Version: 1},
		"zoned time (control)": {Schema: testSchema, Predictor: &sumPart{weight: 1}, Version: 1, TrainedAt: time.Now().In(time.FixedZone("x", 3*3600+1))},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := m.MarshalBinary()
			if strings.Contains(name, "control") {
				require.NoError(t, err)
			} else {
				require.Error(t, err, "refused when saved, not when loaded")
				return
			}
			var back stream.Model
			assert.NoError(t, back.UnmarshalBinary(data), "MarshalBinary succeeded, so the model must load")
		})
	}
}

// A nil Transformer in the slice is an error, not a panic, and the error
// says which.
func TestModelEncodingNamesANilPart(t *testing.T) {
	m := savedModel()
	m.Transformers = append(m.Transformers, nil)
	var err error
	require.NotPanics(t, func() { _, err = m.MarshalBinary() })
	assert.ErrorContains(t, err, "transform[2]: is nil")
}

// appendingPart is a part whose decoder appends to the data it is given, as a
// decoder that reuses its input as a buffer might.
type appendingPart struct{ p []byte }

func (z *appendingPart) Transform(context.Context, *stream.Batch) error { return nil }
func (z *appendingPart) MarshalBinary() ([]byte, error)                 { return []byte("ab"), nil }

func init() {
	stream.RegisterPart("streamtest.appender", func(data []byte) (*appendingPart, error) {
		return &appendingPart{p: append(data, "!!!!!!!!"...)}, nil
	})
}

// A part's decoder that appends to its data must not overwrite the
// caller's bytes or the parts not yet decoded.
func TestPartDecoderCannotWriteBeyondItsBytes(t *testing.T) {
	m := savedModel()
	m.Transformers = []stream.Transformer{&appendingPart{}}
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	keep := bytes.Clone(data)
	var back stream.Model
	err = back.UnmarshalBinary(data)
	assert.Equal(t, keep, data, "UnmarshalBinary changed its input")
	assert.NoError(t, err)
}

func TestRegisterPartRefusesNilDecode(t *testing.T) {
	type noDecode struct{ sumPart }
	assert.PanicsWithValue(t, `stream: RegisterPart: no decode function for "streamtest.nodecode"`, func() {
		stream.RegisterPart[*noDecode]("streamtest.nodecode", nil)
	})
}

// RegisterPart runs while models are encoded and decoded.
func TestRegisterPartWhileModelsTravel(t *testing.T) {
	data, err := savedModel().MarshalBinary()
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var m stream.Model
				if err := m.UnmarshalBinary(data); err != nil {
					t.Error(err)
					return
				}
				again, err := m.MarshalBinary()
				if err != nil || !bytes.Equal(again, data) {
					t.Error("re-encoding differs", err)
					return
				}
			}
		}()
	}
	registerGenParts()
	close(stop)
	wg.Wait()
}

type genPart[T any] struct{ sumPart }

func registerGen[T any](name string) {
	stream.RegisterPart(name, func(d []byte) (*genPart[T], error) { return &genPart[T]{sumPart{1}}, nil })
	// A model using the type just registered encodes and decodes.
	m := &stream.Model{Schema: testSchema, Predictor: &genPart[T]{sumPart{1}}, Version: 1}
	data, err := m.MarshalBinary()
	if err == nil {
		err = new(stream.Model).UnmarshalBinary(data)
	}
	if err != nil {
		panic(err)
	}
}

func registerGenParts() {
	var wg sync.WaitGroup
	for _, f := range []func(){
		func() { registerGen[int]("streamtest.gen.int") }, func() { registerGen[int8]("streamtest.gen.int8") },
		func() { registerGen[int16]("streamtest.gen.int16") }, func() { registerGen[int32]("streamtest.gen.int32") },
		func() { registerGen[uint]("streamtest.gen.uint") }, func() { registerGen[string]("streamtest.gen.string") },
		func() { registerGen[float32]("streamtest.gen.float32") }, func() { registerGen[bool]("streamtest.gen.bool") },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

// FuzzUnmarshalModel seals whatever the fuzzer writes with a valid
// checksum, so that what is fuzzed is the decoder past it, which random
// bytes would almost never reach.
func FuzzUnmarshalModel(f *testing.F) {
	for _, m := range []*stream.Model{savedModel(), {Schema: testSchema, Predictor: &sumPart{1}, Version: 1}} {
		data, err := m.MarshalBinary()
		require.NoError(f, err)
		f.Add(data[:len(data)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32c(body))
		var m stream.Model
		if err := m.UnmarshalBinary(data); err != nil {
			require.ErrorIs(t, err, stream.ErrModelFormat)
			return
		}
		again, err := m.MarshalBinary()
		require.NoError(t, err)
		var back stream.Model
		require.NoError(t, back.UnmarshalBinary(again))
		twice, err := back.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, again, twice, "encoding of a decoded model is stable")
	})
}

// Saving reads the model only: the same model is saved from several
// goroutines at once (-race checks), and a schema sharing its array with
// the caller's is left as it was.
func TestModelSavesConcurrentlyWithoutWriting(t *testing.T) {
	names := []string{"a", "b", "c", "KEEP"}
	m := savedModel()
	m.Schema = stream.Schema{Features: names[:3], Target: "y"}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.MarshalBinary()
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, "KEEP", names[3])

	var none *stream.Model
	_, err := none.MarshalBinary()
	assert.ErrorContains(t, err, "no Model")
}

// nilPart's decoder returns a nil pointer and no error, a bug the decoder
// must not pass on to the first Predict.
type nilPart struct{ sumPart }

func init() {
	stream.RegisterPart("streamtest.nil", func([]byte) (*nilPart, error) { return nil, nil })
}

func TestModelDecodingRefusesANilPart(t *testing.T) {
	data, err := (&stream.Model{Schema: testSchema, Predictor: &nilPart{}, Version: 1}).MarshalBinary()
	require.NoError(t, err)
	var m stream.Model
	assert.ErrorContains(t, m.UnmarshalBinary(data), `part "streamtest.nil" decoded to a nil`)
}
