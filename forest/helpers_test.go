package forest

import (
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// While fuzzing, the fuzzing engine's own goroutines are still about
	// when the tests end; the leak check is for the tests.
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// friedman1 draws n rows of Friedman #1: ten features uniform on [0, 1],
// y = 10 sin(π x1 x2) + 20 (x3 − 0.5)² + 10 x4 + 5 x5 + N(0, noise²). The
// last five features are noise.
func friedman1(n int, noise float64, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	flat := make([]float64, n*10)
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		x := flat[i*10 : (i+1)*10 : (i+1)*10]
		for j := range x {
			x[j] = rng.Float64()
		}
		X[i] = x
		y[i] = 10*math.Sin(math.Pi*x[0]*x[1]) + 20*(x[2]-0.5)*(x[2]-0.5) + 10*x[3] + 5*x[4] + noise*rng.NormFloat64()
	}
	return X, y
}

// useBlockLayout sets whether models built until the test ends keep the
// three-level blocks even where the code layout is available, so that
// tests cover both layouts on one machine.
func useBlockLayout(t testing.TB, on bool) {
	old := forceBlockLayout
	forceBlockLayout = on
	t.Cleanup(func() { forceBlockLayout = old })
}

// portableWalk predicts x with the portable walk of r's layout, if it has
// one besides the node walk.
func portableWalk(r *Regressor, x []float64) (float64, bool) {
	switch {
	case r.codes != nil:
		return r.codes.walkCodes(x, false), true
	case r.exits != nil:
		return r.walkBlocks(x, true), true
	}
	return 0, false
}

// nodeWalk predicts x by walking every tree's nodes as r.tree rebuilds
// them, one tree after another, adding the leaf values in tree order.
func nodeWalk(r *Regressor, x []float64) float64 {
	sum := 0.0
	for t := range r.NumTrees() {
		nodes := r.tree(t, nil)
		sum += nodes[leafOf(nodes, x)].thr
	}
	return sum / float64(r.NumTrees())
}

func mse(t testing.TB, r *Regressor, X [][]float64, y []float64) float64 {
	t.Helper()
	out := make([]float64, len(X))
	if err := r.PredictBatch(X, out); err != nil {
		t.Fatal(err)
	}
	s := 0.0
	for i := range y {
		d := out[i] - y[i]
		s += d * d
	}
	return s / float64(len(y))
}

// treeAt is where a round of a walk left one tree: the block or exit it is
// at, and the tree.
type treeAt[C uint32 | uint64] struct {
	at   C
	tree int32
}

// walkState gives the trees still walking, cur[k] being tree tid[k]'s place,
// in tree order: the assembly and the portable walks may order them
// differently.
func walkState[C uint32 | uint64](cur []C, tid []int32) []treeAt[C] {
	w := make([]treeAt[C], len(cur))
	for k := range cur {
		w[k] = treeAt[C]{cur[k], tid[k]}
	}
	slices.SortFunc(w, func(a, b treeAt[C]) int { return int(a.tree - b.tree) })
	return w
}
