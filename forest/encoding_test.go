package forest

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func smallRegressor(t testing.TB, seed uint64) *Regressor {
	t.Helper()
	X, y := friedman1(300, 1, seed)
	r, err := Config{Trees: 4, Seed: seed, MaxDepth: 6}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	return r
}

func TestRegressorRoundTrip(t *testing.T) {
	X, y := friedman1(1500, 1, 20)
	r, err := Config{Trees: 15, Seed: 3}.Fit(context.Background(), X, y)
	require.NoError(t, err)
	b, err := r.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, "forestRG", string(b[:8]))

	var back Regressor
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, r.HeldOut(), back.HeldOut())
	assert.Equal(t, r.FeatureImportances(), back.FeatureImportances())
	assert.Equal(t, r.NumNodes(), back.NumNodes())
	for ti := range r.NumTrees() {
		assert.Equal(t, r.tree(ti, nil), back.tree(ti, nil), "tree %d", ti)
	}
	Xt, _ := friedman1(500, 1, 21)
	for i, x := range Xt {
		want, err := r.Predict(x)
		require.NoError(t, err)
		got, err := back.Predict(x)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "row %d", i)
	}
	again, err := back.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, again, "the encoding is canonical")
}

func TestRegressorWriteToReadFrom(t *testing.T) {
	a, b := smallRegressor(t, 1), smallRegressor(t, 2)
	var buf bytes.Buffer
	na, err := a.WriteTo(&buf)
	require.NoError(t, err)
	nb, err := b.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), na+nb)

	var ra, rb Regressor
	n, err := ra.ReadFrom(&buf)
	require.NoError(t, err)
	assert.Equal(t, na, n, "ReadFrom consumes exactly one model")
	_, err = rb.ReadFrom(&buf)
	require.NoError(t, err)
	x := []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, 1}
	for _, pair := range [][2]*Regressor{{a, &ra}, {b, &rb}} {
		want, _ := pair[0].Predict(x)
		got, err := pair[1].Predict(x)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err = ra.ReadFrom(&buf)
	assert.ErrorIs(t, err, ErrFormat, "an empty reader is a truncated model")
}

func TestRegressorDecodeRejectsBadInput(t *testing.T) {
	good, err := smallRegressor(t, 3).MarshalBinary()
	require.NoError(t, err)
	var r Regressor

	for _, n := range []int{0, 1, 8, headerLen, headerLen + 3, len(good) / 2, len(good) - 1} {
		assert.ErrorIs(t, r.UnmarshalBinary(good[:n]), ErrFormat, "truncated to %d bytes", n)
		_, err := r.ReadFrom(bytes.NewReader(good[:n]))
		assert.ErrorIs(t, err, ErrFormat, "ReadFrom truncated to %d bytes", n)
	}
	for _, i := range []int{0, 9, 13, headerLen + 1, len(good) / 2, len(good) - 1} {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		assert.Error(t, r.UnmarshalBinary(bad), "byte %d flipped", i)
	}

	for _, v := range []uint32{0, formatVersion + 1} {
		other := bytes.Clone(good)
		binary.LittleEndian.PutUint32(other[8:], v)
		assert.ErrorIs(t, r.UnmarshalBinary(withCRC(other)), ErrVersion, "version %d", v)
		_, err = r.ReadFrom(bytes.NewReader(withCRC(other)))
		assert.ErrorIs(t, err, ErrVersion, "version %d", v)
	}
	// Version 1 has the same regressor body.
	old := bytes.Clone(good)
	binary.LittleEndian.PutUint32(old[8:], 1)
	var r1 Regressor
	require.NoError(t, r1.UnmarshalBinary(withCRC(old)))
	again, err := r1.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, good, again)

	assert.ErrorIs(t, r.UnmarshalBinary([]byte(`{"trees":[]}`+string(make([]byte, 30)))), ErrFormat)

	// A structurally wrong body with a valid checksum: a split whose left
	// child points back at the root.
	bad := bytes.Clone(good)
	off := headerLen + 8 + 24 + 8*10 + 4 // the first node of the first tree
	binary.LittleEndian.PutUint32(bad[off+4:], 0)
	err = r.UnmarshalBinary(withCRC(bad))
	assert.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "bad split")

	// A feature count far beyond the body must fail before the decoder
	// allocates for it.
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[headerLen:], 1<<23)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = r.UnmarshalBinary(withCRC(huge))
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "8388608 importances in")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated")

	// Splits that share a child: every pointer is forward, but the trees
	// would be a graph, not a tree.
	shared := encodeRegressor(1, [][]rawNode{{
		{feat: 0, left: 1, v: 0.5},
		{feat: 0, left: 3, v: 0.25},
		{feat: 0, left: 3, v: 0.75},
		{feat: -1, v: 1},
		{feat: -1, v: 2},
	}})
	err = r.UnmarshalBinary(shared)
	assert.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "node 3 is reached twice")

	var zero Regressor
	assert.ErrorIs(t, zero.UnmarshalBinary(good[:10]), ErrFormat)
	assert.Zero(t, zero.NumTrees(), "a failed decode leaves the model untouched")
}

// rawNode is one node as the format stores it.
type rawNode struct {
	feat, left int32
	v          float64
}

// encodeRegressor writes a regressor of p features with the given trees,
// valid or not, in the binary format.
func encodeRegressor(p int, trees [][]rawNode) []byte {
	e := beginEncoding(magicRegressor, 0)
	e.u32(uint32(p))
	e.u32(uint32(len(trees)))
	e.u64(0)
	e.f64(0)
	e.f64(0)
	writeRawTrees(e, p, trees, func(nd rawNode) { e.f64(nd.v) })
	return e.finish()
}

// writeRawTrees writes equal importances for p features, then the trees,
// each node's value part written by value.
func writeRawTrees(e *encoder, p int, trees [][]rawNode, value func(rawNode)) {
	for range p {
		e.f64(1 / float64(p))
	}
	for _, nodes := range trees {
		e.u32(uint32(len(nodes)))
		for _, nd := range nodes {
			e.u32(uint32(nd.feat))
			e.u32(uint32(nd.left))
			value(nd)
		}
	}
}

// withCRC returns b with its checksum recomputed, so a test or the fuzzer
// can reach the body checks.
func withCRC(b []byte) []byte {
	if len(b) < headerLen+4 {
		return b
	}
	b = bytes.Clone(b)
	if len(b) >= headerLen {
		binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-headerLen-4))
	}
	end := len(b) - 4
	binary.LittleEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
	return b
}

// FuzzUnmarshalRegressor feeds the decoder real models and mutations of
// them. Run it as
//
//	go test -run '^$' -fuzz FuzzUnmarshalRegressor -fuzzminimizetime 100x ./forest
//
// With the default minimizing time of 60 s, each new interesting input, a
// model of several KiB, is minimized for a minute, during which the count
// of execs stands still (0/sec here); with 100 tries it ran 11,000 execs a
// second.
func FuzzUnmarshalRegressor(f *testing.F) {
	for seed := uint64(1); seed <= 3; seed++ {
		b, err := smallRegressor(f, seed).MarshalBinary()
		require.NoError(f, err)
		f.Add(b)
	}
	single, err := Config{Trees: 1}.Fit(context.Background(), [][]float64{{1}}, []float64{2})
	require.NoError(f, err)
	b, err := single.MarshalBinary()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte("forestRG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withCRC(data)} {
			var r Regressor
			if err := r.UnmarshalBinary(in); err != nil {
				continue
			}
			x := make([]float64, r.NumFeatures())
			want, err := r.Predict(x)
			if err != nil {
				t.Fatalf("decoded model cannot predict: %v", err)
			}
			if r.NumFeatures() <= 1<<12 {
				checkWalksAgree(t, &r)
			}
			// Encoding writes the nodes in one canonical order, which
			// the input need not follow; after one round it is stable.
			out, err := r.MarshalBinary()
			if err != nil {
				t.Fatalf("decoded model cannot be encoded: %v", err)
			}
			var back Regressor
			if err := back.UnmarshalBinary(out); err != nil {
				t.Fatalf("re-encoded model does not decode: %v", err)
			}
			if got, _ := back.Predict(x); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("re-encoded model predicts %v, decoded one %v", got, want)
			}
			if again, _ := back.MarshalBinary(); !bytes.Equal(again, out) {
				t.Fatalf("canonical encoding is not stable")
			}
			var r2 Regressor
			if _, err := r2.ReadFrom(bytes.NewReader(in)); err != nil && err != io.EOF {
				t.Fatalf("ReadFrom rejects what UnmarshalBinary accepts: %v", err)
			}
		}
	})
}

// checkWalksAgree checks that Predict, PredictBatch, the portable walk of
// the layout and a walk of the nodes r.tree rebuilds give the same bits on
// a few rows that go different ways: all left, all right, and mixed.
func checkWalksAgree(t *testing.T, r *Regressor) {
	t.Helper()
	p := r.NumFeatures()
	rows := make([][]float64, 4)
	for i := range rows {
		rows[i] = make([]float64, p)
		for j := range rows[i] {
			rows[i][j] = [4]float64{math.Inf(-1), math.Inf(1), 0.5, float64(j % 2)}[i]
		}
	}
	batch := make([]float64, len(rows))
	if err := r.PredictBatch(rows, batch); err != nil {
		t.Fatalf("PredictBatch: %v", err)
	}
	portable := make([]float64, len(rows))
	r.predictBatch(rows, portable, true)
	for i, x := range rows {
		got, err := r.Predict(x)
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
		if math.Float64bits(got) != math.Float64bits(batch[i]) || math.Float64bits(got) != math.Float64bits(portable[i]) {
			t.Fatalf("row %d: Predict %v, PredictBatch %v, portable batch %v", i, got, batch[i], portable[i])
		}
		if w, ok := portableWalk(r, x); ok && math.Float64bits(w) != math.Float64bits(got) {
			t.Fatalf("row %d: Predict %v, portable walk %v", i, got, w)
		}
		if w := nodeWalk(r, x); math.Float64bits(w) != math.Float64bits(got) {
			t.Fatalf("row %d: Predict %v, node walk %v", i, got, w)
		}
	}
}

// sharedChild is a tree whose two splits share a child: every pointer is
// forward, but it is a graph, not a tree.
var sharedChild = []rawNode{
	{feat: 0, left: 1, v: 0.5},
	{feat: 0, left: 3, v: 0.25},
	{feat: 0, left: 3, v: 0.75},
	{feat: -1, v: 1},
	{feat: -1, v: 2},
}

// orphan has a leaf no split leads to.
var orphan = []rawNode{
	{feat: 0, left: 1, v: 0.5},
	{feat: -1, v: 1},
	{feat: -1, v: 2},
	{feat: -1, v: 3},
}

func TestDecodersRejectTreesThatAreNotTrees(t *testing.T) {
	for _, p := range []int{1, blockFeatures + 1} {
		var r Regressor
		err := r.UnmarshalBinary(encodeRegressor(p, [][]rawNode{sharedChild}))
		assert.ErrorIs(t, err, ErrFormat, "regressor of %d features, shared child", p)
		assert.ErrorContains(t, err, "node 3 is reached twice", "regressor of %d features", p)
		err = r.UnmarshalBinary(encodeRegressor(p, [][]rawNode{orphan}))
		assert.ErrorIs(t, err, ErrFormat, "regressor of %d features, orphan", p)
		assert.ErrorContains(t, err, "node 3 is unreachable", "regressor of %d features", p)
	}
	var cl Classifier
	err := cl.UnmarshalBinary(encodeClassifier(1, 2, [][]rawNode{sharedChild}))
	assert.ErrorIs(t, err, ErrFormat, "classifier, shared child")
	assert.ErrorContains(t, err, "node 3 is reached twice")
	err = cl.UnmarshalBinary(encodeClassifier(1, 2, [][]rawNode{orphan}))
	assert.ErrorIs(t, err, ErrFormat, "classifier, orphan")
	assert.ErrorContains(t, err, "node 3 is unreachable")

	// The helper itself writes what the decoder takes.
	require.NoError(t, cl.UnmarshalBinary(encodeClassifier(1, 2, [][]rawNode{{
		{feat: 0, left: 1, v: 0.5}, {feat: -1}, {feat: -1},
	}})))
}

// encodeClassifier writes a classifier of p features and k classes, all of
// which occur, with the given trees, valid or not; every leaf predicts
// class 0.
func encodeClassifier(p, k int, trees [][]rawNode) []byte {
	e := beginEncoding(magicClassifier, 0)
	e.u32(uint32(p))
	e.u32(uint32(k))
	e.u32(uint32(k))
	for l := range k {
		e.u32(uint32(l))
	}
	e.u32(uint32(len(trees)))
	writeRawTrees(e, p, trees, func(nd rawNode) {
		if nd.feat != -1 {
			e.f64(nd.v)
			return
		}
		e.f64(0)
		for j := range k {
			e.f64(float64(1 - min(j, 1)))
		}
	})
	return e.finish()
}

// A body with a good checksum may still describe statistics no model has:
// the decoder refuses them rather than hand out what FeatureImportances and
// HeldOut document as impossible.
func TestDecoderRefusesImpossibleStatistics(t *testing.T) {
	encode := func(oobN uint64, mse, r2, imp0, imp1 float64) []byte {
		e := beginEncoding(magicRegressor, 0)
		e.u32(2) // features
		e.u32(1) // trees
		e.u64(oobN)
		e.f64(mse)
		e.f64(r2)
		e.f64(imp0)
		e.f64(imp1)
		e.u32(3) // nodes: a split on feature 0 and two leaves
		e.u32(0)
		e.u32(1)
		e.f64(0.5)
		for _, v := range []float64{1, 2} {
			e.u32(math.MaxUint32)
			e.u32(0)
			e.f64(v)
		}
		return e.finish()
	}
	var r Regressor
	require.NoError(t, r.UnmarshalBinary(encode(5, 0.5, 0.25, 1, 0)), "a possible model")
	require.NoError(t, r.UnmarshalBinary(encode(0, 0, 0, 0.25, 0.75)), "no out-of-bag rows")
	for name, data := range map[string][]byte{
		"importances summing to 7": encode(5, 0.5, 0.25, 3, 4),
		"importances summing to ½": encode(5, 0.5, 0.25, 0.25, 0.25),
		"negative MSE":             encode(5, -1, 0.25, 1, 0),
		"R² above 1":               encode(5, 0.5, 7, 1, 0),
		"error of no rows":         encode(0, 0.5, 0, 1, 0),
	} {
		assert.ErrorIs(t, r.UnmarshalBinary(data), ErrFormat, name)
	}
}
