package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/forestream/forestream/sink"
	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

// lineTrainer fits y = a + b·x on one feature by least squares.
var lineTrainer = stream.TrainFunc(func(_ context.Context, _ stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	var mx, my, sxy, sxx float64
	for i := range X {
		mx += X[i][0]
		my += y[i]
	}
	n := float64(len(X))
	mx, my = mx/n, my/n
	for i := range X {
		sxy += (X[i][0] - mx) * (y[i] - my)
		sxx += (X[i][0] - mx) * (X[i][0] - mx)
	}
	b := sxy / sxx
	a := my - b*mx
	return stream.PredictFunc(func(x []float64) (float64, error) { return a + b*x[0], nil }), nil
})

func ExamplePipeline() {
	schema := stream.Schema{Features: []string{"x"}, Target: "y"}
	var recs []stream.Record
	for i := 0; i < 1000; i++ {
		x := float64(i % 100)
		recs = append(recs, stream.Record{Features: []float64{x}, Target: 2*x + 1})
	}
	p := &stream.Pipeline{
		Source:  source.NewSlice(schema, recs),
		Trainer: lineTrainer,
		Sink:    sink.Discard,
		Logger:  slog.New(slog.DiscardHandler), // no retrain reports here
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
		return
	}
	st := p.Stats()
	fmt.Println("read:", st.Read, "written:", st.Written, "rejected:", st.Rejected)

	// The pipeline's model can be asked at any time, also while it runs.
	y, err := p.Model().Predict([]float64{10})
	fmt.Println("prediction for x=10:", math.Round(y), err)
	// Output:
	// read: 1000 written: 1000 rejected: 0
	// prediction for x=10: 21 <nil>
}

// A custom stage is a plain Go value that satisfies one small interface;
// for a one-off stage a function adapter is enough.
func Example_customStage() {
	schema := stream.Schema{Features: []string{"bytes"}, Target: "seconds"}
	// A Source: transfers whose time grows with the log of their size.
	sent := 0
	transfers := stream.SourceFunc(schema, func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		if sent == 1000 {
			return stream.Batch{}, nil, io.EOF
		}
		var b stream.Batch
		for ; sent < 1000 && b.Len() < max; sent++ {
			size := math.Pow(10, float64(sent%7))
			b.Records = append(b.Records, stream.Record{Features: []float64{size}, Target: 0.5 + 0.25*math.Log10(size)})
		}
		return b, nil, nil
	})
	// A stateless Transformer: log10 of every feature. A Model applies it
	// too, so it must be safe for concurrent use, as a pure function is.
	log10 := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for i := range b.Records {
			for j, v := range b.Records[i].Features {
				if v <= 0 {
					return fmt.Errorf("log10: record %d feature %d is %v", i, j, v)
				}
				b.Records[i].Features[j] = math.Log10(v)
			}
		}
		return nil
	})
	// A Sink that counts what it is given.
	var written int
	counter := stream.SinkFunc(func(_ context.Context, b stream.ScoredBatch) error {
		written += b.Len()
		return nil
	})
	p := &stream.Pipeline{
		Source:       transfers,
		Transformers: []stream.Transformer{log10},
		Trainer:      lineTrainer,
		Sink:         counter,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
		return
	}
	// The model applies log10 itself: ask it in raw bytes.
	secs, err := p.Model().Predict([]float64{1e8})
	fmt.Printf("written: %d, 100 MB takes %.2f s (%v)\n", written, secs, err)
	// Output:
	// written: 1000, 100 MB takes 2.50 s (<nil>)
}
