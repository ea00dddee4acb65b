package scaler_test

import (
	"context"
	"fmt"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

func printRows(b stream.Batch) {
	for _, r := range b.Records {
		fmt.Printf("%6.3f\n", r.Features)
	}
}

func ExampleStandard() {
	ctx := context.Background()
	s := scaler.NewStandard()

	// Learn from the stream batch by batch.
	_ = s.Fit(ctx, stream.Batch{Records: []stream.Record{
		{Features: []float64{170, 60}},
		{Features: []float64{180, 80}},
	}})
	_ = s.Fit(ctx, stream.Batch{Records: []stream.Record{
		{Features: []float64{190, 100}},
	}})
	fmt.Printf("mean %.1f, scale %.3f\n", s.Mean(), s.Scale())

	// Freeze the state for a model version; it never changes after this.
	frozen := s.Freeze()
	b := stream.Batch{Records: []stream.Record{
		{Features: []float64{180, 80}},
		{Features: []float64{200, 60}},
	}}
	if err := frozen.Transform(ctx, &b); err != nil {
		fmt.Println(err)
	}
	printRows(b)
	// Output:
	// mean [180.0 80.0], scale [8.165 16.330]
	// [ 0.000  0.000]
	// [ 2.449 -1.225]
}

func ExampleMinMax() {
	ctx := context.Background()
	m, err := scaler.NewMinMax(-1, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = m.Fit(ctx, stream.Batch{Records: []stream.Record{
		{Features: []float64{10, 0.5}},
		{Features: []float64{30, 1.5}},
	}})
	b := stream.Batch{Records: []stream.Record{
		{Features: []float64{10, 1}},
		{Features: []float64{25, 1.5}},
	}}
	_ = m.Transform(ctx, &b)
	printRows(b)
	// Output:
	// [-1.000  0.000]
	// [ 0.500  1.000]
}

func ExampleStandard_Inverse() {
	ctx := context.Background()
	s := scaler.NewStandard()
	_ = s.Fit(ctx, stream.Batch{Records: []stream.Record{
		{Features: []float64{20}}, {Features: []float64{30}}, {Features: []float64{40}},
	}})
	// A prediction made in standardized units, shown in the original ones.
	b := stream.Batch{Records: []stream.Record{{Features: []float64{-1.5}}}}
	_ = s.Inverse(ctx, &b)
	printRows(b)
	// Output:
	// [17.753]
}

func ExampleStandard_Merge() {
	ctx := context.Background()
	// Two workers learn from halves of a stream...
	a, b := scaler.NewStandard(), scaler.NewStandard()
	_ = a.Fit(ctx, stream.Batch{Records: []stream.Record{{Features: []float64{1}}, {Features: []float64{2}}}})
	_ = b.Fit(ctx, stream.Batch{Records: []stream.Record{{Features: []float64{3}}, {Features: []float64{4}}, {Features: []float64{5}}}})

	// ...and their statistics combine into those of the whole stream.
	if err := a.Merge(b); err != nil {
		fmt.Println(err)
	}
	fmt.Println("count", a.Counts(), "mean", a.Mean(), "var", a.Var())
	// Output:
	// count [5] mean [3] var [2]
}

func ExampleStandard_MarshalBinary() {
	ctx := context.Background()
	s := scaler.NewStandard(scaler.WithMean(false))
	_ = s.Fit(ctx, stream.Batch{Records: []stream.Record{{Features: []float64{2}}, {Features: []float64{6}}}})
	data, _ := s.MarshalBinary()

	// Later, or elsewhere: restore the scaler and go on learning.
	var restored scaler.Standard
	if err := restored.UnmarshalBinary(data); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(data), "bytes; mean", restored.Mean(), "scale", restored.Scale())
	// Output:
	// 48 bytes; mean [4] scale [2]
}
