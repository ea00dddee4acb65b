package forest

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// The benchmarks train on Friedman #1 as the issue specifies. Training a
// 50,000-row forest takes seconds, so run them with -benchtime 1x and
// -count for repeated measurements, e.g.
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./forest

func benchTrain(b *testing.B, n int, frac float64) {
	X, y := friedman1(n, 1, 1)
	cfg := Config{Trees: DefaultTrees, Seed: 1, FeatureFraction: frac}
	b.ResetTimer()
	for b.Loop() {
		if _, err := cfg.Fit(context.Background(), X, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrain10kThird(b *testing.B) { benchTrain(b, 10000, 0) }
func BenchmarkTrain10kAll(b *testing.B)   { benchTrain(b, 10000, 1) }
func BenchmarkTrain50kThird(b *testing.B) { benchTrain(b, 50000, 0) }
func BenchmarkTrain50kAll(b *testing.B)   { benchTrain(b, 50000, 1) }

// benchModel is a 100-tree forest on 50,000 Friedman rows, trained once for
// all the prediction and encoding benchmarks.
var benchModel = sync.OnceValues(func() (*Regressor, [][]float64) {
	X, y := friedman1(50000, 1, 1)
	r, err := Config{Trees: DefaultTrees, Seed: 1}.Fit(context.Background(), X, y)
	if err != nil {
		panic(err)
	}
	Xt, _ := friedman1(10000, 1, 2)
	return r, Xt
})

func BenchmarkPredict(b *testing.B) {
	r, Xt := benchModel()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := r.Predict(Xt[i%len(Xt)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPredictBatch scores 10,000 rows in one call and, as a Pipeline
// does, in calls of 256 rows.
func BenchmarkPredictBatch(b *testing.B) {
	r, Xt := benchModel()
	out := make([]float64, len(Xt))
	for _, size := range []int{256, len(Xt)} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				lo := rows % len(Xt)
				hi := min(len(Xt), lo+size)
				if err := r.PredictBatch(Xt[lo:hi], out[lo:hi]); err != nil {
					b.Fatal(err)
				}
				rows += hi - lo
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	r, _ := benchModel()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		data, err := r.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	r, _ := benchModel()
	data, err := r.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var back Regressor
		if err := back.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifierTrain(b *testing.B) {
	X, labels := blobs(10000, 1)
	for b.Loop() {
		if _, err := (ClassifierConfig{Trees: DefaultTrees}).Fit(context.Background(), X, labels); err != nil {
			b.Fatal(err)
		}
	}
}
