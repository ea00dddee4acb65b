package stream

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"sync"
	"time"
)

// ErrModelFormat is wrapped by the errors UnmarshalBinary returns for data
// that is not a Model's encoding: truncated, corrupted, of an unknown
// version, or naming a part no package registered.
var ErrModelFormat = errors.New("stream: not a model encoding")

const (
	modelMagic   = "forestMD"
	modelVersion = 1
	// maxModelParts bounds the transformer count a decoder believes, so
	// that a corrupted count cannot make it allocate for parts not there.
	maxModelParts = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// parts is the registry of the Transformer and Predictor types a Model
// encoding may hold.
var parts struct {
	mu     sync.RWMutex
	names  map[reflect.Type]string
	decode map[string]func([]byte) (any, error)
}

// RegisterPart lets Models whose Transformers or Predictor are of type T
// be encoded, T's values by their own MarshalBinary (T must implement
// encoding.BinaryMarshaler), and decoded by decode, under name. decode must
// copy data if it keeps any of it. Packages that provide stages register
// them in an init function, as forest and scaler do, the way image formats
// register with package image; name them by package and type
// ("forest.Regressor"), qualified further if the package name is common.
// A function type such as TransformFunc cannot be a part: it has no
// MarshalBinary. RegisterPart panics if T is not a BinaryMarshaler, decode
// is nil, or name or T is already registered: those are mistakes in the
// program, not in its data.
func RegisterPart[T any](name string, decode func(data []byte) (T, error)) {
	t := reflect.TypeFor[T]()
	if !t.Implements(reflect.TypeFor[encoding.BinaryMarshaler]()) {
		panic(fmt.Sprintf("stream: RegisterPart: %v does not implement encoding.BinaryMarshaler", t))
	}
	if decode == nil {
		panic(fmt.Sprintf("stream: RegisterPart: no decode function for %q", name))
	}
	parts.mu.Lock()
	defer parts.mu.Unlock()
	if parts.names == nil {
		parts.names = map[reflect.Type]string{}
		parts.decode = map[string]func([]byte) (any, error){}
	}
	if _, dup := parts.decode[name]; dup {
		panic(fmt.Sprintf("stream: RegisterPart: name %q registered twice", name))
	}
	if _, dup := parts.names[t]; dup {
		panic(fmt.Sprintf("stream: RegisterPart: %v registered twice", t))
	}
	parts.names[t] = name
	parts.decode[name] = func(data []byte) (any, error) { return decode(data) }
}

// MarshalBinary encodes m, so that a service can save the model it serves
// and start its next run from it (Pipeline.InitialModel). Every part, each
// Transformer and the Predictor, must be of a type registered with
// RegisterPart; forest's models and scaler's frozen scalers are. Decoding
// gives a Model that predicts bit for bit as m; TrainedAt keeps its instant
// and offset from UTC, not its zone's name or monotonic clock reading.
//
// The encoding, little-endian, is
//
//	magic    "forestMD"
//	version  uint32, 1; a later format gets a new number, and decoders
//	         refuse numbers they do not know
//	body     schema: uint32 feature count, then each name; the target's
//	         name (a name is a uint32 length and its bytes);
//	         Version uint64, TrainedAt (a name holding time.Time's binary
//	         form), TrainedOn uint64, TrainDuration int64 nanoseconds,
//	         HeldOut: N uint64, MSE and R2 as float64 bits;
//	         uint32 transformer count, then each transformer, then the
//	         Predictor, each as its registered name and its own
//	         MarshalBinary bytes (a uint64 length and the bytes)
//	checksum uint32 CRC-32C (Castagnoli) of everything before it
func (m *Model) MarshalBinary() ([]byte, error) {
	if m == nil {
		return nil, errors.New("stream: no Model to encode")
	}
	if m.Predictor == nil {
		return nil, errNoPredictor
	}
	// What UnmarshalBinary would refuse is refused now, not at the restart
	// that needs the model.
	if err := m.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("stream: model schema: %w", err)
	}
	if len(m.Transformers) > maxModelParts {
		return nil, fmt.Errorf("stream: model has %d transformers, at most %d can be saved", len(m.Transformers), maxModelParts)
	}
	for _, name := range m.Schema.Features {
		if uint64(len(name)) > math.MaxUint32 {
			return nil, fmt.Errorf("stream: model schema: a name of %d bytes", len(name))
		}
	}
	if uint64(len(m.Schema.Target)) > math.MaxUint32 {
		return nil, fmt.Errorf("stream: model schema: a target name of %d bytes", len(m.Schema.Target))
	}
	b := append([]byte(nil), modelMagic...)
	b = binary.LittleEndian.AppendUint32(b, modelVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Schema.Features)))
	for _, f := range m.Schema.Features {
		b = appendName(b, f)
	}
	b = appendName(b, m.Schema.Target)
	b = binary.LittleEndian.AppendUint64(b, m.Version)
	at, err := m.TrainedAt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("stream: model TrainedAt: %w", err)
	}
	b = appendName(b, string(at))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.TrainedOn))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.TrainDuration))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.HeldOut.N))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.HeldOut.MSE))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.HeldOut.R2))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Transformers)))
	for i, t := range m.Transformers {
		if b, err = appendPart(b, t); err != nil {
			return nil, fmt.Errorf("stream: model transform[%d]: %w", i, err)
		}
	}
	if b, err = appendPart(b, m.Predictor); err != nil {
		return nil, fmt.Errorf("stream: model predictor: %w", err)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func appendName(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendPart(b []byte, part any) ([]byte, error) {
	if part == nil {
		return nil, errors.New("is nil")
	}
	if v := reflect.ValueOf(part); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("is a nil %T", part)
	}
	parts.mu.RLock()
	name, ok := parts.names[reflect.TypeOf(part)]
	parts.mu.RUnlock()
	if !ok {
		if _, live := part.(Fitter); live {
			return nil, fmt.Errorf("%T is a live Fitter: a Model holds its Freeze", part)
		}
		return nil, fmt.Errorf("%T is not a registered part (see RegisterPart)", part)
	}
	data, err := part.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = appendName(b, name)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	return append(b, data...), nil
}

// UnmarshalBinary replaces m with the Model encoded in data by
// MarshalBinary, its parts decoded by the functions their packages
// registered, so those packages must be linked in (imported). Data that is
// not such an encoding gives an error wrapping ErrModelFormat, and m is
// unchanged.
func (m *Model) UnmarshalBinary(data []byte) error {
	if len(data) < len(modelMagic)+8 || string(data[:len(modelMagic)]) != modelMagic {
		return fmt.Errorf("%w: no model header", ErrModelFormat)
	}
	// The version first: a later format may end differently.
	if v := binary.LittleEndian.Uint32(data[len(modelMagic):]); v != modelVersion {
		return fmt.Errorf("%w: format version %d, this package reads %d", ErrModelFormat, v, modelVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum does not match", ErrModelFormat)
	}
	d := modelDecoder{b: body[len(modelMagic)+4:]}
	var out Model
	nf := d.u32()
	if d.err == nil && uint64(nf) > uint64(len(d.b))/4 {
		d.fail("%d feature names in %d bytes", nf, len(d.b))
	}
	if d.err == nil {
		out.Schema.Features = make([]string, nf)
		for i := range out.Schema.Features {
			out.Schema.Features[i] = d.name()
		}
	}
	out.Schema.Target = d.name()
	out.Version = d.u64()
	if at := d.name(); d.err == nil {
		if err := out.TrainedAt.UnmarshalBinary([]byte(at)); err != nil {
			d.fail("TrainedAt: %v", err)
		}
	}
	out.TrainedOn = d.count("TrainedOn")
	out.TrainDuration = time.Duration(d.u64())
	out.HeldOut.N = d.count("HeldOut.N")
	out.HeldOut.MSE = math.Float64frombits(d.u64())
	out.HeldOut.R2 = math.Float64frombits(d.u64())
	nt := d.u32()
	if d.err == nil && nt > maxModelParts {
		d.fail("%d transformers", nt)
	}
	for i := 0; d.err == nil && i < int(nt); i++ {
		t, ok := d.part().(Transformer)
		if d.err == nil && !ok {
			d.fail("transform[%d] is not a Transformer", i)
		}
		out.Transformers = append(out.Transformers, t)
	}
	p, ok := d.part().(Predictor)
	if d.err == nil && !ok {
		d.fail("the predictor is not a Predictor")
	}
	out.Predictor = p
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the predictor", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	if err := out.Schema.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrModelFormat, err)
	}
	*m = out
	return nil
}

// modelDecoder reads a Model's body and remembers the first error, so that
// the decoding reads straight through and checks once.
type modelDecoder struct {
	b   []byte
	err error
}

func (d *modelDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrModelFormat, fmt.Sprintf(format, args...))
	}
}

func (d *modelDecoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated: %d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n] // a part's decoder that appends cannot reach the rest
	d.b = d.b[n:]
	return v
}

func (d *modelDecoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *modelDecoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// count reads a uint64 that must fit in an int, the field's name saying
// which did not: a model saved on a 64-bit machine may not load on 32 bits.
func (d *modelDecoder) count(field string) int {
	v := d.u64()
	if v > math.MaxInt {
		d.fail("%s is %d, more than an int holds here", field, v)
		return 0
	}
	return int(v)
}

func (d *modelDecoder) name() string { return string(d.take(uint64(d.u32()))) }

// part decodes one registered part: its name, then its own encoding.
func (d *modelDecoder) part() any {
	name := d.name()
	data := d.take(d.u64())
	if d.err != nil {
		return nil
	}
	parts.mu.RLock()
	decode, ok := parts.decode[name]
	parts.mu.RUnlock()
	if !ok {
		d.fail("part %q is not registered: import the package that provides it", name)
		return nil
	}
	v, err := decode(data)
	if err != nil {
		d.err = fmt.Errorf("%w: part %q: %w", ErrModelFormat, name, err)
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		d.fail("part %q decoded to a nil %T", name, v)
		return nil
	}
	return v
}
