package forest

import (
	"flag"
	"math"
	"math/rand/v2"
	"os"
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
