package scaler_test

import (
	"math/rand/v2"
	"testing"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

// benchBatch is the benchmark shape: n records of d features, in
// one flat allocation as a Source would make them. Every feature has a
// standard deviation above 1 and a mean away from 0, so that transforming
// the same batch over and over (as the benchmarks do) converges to a finite
// fixed point instead of overflowing or sinking into subnormals, which would
// measure the FPU's slow paths rather than the scaler.
func benchBatch(n, d int) stream.Batch {
	r := rand.New(rand.NewPCG(11, 12))
	flat := make([]float64, n*d)
	recs := make([]stream.Record, n)
	for i := range recs {
		x := flat[i*d : (i+1)*d : (i+1)*d]
		for j := range x {
			x[j] = float64(10*j+5) + float64(j+2)*r.NormFloat64()
		}
		recs[i] = stream.Record{Features: x}
	}
	return stream.Batch{Records: recs}
}

const benchN, benchD = 256, 10

func reportValues(b *testing.B) {
	b.ReportMetric(float64(b.N)*benchN*benchD/b.Elapsed().Seconds(), "values/s")
}

func BenchmarkStandardFit(b *testing.B) {
	batch := benchBatch(benchN, benchD)
	s := scaler.NewStandard()
	if err := s.Fit(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Fit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	reportValues(b)
}

func BenchmarkStandardTransform(b *testing.B) {
	batch := benchBatch(benchN, benchD)
	s := scaler.NewStandard()
	if err := s.Fit(ctx, batch); err != nil {
		b.Fatal(err)
	}
	frozen := s.Freeze()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := frozen.Transform(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	reportValues(b)
}

func BenchmarkMinMaxFit(b *testing.B) {
	batch := benchBatch(benchN, benchD)
	var m scaler.MinMax
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := m.Fit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	reportValues(b)
}

func BenchmarkMinMaxTransform(b *testing.B) {
	batch := benchBatch(benchN, benchD)
	var m scaler.MinMax
	if err := m.Fit(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Transform(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	reportValues(b)
}
