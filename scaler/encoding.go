package scaler

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

var (
	_ encoding.BinaryMarshaler   = (*Standard)(nil)
	_ encoding.BinaryUnmarshaler = (*Standard)(nil)
	_ encoding.BinaryMarshaler   = (*FrozenStandard)(nil)
	_ encoding.BinaryMarshaler   = (*MinMax)(nil)
	_ encoding.BinaryUnmarshaler = (*MinMax)(nil)
	_ encoding.BinaryMarshaler   = (*FrozenMinMax)(nil)
)

// The encoded state is documented in the package overview (doc.go), as a
// format users may rely on. A later format gets a new version number; the
// decoder keeps reading every earlier version and refuses a version it does
// not know rather than guess.
const (
	magic         = "FSSC"
	formatVersion = 1
	kindStandard  = 'S'
	kindMinMax    = 'M'
	headerSize    = 12
	crcSize       = 4

	flagNoMean = 1 << 0
	flagNoStd  = 1 << 1
)

// MarshalBinary encodes the options and everything s has learned, in a
// versioned binary format with a checksum (see UnmarshalBinary). It never
// fails.
func (s *Standard) MarshalBinary() ([]byte, error) { return s.st.marshal(), nil }

// MarshalBinary encodes the frozen state in the same format as
// Standard.MarshalBinary: decode it with Standard.UnmarshalBinary, and Freeze
// the result to get an equal FrozenStandard back.
func (f *FrozenStandard) MarshalBinary() ([]byte, error) { return f.st.marshal(), nil }

// UnmarshalBinary replaces s's options and state with those encoded in data
// by MarshalBinary; s can then go on learning where the encoded scaler left
// off. Data that is truncated, corrupted (the checksum or a value does not
// hold), of an unknown format version, or not a Standard's state gives an
// error wrapping ErrFormat, and s is unchanged.
func (s *Standard) UnmarshalBinary(data []byte) error {
	st, err := decodeStandard(data)
	if err != nil {
		return err
	}
	*s = Standard{st: st}
	for _, c := range st.n {
		if c == 0 {
			s.unseen++
		}
	}
	return nil
}

// MarshalBinary encodes the target range and everything m has learned, in
// the format of Standard.MarshalBinary with a kind of its own. It never
// fails.
func (m *MinMax) MarshalBinary() ([]byte, error) { return m.st.marshal(), nil }

// MarshalBinary encodes the frozen state in the format of MinMax.MarshalBinary.
func (f *FrozenMinMax) MarshalBinary() ([]byte, error) { return f.st.marshal(), nil }

// UnmarshalBinary replaces m's range and state with those encoded in data by
// MarshalBinary. Bad data gives an error wrapping ErrFormat, as for
// Standard.UnmarshalBinary, and m is unchanged.
func (m *MinMax) UnmarshalBinary(data []byte) error {
	st, err := decodeMinMax(data)
	if err != nil {
		return err
	}
	*m = MinMax{st: st}
	return nil
}

func header(kind, flags byte, d, size int) []byte {
	buf := make([]byte, headerSize, size)
	copy(buf, magic)
	buf[4] = formatVersion
	buf[5] = kind
	buf[6] = flags
	binary.LittleEndian.PutUint32(buf[8:], uint32(d))
	return buf
}

func appendFloat(buf []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
}

func (st *standardState) marshal() []byte {
	d := len(st.n)
	var flags byte
	if st.noMean {
		flags |= flagNoMean
	}
	if st.noStd {
		flags |= flagNoStd
	}
	buf := header(kindStandard, flags, d, headerSize+32*d+crcSize)
	for j := 0; j < d; j++ {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(st.n[j]))
		buf = appendFloat(buf, st.shift[j])
		buf = appendFloat(buf, st.mean[j])
		buf = appendFloat(buf, st.m2[j])
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

func (st *minMaxState) marshal() []byte {
	d := len(st.n)
	buf := header(kindMinMax, 0, d, headerSize+16+24*d+crcSize)
	lo, hi := st.target()
	buf = appendFloat(buf, lo)
	buf = appendFloat(buf, hi)
	for j := 0; j < d; j++ {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(st.n[j]))
		buf = appendFloat(buf, st.min[j])
		buf = appendFloat(buf, st.max[j])
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// unframe checks the framing every kind shares and returns the flags, the
// number of features and the body between header and checksum. The length
// is checked against d before anything is allocated, so a forged d cannot
// make the decoder ask for gigabytes.
func unframe(data []byte, kind byte, fixed, perFeature int) (flags byte, d int, body []byte, err error) {
	if len(data) < headerSize+crcSize {
		return 0, 0, nil, formatErr("%d bytes is too short for a scaler state", len(data))
	}
	if string(data[:4]) != magic {
		return 0, 0, nil, formatErr("not a forestream scaler state (magic %q)", data[:4])
	}
	if v := data[4]; v != formatVersion {
		return 0, 0, nil, formatErr("unsupported format version %d (this package reads version %d)", v, formatVersion)
	}
	if k := data[5]; k != kind {
		return 0, 0, nil, formatErr("state of kind %q, want %q", k, kind)
	}
	if data[7] != 0 {
		return 0, 0, nil, formatErr("reserved byte is %d, want 0", data[7])
	}
	n := binary.LittleEndian.Uint32(data[8:])
	want := uint64(headerSize) + uint64(fixed) + uint64(perFeature)*uint64(n) + crcSize
	if uint64(len(data)) != want {
		return 0, 0, nil, formatErr("%d bytes, want %d for %d features (truncated or trailing data)", len(data), want, n)
	}
	end := len(data) - crcSize
	if got, sum := crc32.ChecksumIEEE(data[:end]), binary.LittleEndian.Uint32(data[end:]); got != sum {
		return 0, 0, nil, formatErr("checksum mismatch (corrupted data)")
	}
	return data[6], int(n), data[headerSize:end], nil
}

func readFloat(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }

// maxCount is the largest count the decoder takes: no stream reaches 2^53
// values, beyond which a count stops being exact as a float64, and a forged
// count near 2^63 would wrap negative at the next Fit.
const maxCount = 1 << 53

func readCount(b []byte, j int) (int64, error) {
	c := binary.LittleEndian.Uint64(b)
	if c > maxCount {
		return 0, formatErr("feature %d: count %d out of range (at most 2^53)", j, c)
	}
	return int64(c), nil
}

func decodeStandard(data []byte) (standardState, error) {
	flags, d, body, err := unframe(data, kindStandard, 0, 32)
	if err != nil {
		return standardState{}, err
	}
	if flags&^(flagNoMean|flagNoStd) != 0 {
		return standardState{}, formatErr("unknown flags %#x", flags)
	}
	st := standardState{noMean: flags&flagNoMean != 0, noStd: flags&flagNoStd != 0}
	if d == 0 {
		return st, nil
	}
	st.alloc(d)
	for j := 0; j < d; j++ {
		e := body[32*j : 32*j+32]
		c, err := readCount(e, j)
		if err != nil {
			return standardState{}, err
		}
		shift, mean, m2 := readFloat(e[8:]), readFloat(e[16:]), readFloat(e[24:])
		switch {
		case !finite(shift) || !finite(mean) || !finite(m2):
			return standardState{}, formatErr("feature %d: non-finite statistics", j)
		case !finite(shift + mean):
			// Fit and Merge keep the mean between the data's extremes, so
			// one that overflows was never written by this package.
			return standardState{}, formatErr("feature %d: mean %v + %v overflows", j, shift, mean)
		case m2 < 0:
			return standardState{}, formatErr("feature %d: negative sum of squares %v", j, m2)
		case c == 0 && (shift != 0 || mean != 0 || m2 != 0):
			return standardState{}, formatErr("feature %d: statistics without values", j)
		}
		st.n[j], st.shift[j], st.mean[j], st.m2[j] = c, shift, mean, m2
	}
	st.updateScale()
	return st, nil
}

func decodeMinMax(data []byte) (minMaxState, error) {
	flags, d, body, err := unframe(data, kindMinMax, 16, 24)
	if err != nil {
		return minMaxState{}, err
	}
	if flags != 0 {
		return minMaxState{}, formatErr("unknown flags %#x", flags)
	}
	lo, hi := readFloat(body), readFloat(body[8:])
	if !finite(lo) || !finite(hi) || !(lo < hi) || !finite(hi-lo) {
		return minMaxState{}, formatErr("target range [%v, %v]", lo, hi)
	}
	st := minMaxState{lo: lo, hi: hi}
	if d == 0 {
		return st, nil
	}
	st.alloc(d)
	body = body[16:]
	for j := 0; j < d; j++ {
		e := body[24*j : 24*j+24]
		c, err := readCount(e, j)
		if err != nil {
			return minMaxState{}, err
		}
		lo, hi := readFloat(e[8:]), readFloat(e[16:])
		switch {
		case c == 0 && (lo != 0 || hi != 0):
			return minMaxState{}, formatErr("feature %d: range without values", j)
		case c > 0 && (!finite(lo) || !finite(hi) || !(lo <= hi)):
			return minMaxState{}, formatErr("feature %d: range [%v, %v]", j, lo, hi)
		case c > 0 && st.checkRange(j, lo, hi) != nil:
			return minMaxState{}, formatErr("feature %d: range [%v, %v] that Fit refuses", j, lo, hi)
		}
		st.n[j], st.min[j], st.max[j] = c, lo, hi
	}
	st.update()
	return st, nil
}
