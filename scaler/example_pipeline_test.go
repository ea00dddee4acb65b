package scaler_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

// In a Pipeline the scaler learns from every record, and each model carries
// the frozen state it was trained with: Model.Predict takes raw features.
func ExampleStandard_pipeline() {
	schema := stream.Schema{Features: []string{"height_cm"}, Target: "weight_kg"}
	var recs []stream.Record
	for i := 0; i < 1000; i++ {
		h := 150 + float64(i%50)
		recs = append(recs, stream.Record{Features: []float64{h}, Target: h - 100})
	}
	// A trainer that sees standardized heights and fits a line through them.
	line := stream.TrainFunc(func(_ context.Context, _ stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
		var sx, sy, sxy, sxx float64
		for i := range X {
			sx, sy = sx+X[i][0], sy+y[i]
			sxy, sxx = sxy+X[i][0]*y[i], sxx+X[i][0]*X[i][0]
		}
		n := float64(len(X))
		b := (sxy - sx*sy/n) / (sxx - sx*sx/n)
		a := (sy - b*sx) / n
		return stream.PredictFunc(func(x []float64) (float64, error) { return a + b*x[0], nil }), nil
	})
	p := &stream.Pipeline{
		Source:       source.NewSlice(schema, recs),
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      line,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	m := p.Model()
	frozen := m.Transformers[0].(*scaler.FrozenStandard)
	fmt.Printf("model %d standardizes with mean %.1f and scale %.2f\n", m.Version, frozen.Mean()[0], frozen.Scale()[0])
	kg, _ := m.Predict([]float64{180})
	fmt.Printf("180 cm: %.1f kg\n", kg)
	// Output:
	// model 2 standardizes with mean 174.5 and scale 14.43
	// 180 cm: 80.0 kg
}
