// Package forestream is an embeddable library for streaming machine
// learning: a Go service composes a pipeline that reads records from a
// stream, normalizes them, scores each one with the current model, hands
// the scores to a sink, and in the background keeps retraining a random
// forest on a window of the stream, swapping each new model in atomically.
// The service can ask the live model for a prediction at any moment.
//
// A pipeline on the default stages:
//
//	people := &source.Faker{Seed: 1, Rate: 1000} // synthetic people, 1000 a second
//	p := &stream.Pipeline{
//		Source:       people,
//		Transformers: []stream.Transformer{scaler.NewStandard()},
//		Trainer:      forest.Config{Trees: 100, Seed: 1},
//		Sink:         &sink.Log{Schema: people.Schema()},
//	}
//	done := make(chan error, 1)
//	go func() { done <- p.Run(ctx) }() // until ctx is cancelled
//
//	// Anywhere in the service, once the first model is trained:
//	if m := p.Model(); m != nil {
//		salary, err := m.Predict([]float64{35, 10, 40, 16}) // raw features, in schema order
//		...
//	}
//
//	// At shutdown: cancel ctx, then wait for the records read to be written.
//	if err := <-done; err != nil && err != ctx.Err() { // nil after the source ends, ctx.Err() itself after a clean cancellation
//		...
//	}
//
// Every record is scored before it is learned from, so p.Stats() reports an
// honest live error (MAE, RMSE, R²); a Model applies exactly the
// preprocessing its forest was trained with, so there is no skew between
// training and serving.
//
// Where each piece lives:
//
//   - stream: Record, Schema and Batch; the Source, Transformer, Fitter,
//     Trainer, Predictor and Sink interfaces, with function adapters for
//     all but Fitter; the Pipeline, the versioned Model and Stats.
//     Standard library only.
//   - stream/streamtest: conformance checks for your own stages, an
//     in-memory source that records acknowledgements, a collecting sink.
//   - scaler: Standard (online, mergeable mean and variance) and MinMax.
//   - forest: a fast, reproducible random-forest regressor (Config is a
//     stream.Trainer), and a classifier on github.com/malaschitz/randomForest.
//   - source: the Faker generator, and Slice, Chan, Func, CSV and JSON Lines
//     readers.
//   - sink: the Log consumer (log/slog), and JSONL, Multi, Chan, Func and
//     Discard.
//   - examples/basic: the whole pipeline on its defaults.
package forestream
