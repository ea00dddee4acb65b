// Command compare generates Friedman #1 data, trains forestream's
// random-forest regressor on it and reports the training time and the
// held-out mean squared error. run.sh runs it next to compare.py, which
// trains scikit-learn's RandomForestRegressor on the very same CSV files, so
// the two can be compared side by side. It is not part of the test suite.
//
// Usage:
//
//	go run ./bench/compare -dir /tmp/fs -n 50000 -test 10000 -gen   # write train.csv, test.csv
//	go run ./bench/compare -dir /tmp/fs -features third            # train and score
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/forestream/forestream/forest"
)

func main() {
	dir := flag.String("dir", "compare-data", "directory for train.csv and test.csv")
	gen := flag.Bool("gen", false, "generate the data and exit")
	n := flag.Int("n", 10000, "training rows (with -gen)")
	nTest := flag.Int("test", 10000, "test rows (with -gen)")
	seed := flag.Uint64("seed", 1, "data seed (with -gen)")
	trees := flag.Int("trees", 100, "number of trees")
	features := flag.String("features", "third", `features tried per split: "third" or "all"`)
	repeat := flag.Int("repeat", 3, "train this many times and report the fastest")
	flag.Parse()

	if *gen {
		X, y := friedman1(*n, 1, *seed)
		must(writeCSV(filepath.Join(*dir, "train.csv"), X, y))
		Xt, yt := friedman1(*nTest, 1, *seed+1)
		must(writeCSV(filepath.Join(*dir, "test.csv"), Xt, yt))
		return
	}

	X, y, err := readCSV(filepath.Join(*dir, "train.csv"))
	must(err)
	Xt, yt, err := readCSV(filepath.Join(*dir, "test.csv"))
	must(err)
	cfg := forest.Config{Trees: *trees, Seed: 1}
	switch *features {
	case "third":
	case "all":
		cfg.FeatureFraction = 1
	default:
		log.Fatalf("-features must be third or all, not %q", *features)
	}
	best := time.Duration(math.MaxInt64)
	var r *forest.Regressor
	for range *repeat {
		start := time.Now()
		r, err = cfg.Fit(context.Background(), X, y)
		must(err)
		best = min(best, time.Since(start))
	}
	out := make([]float64, len(Xt))
	must(r.PredictBatch(Xt, out))
	mse := 0.0
	for i := range yt {
		d := out[i] - yt[i]
		mse += d * d
	}
	mse /= float64(len(yt))
	// Time single-row calls once the model is warm and no collection of
	// training's garbage runs beside them, as the Go benchmark does.
	runtime.GC()
	const warm, calls = 2000, 20000
	for i := range warm {
		_, err := r.Predict(Xt[i%len(Xt)])
		must(err)
	}
	start := time.Now()
	for i := range calls {
		_, err := r.Predict(Xt[(warm+i)%len(Xt)])
		must(err)
	}
	perRow := time.Since(start) / calls
	fmt.Printf("forestream  rows=%d features=%-5s trees=%d workers=%d  train %7.2fs  test MSE %.4f  OOB MSE %.4f  predict 1 row %v\n",
		len(X), *features, *trees, runtime.GOMAXPROCS(0), best.Seconds(), mse, r.HeldOut().MSE, perRow)
}

// friedman1 is the same generator as the forest package's tests.
func friedman1(n int, noise float64, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		x := make([]float64, 10)
		for j := range x {
			x[j] = rng.Float64()
		}
		X[i] = x
		y[i] = 10*math.Sin(math.Pi*x[0]*x[1]) + 20*(x[2]-0.5)*(x[2]-0.5) + 10*x[3] + 5*x[4] + noise*rng.NormFloat64()
	}
	return X, y
}

func writeCSV(path string, X [][]float64, y []float64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, x := range X {
		for _, v := range x {
			// 'g' with -1 precision round-trips float64 exactly, so both
			// programs train on identical numbers.
			w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			w.WriteByte(',')
		}
		w.WriteString(strconv.FormatFloat(y[i], 'g', -1, 64))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readCSV(path string) ([][]float64, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	X := make([][]float64, len(recs))
	y := make([]float64, len(recs))
	for i, rec := range recs {
		vals := make([]float64, len(rec))
		for j, s := range rec {
			if vals[j], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
			}
		}
		X[i], y[i] = vals[:len(vals)-1], vals[len(vals)-1]
	}
	return X, y, nil
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
