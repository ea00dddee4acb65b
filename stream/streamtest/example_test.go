package streamtest_test

import (
	"context"
	"fmt"

	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

// A test of a custom stage runs it in a Pipeline between a Slice source and
// a Collector sink, then looks at what came out and at the
// acknowledgements. In a test, streamtest.TestSink, TestSource,
// TestTransformer and TestTrainer also check a stage against its contract.
func Example() {
	schema := stream.Schema{Features: []string{"x"}, Target: "y"}
	src := streamtest.NewSlice(schema, []stream.Record{
		{Features: []float64{1}, Target: 2},
		{Features: []float64{2}, Target: 4},
		{Features: []float64{3}, Target: 6},
	})
	double := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for i := range b.Records {
			b.Records[i].Features[0] *= 2
		}
		return nil
	})
	identity := stream.PredictFunc(func(x []float64) (float64, error) { return x[0], nil })
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{
		Source: src,
		// The stage under test, double, in a model that predicts its input.
		InitialModel: &stream.Model{Schema: schema, Transformers: []stream.Transformer{double}, Predictor: identity, Version: 1},
		Sink:         sink,
		BatchSize:    2,
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range sink.Records() {
		fmt.Printf("x=%v prediction=%v\n", r.Features[0], r.Prediction)
	}
	fmt.Println("batches:", len(src.Acks()), "acknowledged once each:", src.CheckAcks() == nil, "sink closed:", sink.Closed())
	// Output:
	// x=1 prediction=2
	// x=2 prediction=4
	// x=3 prediction=6
	// batches: 2 acknowledged once each: true sink closed: 1
}
