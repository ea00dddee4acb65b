package forest

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
)

// formatVersion is the version of the binary format described in doc.go,
// which encoders write. Decoders also read every version from
// oldestVersion on: version 1 differs only in the classifier's body.
const (
	formatVersion = 2
	oldestVersion = 1
)

var (
	magicRegressor  = [8]byte{'f', 'o', 'r', 'e', 's', 't', 'R', 'G'}
	magicClassifier = [8]byte{'f', 'o', 'r', 'e', 's', 't', 'C', 'L'}
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

const (
	headerLen = 8 + 4 + 8
	// maxBody bounds what ReadFrom will accept, so a corrupted length
	// cannot make it wait for or buffer an absurd amount of data.
	maxBody = 1 << 40
	// maxFeatures bounds the feature count of a decoded model.
	maxFeatures = 1 << 24
)

// encoder appends little-endian values to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) u32(v uint32)  { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)  { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) f64(v float64) { e.u64(math.Float64bits(v)) }

func beginEncoding(magic [8]byte, sizeHint int) *encoder {
	e := &encoder{b: make([]byte, 0, headerLen+sizeHint+4)}
	e.b = append(e.b, magic[:]...)
	e.u32(formatVersion)
	e.u64(0) // patched by finish
	return e
}

func (e *encoder) finish() []byte {
	binary.LittleEndian.PutUint64(e.b[12:], uint64(len(e.b)-headerLen))
	return binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
}

// decoder reads little-endian values and remembers the first error, so a
// truncated body is reported once and never indexes past the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated", ErrFormat)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
}

// openBody checks the header and the checksum and returns the body and
// the format version.
func openBody(data []byte, magic [8]byte) ([]byte, uint32, error) {
	if len(data) < headerLen+4 {
		return nil, 0, fmt.Errorf("%w: %d bytes is too short", ErrFormat, len(data))
	}
	if !bytes.Equal(data[:8], magic[:]) {
		return nil, 0, fmt.Errorf("%w: bad magic %q, want %q", ErrFormat, data[:8], magic[:])
	}
	v := binary.LittleEndian.Uint32(data[8:])
	if err := checkVersion(v); err != nil {
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint64(data[12:])
	if n != uint64(len(data)-headerLen-4) {
		return nil, 0, fmt.Errorf("%w: header says %d body bytes, got %d", ErrFormat, n, len(data)-headerLen-4)
	}
	end := len(data) - 4
	if got, want := crc32.Checksum(data[:end], castagnoli), binary.LittleEndian.Uint32(data[end:]); got != want {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", ErrFormat)
	}
	return data[headerLen:end], v, nil
}

func checkVersion(v uint32) error {
	if v < oldestVersion || v > formatVersion {
		return fmt.Errorf("%w: version %d, this package reads %d to %d", ErrVersion, v, oldestVersion, formatVersion)
	}
	return nil
}

// readModel reads one encoded model from r, header first, so it consumes
// exactly the model's bytes and buffers only as much as actually arrives.
func readModel(r io.Reader, magic [8]byte) ([]byte, int64, error) {
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, headerLen)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: truncated header", ErrFormat)
		}
		return nil, n, err
	}
	h := buf.Bytes()
	if !bytes.Equal(h[:8], magic[:]) {
		return nil, n, fmt.Errorf("%w: bad magic %q, want %q", ErrFormat, h[:8], magic[:])
	}
	if err := checkVersion(binary.LittleEndian.Uint32(h[8:])); err != nil {
		return nil, n, err
	}
	body := binary.LittleEndian.Uint64(h[12:])
	if body > maxBody {
		return nil, n, fmt.Errorf("%w: body length %d is too large", ErrFormat, body)
	}
	m, err := io.CopyN(&buf, r, int64(body)+4)
	n += m
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: truncated body", ErrFormat)
		}
		return nil, n, err
	}
	return buf.Bytes(), n, nil
}

// MarshalBinary encodes the forest in the versioned binary format described
// in the package documentation: a magic header, full-precision values and a
// CRC-32C checksum. Decoding gives bit-identical predictions.
func (r *Regressor) MarshalBinary() ([]byte, error) {
	if r.p == 0 {
		return nil, ErrNotTrained
	}
	// Every tree's encoded size is known, so the trees are written into
	// their places in parallel: rebuilding nodes from blocks is most of the
	// work.
	at := make([]int, len(r.sizes)+1)
	for t, n := range r.sizes {
		at[t+1] = at[t] + 4 + 16*int(n)
	}
	e := beginEncoding(magicRegressor, 40+8*r.p+at[len(r.sizes)])
	e.u32(uint32(r.p))
	e.u32(uint32(r.NumTrees()))
	e.u64(uint64(r.oob.N))
	e.f64(r.oob.MSE)
	e.f64(r.oob.R2)
	for _, v := range r.imp {
		e.f64(v)
	}
	body := len(e.b)
	e.b = e.b[:body+at[len(r.sizes)]]
	workers := max(1, min(runtime.GOMAXPROCS(0), len(r.sizes)))
	scratch := make([]treeScratch, workers)
	forEachTree(len(r.sizes), workers, func(w, t int) {
		putTree(e.b[body+at[t]:body+at[t+1]], r.tree(t, &scratch[w]))
	})
	return e.finish(), nil
}

// putTree writes a tree's encoding, node count first, to dst, which has
// exactly the room for it.
func putTree(dst []byte, nodes []node) {
	le := binary.LittleEndian
	le.PutUint32(dst, uint32(len(nodes)))
	dst = dst[4:]
	for i, nd := range nodes {
		feat, left := uint32(nd.feat), uint32(nd.left)
		if nd.isLeaf(int32(i)) {
			feat, left = math.MaxUint32, 0 // feature int32(-1)
		}
		le.PutUint32(dst, feat)
		le.PutUint32(dst[4:], left)
		le.PutUint64(dst[8:], math.Float64bits(nd.thr))
		dst = dst[16:]
	}
}

// UnmarshalBinary decodes a forest written by MarshalBinary, replacing r's
// contents. It returns an error wrapping ErrFormat or ErrVersion, never
// panics, for truncated, corrupted or foreign input. Do not call it on a
// Regressor that is in use.
func (r *Regressor) UnmarshalBinary(data []byte) error {
	body, _, err := openBody(data, magicRegressor)
	if err != nil {
		return err
	}
	d := &decoder{b: body}
	p, nt := int(d.u32()), int(d.u32())
	oob := struct {
		n       uint64
		mse, r2 float64
	}{d.u64(), d.f64(), d.f64()}
	if d.err != nil {
		return d.err
	}
	switch {
	case p < 1 || p > maxFeatures:
		return fmt.Errorf("%w: %d features", ErrFormat, p)
	case nt < 1 || nt > len(d.b)/16:
		return fmt.Errorf("%w: %d trees in %d bytes", ErrFormat, nt, len(d.b))
	case oob.n > math.MaxInt32 || !finite(oob.mse) || !finite(oob.r2) || oob.mse < 0 || oob.r2 > 1 ||
		oob.n == 0 && (oob.mse != 0 || oob.r2 != 0):
		return fmt.Errorf("%w: out-of-bag error of %d rows: MSE %v, R² %v", ErrFormat, oob.n, oob.mse, oob.r2)
	}
	imp := d.importances(p)
	if d.err != nil {
		return d.err
	}
	out := Regressor{p: p, imp: imp}
	out.oob.N, out.oob.MSE, out.oob.R2 = int(oob.n), oob.mse, oob.r2
	roots, nodes, err := d.trees(p, nt, func(_ int, v float64, at int32) (node, error) {
		if !finite(v) {
			return node{}, errBadLeaf
		}
		return node{thr: v, feat: int32(p), left: at}, nil
	})
	if err != nil {
		return err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last tree", ErrFormat, len(d.b))
	}
	size := func(t int) int32 {
		if t+1 < nt {
			return roots[t+1] - roots[t]
		}
		return int32(len(nodes)) - roots[t]
	}
	if p > blockFeatures {
		out.roots, out.nodes, out.sizes = roots, nodes, make([]int32, nt)
		for t := range nt {
			out.sizes[t] = size(t)
		}
		*r = out
		return nil
	}
	if useCodeLayout(p) {
		out.codes, out.owner, out.sizes, err = layoutCodes(p, nt, runtime.GOMAXPROCS(0), func(t int) ([]node, int32, int) {
			return nodes, roots[t], int(size(t))
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrFormat, err)
		}
		*r = out
		return nil
	}
	out.blocks, out.owner, out.exits, out.sizes, err = layoutBlocks(nt, runtime.GOMAXPROCS(0), func(t int) ([]node, int32, int) {
		return nodes, roots[t], int(size(t))
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	*r = out
	return nil
}

// WriteTo writes the encoded forest to w; it makes Regressor an io.WriterTo.
func (r *Regressor) WriteTo(w io.Writer) (int64, error) { return writeModel(w, r) }

// ReadFrom reads one encoded forest from rd, consuming exactly its bytes,
// and replaces r's contents; it makes Regressor an io.ReaderFrom.
func (r *Regressor) ReadFrom(rd io.Reader) (int64, error) { return readInto(rd, magicRegressor, r) }

// writeModel writes m's encoding to w, for the WriteTo methods.
func writeModel(w io.Writer, m encoding.BinaryMarshaler) (int64, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// readInto reads one model with the given magic from r and decodes it into
// m, for the ReadFrom methods.
func readInto(r io.Reader, magic [8]byte, m encoding.BinaryUnmarshaler) (int64, error) {
	b, n, err := readModel(r, magic)
	if err != nil {
		return n, err
	}
	return n, m.UnmarshalBinary(b)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// errBadLeaf is what a leaf decoder returns for a leaf it refuses; trees
// adds where the leaf is.
var errBadLeaf = errors.New("bad leaf")

// importances reads p feature importances, each finite and not negative,
// summing to 1 (to rounding) or, for a forest where no split lowered the
// error, to 0.
func (d *decoder) importances(p int) []float64 {
	// Checked first, so that a corrupted count cannot make the decoder
	// allocate for values that are not there.
	if d.err == nil && p > len(d.b)/8 {
		d.fail("%d importances in %d bytes", p, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	imp := make([]float64, p)
	for f := range imp {
		v := d.f64()
		if !finite(v) || v < 0 {
			d.fail("importance %v", v)
			return nil
		}
		imp[f] = v
	}
	var sum float64
	for _, v := range imp {
		sum += v
	}
	if sum != 0 && math.Abs(sum-1) > 1e-9 {
		d.fail("importances summing to %v", sum)
		return nil
	}
	return imp
}

// trees reads nt trees of a model of p features, the layout both models
// share: per tree its node count, then per node feature, left child and
// value, where feature -1 marks a leaf, which leaf decodes (given the tree,
// its value and its index in the node array). It checks every split points
// forward within its tree, so the decoded trees cannot loop, and that every
// node but the root is the child of exactly one split, so each tree is a
// tree: walks, re-encoding and NumNodes then agree on its nodes whatever
// the layout.
func (d *decoder) trees(p, nt int, leaf func(t int, v float64, at int32) (node, error)) (roots []int32, nodes []node, err error) {
	roots = make([]int32, nt)
	nodes = make([]node, 0, len(d.b)/16)
	var hasParent []bool
	for t := range nt {
		nn := int(d.u32())
		if d.err == nil && (nn < 1 || nn > len(d.b)/16 || len(nodes)+nn > math.MaxInt32) {
			d.fail("tree %d: %d nodes in %d bytes", t, nn, len(d.b))
		}
		if d.err != nil {
			return nil, nil, d.err
		}
		base := int32(len(nodes))
		roots[t] = base
		if cap(hasParent) < nn {
			hasParent = make([]bool, nn)
		}
		hasParent = hasParent[:nn]
		clear(hasParent)
		// Every node takes at least 16 bytes, so the capacity reserved
		// above always suffices and decoding allocates the nodes once.
		nodes = nodes[:len(nodes)+nn]
		for i := range nn {
			b := d.take(16)
			if b == nil {
				return nil, nil, d.err
			}
			le := binary.LittleEndian
			feat, left, v := int32(le.Uint32(b)), int32(le.Uint32(b[4:])), math.Float64frombits(le.Uint64(b[8:]))
			at := base + int32(i)
			if feat == -1 {
				if left != 0 {
					return nil, nil, fmt.Errorf("%w: tree %d node %d: bad leaf", ErrFormat, t, i)
				}
				nd, err := leaf(t, v, at)
				if errors.Is(err, errBadLeaf) {
					return nil, nil, fmt.Errorf("%w: tree %d node %d: bad leaf", ErrFormat, t, i)
				}
				if err != nil {
					return nil, nil, fmt.Errorf("%w: tree %d node %d: %w", ErrFormat, t, i, err)
				}
				nodes[at] = nd
				continue
			}
			if feat < 0 || int(feat) >= p || left <= int32(i) || int(left) >= nn-1 || math.IsNaN(v) {
				return nil, nil, fmt.Errorf("%w: tree %d node %d: bad split", ErrFormat, t, i)
			}
			for _, c := range [2]int32{left, left + 1} {
				if hasParent[c] {
					return nil, nil, fmt.Errorf("%w: tree %d: node %d is reached twice", ErrFormat, t, c)
				}
				hasParent[c] = true
			}
			nodes[at] = node{thr: v, feat: feat, left: base + left}
		}
		for i := 1; i < nn; i++ {
			if !hasParent[i] {
				return nil, nil, fmt.Errorf("%w: tree %d: node %d is unreachable", ErrFormat, t, i)
			}
		}
	}
	return roots, nodes, nil
}
