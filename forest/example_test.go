package forest_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/forestream/forestream/forest"
)

// data draws n rows of y = 3·x0 + sin(4·x1) with a third, useless feature.
func data(n int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		X[i] = []float64{rng.Float64(), rng.Float64(), rng.Float64()}
		y[i] = 3*X[i][0] + math.Sin(4*X[i][1])
	}
	return X, y
}

// Train a forest and ask it for a prediction. The same seed and data give
// the same forest, so the output is stable.
func Example() {
	X, y := data(2000, 1)
	r, err := forest.Config{Trees: 50, Seed: 1}.Fit(context.Background(), X, y)
	if err != nil {
		panic(err)
	}
	x := []float64{0.5, 0.25, 0.9}
	yhat, err := r.Predict(x)
	if err != nil {
		panic(err)
	}
	fmt.Printf("prediction %.1f (true value %.1f)\n", yhat, 3*x[0]+math.Sin(4*x[1]))
	fmt.Printf("out-of-bag R² %.2f\n", r.HeldOut().R2)
	imp := r.FeatureImportances()
	fmt.Printf("importances: %.2f %.2f %.2f\n", imp[0], imp[1], imp[2])
	// Output:
	// prediction 2.4 (true value 2.3)
	// out-of-bag R² 0.99
	// importances: 0.68 0.28 0.04
}

// Save a forest and load it back: the copy predicts exactly as the original.
func ExampleRegressor_MarshalBinary() {
	X, y := data(500, 2)
	r, err := forest.Config{Trees: 20, Seed: 7}.Fit(context.Background(), X, y)
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer // a file, in real use
	if _, err := r.WriteTo(&buf); err != nil {
		panic(err)
	}

	var loaded forest.Regressor
	if _, err := loaded.ReadFrom(&buf); err != nil {
		panic(err)
	}
	x := []float64{0.1, 0.8, 0.3}
	a, _ := r.Predict(x)
	b, _ := loaded.Predict(x)
	fmt.Printf("%d trees, identical predictions: %v, value %.2f\n", loaded.NumTrees(), a == b, b)
	// Output:
	// 20 trees, identical predictions: true, value 0.43
}
