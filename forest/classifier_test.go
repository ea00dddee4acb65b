package forest

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// blobs draws n rows of four features in three classes: the class is set
// by which of three regions the first two features fall in, and the other
// two features are noise.
func blobs(n int, seed uint64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 0xb10b))
	X := make([][]float64, n)
	labels := make([]int, n)
	for i := range X {
		x := []float64{rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()}
		switch {
		case x[0]+x[1] < 0.7:
			labels[i] = 0
		case x[0] > x[1]:
			labels[i] = 1
		default:
			labels[i] = 2
		}
		X[i] = x
	}
	return X, labels
}

func smallClassifier(t testing.TB) *Classifier {
	t.Helper()
	X, labels := blobs(200, 1)
	cl, err := ClassifierConfig{Trees: 5, MaxDepth: 5}.Fit(context.Background(), X, labels)
	require.NoError(t, err)
	return cl
}

// The library cannot be seeded, so these tests check accuracy thresholds
// with a wide margin rather than exact values.
func TestClassifierAccuracy(t *testing.T) {
	X, labels := blobs(2000, 1)
	Xt, lt := blobs(1000, 2)
	trees := 50
	if raceEnabled {
		trees = 12
	}
	cl, err := ClassifierConfig{Trees: trees}.Fit(context.Background(), X, labels)
	require.NoError(t, err)
	assert.Equal(t, 3, cl.NumClasses())
	assert.Equal(t, 4, cl.NumFeatures())
	assert.Equal(t, trees, cl.NumTrees())

	out := make([]float64, len(Xt))
	require.NoError(t, cl.PredictBatch(Xt, out))
	correct := 0
	for i, x := range Xt {
		p, err := cl.Predict(x)
		require.NoError(t, err)
		require.Equal(t, p, out[i], "row %d", i)
		if int(p) == lt[i] {
			correct++
		}
		probs, err := cl.Probabilities(x, nil)
		require.NoError(t, err)
		require.Len(t, probs, 3)
		sum := 0.0
		for j, v := range probs {
			sum += v
			assert.LessOrEqual(t, v, probs[int(p)], "class %d beats the predicted class", j)
		}
		assert.InDelta(t, 1, sum, 1e-9)
	}
	assert.Greater(t, float64(correct)/float64(len(Xt)), 0.9)

	imp := cl.FeatureImportances()
	require.Len(t, imp, 4)
	assert.InDelta(t, 1, imp[0]+imp[1]+imp[2]+imp[3], 1e-12)
	assert.Greater(t, imp[0]+imp[1], imp[2]+imp[3], "the class depends on the first two features")
}

func TestClassifierPredictDoesNotAllocate(t *testing.T) {
	cl := smallClassifier(t)
	x := []float64{.2, .3, .4, .5}
	dst := make([]float64, 3)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := cl.Predict(x); err != nil {
			panic(err)
		}
		if _, err := cl.Probabilities(x, dst); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs)
}

// Labels need not be consecutive: memory grows with the labels that occur,
// not with the largest. One stray label of 65,535 among three classes used
// to cost 517 MiB for two trees.
func TestClassifierSparseLabels(t *testing.T) {
	X, labels := blobs(400, 8)
	for i := range labels {
		labels[i] = []int{3, 1000, 40}[labels[i]]
	}
	labels[0] = MaxClasses - 1
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cl, err := ClassifierConfig{Trees: 2}.Fit(context.Background(), X, labels)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated by Fit")
	assert.Equal(t, MaxClasses, cl.NumClasses(), "the largest label plus one")

	dst := make([]float64, cl.NumClasses())
	Xt, lt := blobs(200, 9)
	correct := 0
	for i, x := range Xt {
		probs, err := cl.Probabilities(x, dst)
		require.NoError(t, err)
		require.Len(t, probs, MaxClasses)
		sum := 0.0
		for c, v := range probs {
			if v != 0 && c != 3 && c != 40 && c != 1000 && c != MaxClasses-1 {
				t.Fatalf("row %d: probability %v for class %d, which no row has", i, v, c)
			}
			sum += v
		}
		assert.InDelta(t, 1, sum, 1e-9)
		got, err := cl.Predict(x)
		require.NoError(t, err)
		assert.Greater(t, probs[int(got)], 0.0, "the predicted class is one that occurs")
		if int(got) == []int{3, 1000, 40}[lt[i]] {
			correct++
		}
	}
	assert.Greater(t, correct, 150, "of 200")
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := cl.Predict(Xt[0]); err != nil {
			panic(err)
		}
		if _, err := cl.Probabilities(Xt[0], dst); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs, "four labels fit Predict's stack")

	b, err := cl.MarshalBinary()
	require.NoError(t, err)
	assert.Less(t, len(b), 1<<20, "encoded bytes")
	var back Classifier
	require.NoError(t, back.UnmarshalBinary(b))
	for _, x := range Xt {
		want, _ := cl.Probabilities(x, nil)
		got, err := back.Probabilities(x, nil)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestClassifierRejectsBadInput(t *testing.T) {
	X, labels := blobs(30, 3)
	ctx := context.Background()
	cases := []struct {
		name    string
		cfg     ClassifierConfig
		X       [][]float64
		labels  []int
		want    error
		message string
	}{
		{"no rows", ClassifierConfig{Trees: 3}, nil, nil, ErrNoRows, "no training rows"},
		{"no features", ClassifierConfig{Trees: 3}, [][]float64{{}}, []int{0}, ErrNoFeatures, "no features"},
		{"fewer labels", ClassifierConfig{Trees: 3}, X, labels[:29], ErrTargetCount, "30 rows, 29 labels"},
		{"ragged", ClassifierConfig{Trees: 3}, [][]float64{{1, 2}, {3}}, []int{0, 1}, ErrRaggedRows, "row 1"},
		{"negative label", ClassifierConfig{Trees: 3}, [][]float64{{1}, {2}}, []int{0, -1}, ErrBadLabel, "label 1 is -1"},
		{"huge label", ClassifierConfig{Trees: 3}, [][]float64{{1}, {2}}, []int{0, MaxClasses}, ErrBadLabel, "label 1 is 65536"},
		{"NaN", ClassifierConfig{Trees: 3}, [][]float64{{1}, {math.NaN()}}, []int{0, 1}, ErrNonFinite, "row 1 feature 0"},
		{"no trees", ClassifierConfig{}, X, labels, ErrInvalidConfig, "Trees is 0, must be at least 1"},
		{"negative trees", ClassifierConfig{Trees: -5}, X, labels, ErrInvalidConfig, "Trees is -5"},
		{"too many features", ClassifierConfig{Trees: 3, MaxFeatures: 5}, X, labels, ErrInvalidConfig, "MaxFeatures is 5"},
		{"deep", ClassifierConfig{Trees: 3, MaxDepth: MaxClassifierDepth + 1}, X, labels, ErrInvalidConfig, "MaxDepth is 1001"},
		{"leaf size", ClassifierConfig{Trees: 3, LeafSize: -1}, X, labels, ErrInvalidConfig, "LeafSize is -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, err := c.cfg.Fit(ctx, c.X, c.labels)
			require.Error(t, err)
			assert.Nil(t, cl)
			assert.ErrorIs(t, err, c.want)
			assert.Contains(t, err.Error(), c.message)
		})
	}

	cl := smallClassifier(t)
	_, err := cl.Predict([]float64{1})
	assert.ErrorIs(t, err, ErrFeatureCount)
	_, err = cl.Probabilities([]float64{1, 2, math.NaN(), 4}, nil)
	assert.ErrorIs(t, err, ErrNonFinite)
	assert.ErrorIs(t, cl.PredictBatch([][]float64{{1, 2, 3, 4}}, nil), ErrOutputLength)
	var zero Classifier
	_, err = zero.Predict([]float64{1})
	assert.ErrorIs(t, err, ErrNotTrained)
	assert.ErrorIs(t, zero.PredictBatch(nil, nil), ErrNotTrained, "even with no rows to check")
}

func TestClassifierSingleClassAndTinyData(t *testing.T) {
	cl, err := ClassifierConfig{Trees: 3}.Fit(context.Background(), [][]float64{{1}, {2}, {3}}, []int{0, 0, 0})
	require.NoError(t, err)
	p, err := cl.Predict([]float64{2})
	require.NoError(t, err)
	assert.Equal(t, 0.0, p)

	// Identical rows with different labels cannot be split; the library
	// recurses to MaxDepth, which must stay harmless.
	cl, err = ClassifierConfig{Trees: 2, MaxDepth: 50, LeafSize: 1}.Fit(context.Background(),
		[][]float64{{1}, {1}, {1}, {1}}, []int{0, 1, 2, 1})
	require.NoError(t, err)
	probs, err := cl.Probabilities([]float64{1}, nil)
	require.NoError(t, err)
	assert.Len(t, probs, 3)
}

func TestClassifierStopsWhenCancelled(t *testing.T) {
	X, labels := blobs(100, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ClassifierConfig{Trees: 5}.Fit(ctx, X, labels)
	assert.ErrorIs(t, err, context.Canceled)

	cd := &countdownCtx{Context: context.Background(), after: 1}
	_, err = ClassifierConfig{Trees: 1000}.Fit(cd, X, labels)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, cd.calls.Load(), int64(5), "checked between rounds of trees")
}

func TestClassifierConfigIsAStreamTrainer(t *testing.T) {
	X, labels := blobs(300, 5)
	y := make([]float64, len(labels))
	for i, l := range labels {
		y[i] = float64(l)
	}
	var tr stream.Trainer = ClassifierConfig{Trees: 5}
	p, err := tr.Train(context.Background(), stream.Schema{Features: []string{"a", "b", "c", "d"}}, X, y)
	require.NoError(t, err)
	cl, ok := p.(*Classifier)
	require.True(t, ok)
	assert.Equal(t, 3, cl.NumClasses())

	for _, bad := range []float64{-1, 0.5, math.NaN(), math.Inf(1), MaxClasses} {
		y[7] = bad
		_, err = tr.Train(context.Background(), stream.Schema{}, X, y)
		assert.ErrorIs(t, err, ErrBadLabel, "target %v", bad)
		assert.Contains(t, err.Error(), "target 7")
	}
	_, err = tr.Train(context.Background(), stream.Schema{Features: []string{"a"}}, X, y)
	assert.ErrorIs(t, err, ErrFeatureCount)
}

func TestClassifierRoundTrip(t *testing.T) {
	X, labels := blobs(500, 6)
	cl, err := ClassifierConfig{Trees: 10}.Fit(context.Background(), X, labels)
	require.NoError(t, err)
	b, err := cl.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, "forestCL", string(b[:8]))

	var back Classifier
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, cl.FeatureImportances(), back.FeatureImportances())
	Xt, _ := blobs(300, 7)
	for i, x := range Xt {
		want, err := cl.Probabilities(x, nil)
		require.NoError(t, err)
		got, err := back.Probabilities(x, nil)
		require.NoError(t, err)
		require.Equal(t, want, got, "row %d", i)
	}
	again, err := back.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, again)

	var buf bytes.Buffer
	_, err = cl.WriteTo(&buf)
	require.NoError(t, err)
	var rd Classifier
	_, err = rd.ReadFrom(&buf)
	require.NoError(t, err)
	assert.Equal(t, cl.NumTrees(), rd.NumTrees())

	for _, n := range []int{0, 10, len(b) / 3, len(b) - 1} {
		assert.ErrorIs(t, back.UnmarshalBinary(b[:n]), ErrFormat)
	}
	reg, err := smallRegressor(t, 1).MarshalBinary()
	require.NoError(t, err)
	assert.ErrorIs(t, back.UnmarshalBinary(reg), ErrFormat, "a regressor is not a classifier")
	var r Regressor
	assert.ErrorIs(t, r.UnmarshalBinary(b), ErrFormat, "a classifier is not a regressor")
}

// Version 1 of the format had no list of labels: every label below the
// number of classes occurred.
func TestClassifierDecodesVersion1(t *testing.T) {
	cl := smallClassifier(t)
	v2, err := cl.MarshalBinary()
	require.NoError(t, err)
	// The list of three labels, 0, 1 and 2, follows features and classes.
	at := headerLen + 8
	require.Equal(t, []uint32{3, 0, 1, 2}, []uint32{
		binary.LittleEndian.Uint32(v2[at:]), binary.LittleEndian.Uint32(v2[at+4:]),
		binary.LittleEndian.Uint32(v2[at+8:]), binary.LittleEndian.Uint32(v2[at+12:])})
	v1 := slices.Concat(v2[:at], v2[at+16:])
	binary.LittleEndian.PutUint32(v1[8:], 1)
	binary.LittleEndian.PutUint64(v1[12:], uint64(len(v1)-headerLen-4))
	var back Classifier
	require.NoError(t, back.UnmarshalBinary(withCRC(v1)))
	again, err := back.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, v2, again, "read as version 1, written as version 2")
}

func TestClassifierDecodeRejectsBadLabels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		k      uint32
		labels []uint32
		want   string
	}{
		{"none", 3, nil, "0 labels of 3 classes"},
		{"more than classes", 2, []uint32{0, 1, 1}, "3 labels of 2 classes"},
		{"not ascending", 3, []uint32{1, 0, 2}, "label 1 of 3 classes is 0"},
		{"repeated", 3, []uint32{0, 0, 2}, "label 1 of 3 classes is 0"},
		{"last is not the largest", 3, []uint32{0, 1}, "label 1 of 3 classes is 1"},
		{"beyond the classes", 3, []uint32{0, 3}, "label 1 of 3 classes is 3"},
	} {
		e := beginEncoding(magicClassifier, 0)
		e.u32(1)
		e.u32(tc.k)
		e.u32(uint32(len(tc.labels)))
		for _, l := range tc.labels {
			e.u32(l)
		}
		e.u32(1)
		e.f64(1) // importance
		e.u32(1) // a tree of one leaf
		e.u32(math.MaxUint32)
		e.u32(0)
		e.f64(0)
		for range tc.labels {
			e.f64(0)
		}
		var cl Classifier
		err := cl.UnmarshalBinary(e.finish())
		assert.ErrorIs(t, err, ErrFormat, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}

func FuzzUnmarshalClassifier(f *testing.F) {
	b, err := smallClassifier(f).MarshalBinary()
	require.NoError(f, err)
	f.Add(b)
	one, err := ClassifierConfig{Trees: 1}.Fit(context.Background(), [][]float64{{1}}, []int{1})
	require.NoError(f, err)
	b, err = one.MarshalBinary()
	require.NoError(f, err)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withCRC(data)} {
			var cl Classifier
			if err := cl.UnmarshalBinary(in); err != nil {
				continue
			}
			if _, err := cl.Probabilities(make([]float64, cl.NumFeatures()), nil); err != nil {
				t.Fatalf("decoded model cannot predict: %v", err)
			}
			out, err := cl.MarshalBinary()
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			// Version 1 is read but written as the current version.
			if binary.LittleEndian.Uint32(in[8:]) == formatVersion && !bytes.Equal(out, in) {
				t.Fatal("re-encoding differs")
			}
		}
	})
}

// When none of the features the library tries at a node varies, it still
// "splits", on feature 0 at 0 with a negative GiniGain, and with every row
// on one side. Here features 1 to 3 never vary, so most nodes try only
// such features.
func TestClassifierDegenerateSplits(t *testing.T) {
	X := make([][]float64, 12)
	labels := make([]int, len(X))
	for i := range X {
		X[i] = []float64{float64(i + 1), 5, 5, 5}
		labels[i] = i % 2
	}
	cl, err := ClassifierConfig{Trees: 20, MaxFeatures: 1, MaxDepth: 3, LeafSize: 1}.Fit(context.Background(), X, labels)
	require.NoError(t, err)

	imp := cl.FeatureImportances()
	sum := 0.0
	for f, v := range imp {
		assert.GreaterOrEqual(t, v, 0.0, "importance of feature %d", f)
		sum += v
	}
	assert.InDelta(t, 1, sum, 1e-12, "importances %v", imp)

	// Rows beyond the training range, on the side no training row took.
	for _, x := range [][]float64{{-1, 5, 5, 5}, {0, 0, 0, 0}, {3, 5, 5, 5}, {100, 5, 5, 5}} {
		probs, err := cl.Probabilities(x, nil)
		require.NoError(t, err)
		assert.InDelta(t, 1, probs[0]+probs[1], 1e-9, "row %v: probabilities %v", x, probs)
	}

	b, err := cl.MarshalBinary()
	require.NoError(t, err)
	var back Classifier
	require.NoError(t, back.UnmarshalBinary(b), "a trained classifier must decode")
}

// A pipeline model holding a Classifier is saved and loaded through
// stream.Model's encoding, with the part this package registers.
func TestClassifierTravelsInAModel(t *testing.T) {
	X, labels := blobs(300, 8)
	cl, err := ClassifierConfig{Trees: 5}.Fit(context.Background(), X, labels)
	require.NoError(t, err)
	m := &stream.Model{Schema: stream.Schema{Features: []string{"a", "b", "c", "d"}}, Predictor: cl, Version: 1}
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	var back stream.Model
	require.NoError(t, back.UnmarshalBinary(data))
	for _, x := range X[:50] {
		want, err := m.Predict(x)
		require.NoError(t, err)
		got, err := back.Predict(x)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}
