package stream

import "context"

// Source produces the stream, one batch at a time.
//
// Read returns at most max records (max > 0). It returns io.EOF when the
// stream has ended; records returned together with any error are still
// processed, so nothing read is lost. A Source must return promptly with
// ctx.Err() once ctx is cancelled.
//
// The AckFunc (which may be nil) is called exactly once for every batch Read
// returned with records: with nil once the batch has been written to the Sink,
// or with the error that kept it from getting there. A broker-backed Source
// commits its offsets there. Read is only called from one goroutine.
type Source interface {
	Schema() Schema
	Read(ctx context.Context, max int) (Batch, AckFunc, error)
}

// AckFunc acknowledges one batch read from a Source; see Source. An error it
// returns (a failed commit, say) stops the run.
//
// Batches are acknowledged with nil in read order as the Sink finishes
// them, but other calls come from other goroutines: an AckFunc returned with
// no records is called at once by the reading goroutine, and once a run
// fails each stage acknowledges the batches it holds with the error. So
// AckFuncs may run concurrently and out of read order; a Source whose
// AckFuncs share state must guard it.
type AckFunc func(ctx context.Context, err error) error

// Transformer changes the features of a batch in place: normalization,
// derived features. Transform must be safe for concurrent use, because a
// Model applies the same Transformer while the pipeline runs.
type Transformer interface {
	Transform(ctx context.Context, b *Batch) error
}

// Fitter is a Transformer that learns from the stream, such as a
// StandardScaler. Fit gets each valid batch as the Transformers before the
// Fitter leave it. Freeze returns an immutable snapshot of the state learned
// so far, which a Model applies as the preprocessing its predictor was
// trained with. The pipeline calls Fit, Freeze and, to feed a later Fitter,
// the Fitter's own Transform from one goroutine only. An error from Fit,
// or a panic in Fit or Freeze, stops the run: Freeze is called on the
// live path, as each retrain starts, and cannot fail.
type Fitter interface {
	Transformer
	Fit(ctx context.Context, b Batch) error
	Freeze() Transformer
}

// Trainer fits a Predictor to rows X (already transformed) and targets y.
// Train runs in the background and must return promptly with ctx.Err() once
// ctx is cancelled. The pipeline gives Train fresh slices it never touches
// again.
type Trainer interface {
	Train(ctx context.Context, schema Schema, X [][]float64, y []float64) (Predictor, error)
}

// Predictor scores one row of transformed features. It must be safe for
// concurrent use and should not allocate.
type Predictor interface {
	Predict(x []float64) (float64, error)
}

// BatchPredictor is an optional capability of a Predictor: scoring many rows
// at once, writing out[i] for X[i]. Each out[i] must equal Predict(X[i]).
type BatchPredictor interface {
	PredictBatch(X [][]float64, out []float64) error
}

// HeldOut is an error measure on records a predictor was not trained on,
// such as a random forest's out-of-bag error. N is 0 when it is unknown.
type HeldOut struct {
	N   int
	MSE float64
	R2  float64
}

// Validator is an optional capability of a Trainer (or any stage) whose
// settings can be found wrong before it sees data. Run calls a Trainer's
// Validate before it starts, so that settings no retrain could use stop the
// run at once instead of failing every retrain.
type Validator interface {
	Validate() error
}

// TargetChecker is an optional capability of a Trainer that takes only
// some targets: a classifier takes class labels, say. Run checks each
// labeled record's target with CheckTarget as it arrives, and treats one it
// refuses as a bad record (RejectBadTarget, under BadRecords), which names
// the record. Unchecked, such a target would enter the window and fail
// every retrain until it left. CheckTarget is called from one goroutine,
// for every labeled record, so it should be cheap; its error says why.
type TargetChecker interface {
	CheckTarget(y float64) error
}

// HeldOutReporter is an optional capability of a Predictor that measured its
// own held-out error while training; a Model reports it.
type HeldOutReporter interface {
	HeldOut() HeldOut
}

// Sink consumes scored batches. Write is only called from one goroutine. The
// batch belongs to the Sink until Write returns; keep a copy to hold on to it.
type Sink interface {
	Write(ctx context.Context, b ScoredBatch) error
}

// SourceFunc returns a Source with the given schema that reads by calling
// read, for one-off sources.
func SourceFunc(schema Schema, read func(ctx context.Context, max int) (Batch, AckFunc, error)) Source {
	return funcSource{schema: schema, read: read}
}

type funcSource struct {
	schema Schema
	read   func(ctx context.Context, max int) (Batch, AckFunc, error)
}

func (s funcSource) Schema() Schema { return s.schema }
func (s funcSource) Read(ctx context.Context, max int) (Batch, AckFunc, error) {
	return s.read(ctx, max)
}

// TransformFunc adapts a function to a Transformer.
type TransformFunc func(ctx context.Context, b *Batch) error

// Transform calls f(ctx, b).
func (f TransformFunc) Transform(ctx context.Context, b *Batch) error { return f(ctx, b) }

// TrainFunc adapts a function to a Trainer.
type TrainFunc func(ctx context.Context, schema Schema, X [][]float64, y []float64) (Predictor, error)

// Train calls f(ctx, schema, X, y).
func (f TrainFunc) Train(ctx context.Context, schema Schema, X [][]float64, y []float64) (Predictor, error) {
	return f(ctx, schema, X, y)
}

// PredictFunc adapts a function to a Predictor.
type PredictFunc func(x []float64) (float64, error)

// Predict calls f(x).
func (f PredictFunc) Predict(x []float64) (float64, error) { return f(x) }

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, b ScoredBatch) error

// Write calls f(ctx, b).
func (f SinkFunc) Write(ctx context.Context, b ScoredBatch) error { return f(ctx, b) }
