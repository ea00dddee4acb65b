package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

// heldOutPanics is a Predictor whose HeldOut panics.
type heldOutPanics struct{}

func (heldOutPanics) Predict([]float64) (float64, error) { return 0, nil }
func (heldOutPanics) HeldOut() stream.HeldOut            { panic("HeldOut bug") }

// A Trainer's panic fails only that retrain, also when it comes from the
// Predictor's HeldOut, which the trainer goroutine calls after Train.
func TestHeldOutPanicFailsOnlyThatRetrain(t *testing.T) {
	tr := stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		return heldOutPanics{}, nil
	})
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: tr, MinTrain: 10, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.Positive(t, p.Stats().RetrainsFailed)
	assert.Zero(t, p.Stats().Retrains)
	assert.Nil(t, p.Model())
}

// A model's Transformer that changes how many records the window holds
// fails the retrain with an error naming it, instead of indexing past the
// targets.
func TestTransformerChangingTheWindowFailsTheRetrain(t *testing.T) {
	grow := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		if b.Len() >= 10 { // the training window, not a scored batch of 5
			b.Records = append(b.Records, b.Records[0])
		}
		return nil
	})
	var logged strings.Builder
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: &linearTrainer{},
		Transformers: []stream.Transformer{grow}, BatchSize: 5, MinTrain: 10, Logger: textLogger(&logged)}
	require.NoError(t, p.Run(context.Background()))
	assert.Positive(t, p.Stats().RetrainsFailed)
	assert.Zero(t, p.Stats().Retrains)
	assert.Contains(t, logged.String(), "transform[0]: Transform made")
}

// panickySchema is a Source whose Schema panics.
type panickySchema struct{}

func (panickySchema) Schema() stream.Schema { panic("schema bug") }
func (panickySchema) Read(context.Context, int) (stream.Batch, stream.AckFunc, error) {
	return stream.Batch{}, nil, nil
}

func TestSourceSchemaPanicIsAStageError(t *testing.T) {
	var nilSlice *streamtest.Slice
	for name, src := range map[string]stream.Source{"panicking Schema": panickySchema{}, "nil pointer": nilSlice} {
		err := (&stream.Pipeline{Source: src, Logger: quiet}).Run(context.Background())
		var se *stream.StageError
		require.ErrorAs(t, err, &se, name)
		assert.Equal(t, "source schema", se.Stage, name)
		assert.ErrorIs(t, err, stream.ErrPanic, name)
	}
}

// sourceErrorPipeline returns a Pipeline whose Source returns 10 records
// together with errSource, and whose scoring waits until reading has
// stopped, so that the batch is still in flight when the error is known,
// whatever the goroutines' timing.
func sourceErrorPipeline(errSource error, sink stream.Sink) *stream.Pipeline {
	reads := 0
	readDone := make(chan (<-chan struct{}), 1) // the Done of the Read that failed
	src := stream.SourceFunc(testSchema, func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		reads++
		if reads > 1 {
			return stream.Batch{}, nil, ctx.Err()
		}
		readDone <- ctx.Done()
		return stream.Batch{Records: records(10, 1, 0)}, nil, errSource
	})
	waitReadStopped := stream.TransformFunc(func(context.Context, *stream.Batch) error {
		<-<-readDone
		return nil
	})
	zero := stream.PredictFunc(func([]float64) (float64, error) { return 0, nil })
	return &stream.Pipeline{Source: src, Sink: sink, Logger: quiet,
		InitialModel: &stream.Model{Schema: testSchema, Transformers: []stream.Transformer{waitReadStopped}, Predictor: zero, Version: 1}}
}

// Records a Source returns together with an error are scored and written,
// as are the batches in flight, and Run returns the error afterwards.
func TestRecordsReadWithASourceErrorAreWritten(t *testing.T) {
	errBoom := errors.New("broker connection lost")
	sink := &streamtest.Collector{}
	p := sourceErrorPipeline(errBoom, sink)
	err := p.Run(context.Background())
	require.ErrorIs(t, err, errBoom)
	var se *stream.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "source", se.Stage)
	assert.Len(t, sink.Records(), 10)
	assert.EqualValues(t, 10, p.Stats().Written)
}

// The library's CSV source returns the records before a malformed line
// together with the error for it.
func TestCSVRecordsBeforeAMalformedLineAreWritten(t *testing.T) {
	var in strings.Builder
	in.WriteString("a,b,c,y\n")
	for i := range 100 {
		fmt.Fprintf(&in, "%d,%d,%d,%d\n", i, i, i, i)
	}
	in.WriteString("oops,1,2,3\n")
	src, err := source.NewCSV(strings.NewReader(in.String()), source.CSVOptions{Columns: source.Columns{Target: "y"}})
	require.NoError(t, err)
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: src, Sink: sink, Logger: quiet}
	err = p.Run(context.Background())
	var le *source.LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 102, le.Line)
	assert.Len(t, sink.Records(), 100)
}

func TestStageErrorWithoutErr(t *testing.T) {
	assert.Equal(t, "stream: sink: failed", (&stream.StageError{Stage: "sink"}).Error())
}

// A stage's package usually prefixes its errors with its own name, which is
// often the stage's: the prefix is said once.
func TestStageErrorSaysTheStageOnce(t *testing.T) {
	for _, tc := range []struct {
		stage string
		err   error
		want  string
	}{
		{"source", fmt.Errorf("line 3: %w", source.ErrMalformed), "stream: source: line 3: source: malformed input"},
		{"source", fmt.Errorf("%w: line 3", source.ErrMalformed), "stream: source: malformed input: line 3"},
		{"sink", errors.New("sink: closed"), "stream: sink: closed"},
		{"sink", errors.New("sinkhole: full"), "stream: sink: sinkhole: full"},
		{"sink", errors.New("sink"), "stream: sink: sink"},
		{"transform[0]", errors.New("scaler: not fitted"), "stream: transform[0]: scaler: not fitted"},
		{"validate", &stream.RecordError{Offset: 5, Reason: stream.RejectNaNFeature, Detail: "feature 1 is NaN"},
			"stream: validate: bad record 5: nan_feature: feature 1 is NaN"},
		{"predict", fmt.Errorf("stream: model v3: %w", io.ErrUnexpectedEOF), "stream: predict: model v3: unexpected EOF"},
	} {
		err := &stream.StageError{Stage: tc.stage, Err: tc.err}
		assert.Equal(t, tc.want, err.Error())
		assert.ErrorIs(t, err, tc.err)
	}
}

// closingSink fails Write with writeErr, when set, and Close with closeErr.
type closingSink struct{ writeErr, closeErr error }

func (s *closingSink) Write(context.Context, stream.ScoredBatch) error { return s.writeErr }
func (s *closingSink) Close() error                                    { return s.closeErr }

// An error from Close, a failed final flush say, is joined to what Run
// returns, never dropped, and never hides ctx.Err().
func TestRunJoinsCloseErrors(t *testing.T) {
	errWrite, errClose := errors.New("write failed"), errors.New("close: flush failed")
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)),
		Sink: &closingSink{writeErr: errWrite, closeErr: errClose}, Logger: quiet}
	err := p.Run(context.Background())
	assert.ErrorIs(t, err, errWrite)
	assert.ErrorIs(t, err, errClose)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Sink: &closingSink{closeErr: errClose}, Logger: quiet}
	err = p.Run(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errClose)

	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Sink: &closingSink{closeErr: errClose}, Logger: quiet}
	assert.ErrorIs(t, p.Run(context.Background()), errClose)
}

// Retrains that fall due while one runs are folded into the next; with
// NoFinalTrain that next one still runs when the stream ends.
func TestNoFinalTrainStillRunsARetrainThatFellDue(t *testing.T) {
	tr := &linearTrainer{block: make(chan struct{})}
	var written atomic.Int64
	sink := stream.SinkFunc(func(_ context.Context, b stream.ScoredBatch) error {
		if written.Add(int64(b.Len())) == 200 {
			close(tr.block) // the first retrain ends once every record is written
		}
		return nil
	})
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(200, 6, 0)), Trainer: tr, Sink: sink,
		BatchSize: 10, MinTrain: 10, RetrainEvery: 10, NoFinalTrain: true, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	require.Positive(t, st.RetrainsCoalesced)
	assert.EqualValues(t, 2, st.Retrains)
	assert.Equal(t, 200, p.Model().TrainedOn)
}

// Version 0 marks a batch scored by no model, so an InitialModel cannot
// have it.
func TestInitialModelOfVersionZeroIsRefused(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(20, 1, 0)), Logger: quiet,
		InitialModel: &stream.Model{Schema: testSchema, Predictor: seven}}
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "Version 0")
}

func textLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// A Sink that fails while the batches read before a Source error drain
// fails the run: Run returns both errors, so that the caller does not take
// the Source's alone to mean every record read was written.
func TestSinkFailureDuringASourceErrorDrainIsReturned(t *testing.T) {
	errBoom := errors.New("broker connection lost")
	errSink := errors.New("sink: disk full")
	p := sourceErrorPipeline(errBoom, stream.SinkFunc(func(context.Context, stream.ScoredBatch) error { return errSink }))
	err := p.Run(context.Background())
	require.ErrorIs(t, err, errBoom)
	assert.Zero(t, p.Stats().Written, "nothing was written")
	assert.ErrorIs(t, err, errSink)
}

// Once the Sink has failed during such a drain, the batches behind the one
// it refused are acknowledged with its error, which is what kept them from
// it.
func TestBatchesBehindASinkFailureAreAckedWithItsError(t *testing.T) {
	errBoom := errors.New("broker connection lost")
	errSink := errors.New("sink: disk full")
	base := streamtest.NewSlice(testSchema, records(20, 1, 0))
	readDone := make(chan (<-chan struct{}), 1)
	n := 0
	src := stream.SourceFunc(testSchema, func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		n++
		switch n {
		case 1:
			return base.Read(ctx, 10)
		case 2:
			b, ack, _ := base.Read(ctx, 10)
			readDone <- ctx.Done()
			return b, ack, errBoom
		}
		return stream.Batch{}, nil, ctx.Err()
	})
	var stopped <-chan struct{}
	waitReadStopped := stream.TransformFunc(func(context.Context, *stream.Batch) error {
		if stopped == nil { // only the scoring goroutine gets here
			stopped = <-readDone
		}
		<-stopped
		return nil
	})
	zero := stream.PredictFunc(func([]float64) (float64, error) { return 0, nil })
	sink := stream.SinkFunc(func(context.Context, stream.ScoredBatch) error { return errSink })
	p := &stream.Pipeline{Source: src, Sink: sink, Logger: quiet, Buffer: 4,
		InitialModel: &stream.Model{Schema: testSchema, Transformers: []stream.Transformer{waitReadStopped}, Predictor: zero, Version: 1}}
	_ = p.Run(context.Background())
	acks := base.Acks()
	require.Len(t, acks, 2)
	assert.ErrorIs(t, acks[0].Err, errSink, "the batch the Sink refused")
	assert.ErrorIs(t, acks[1].Err, errSink, "the batch behind it never reached the Sink because the Sink failed; acked with %v", acks[1].Err)
}

// A Window or AccuracyWindow far longer than the stream costs what the
// stream holds, not what the setting names.
func TestHugeWindowsCostWhatTheStreamHolds(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(300, 4, 0)), Trainer: &linearTrainer{},
		InitialModel: &stream.Model{Schema: testSchema, Predictor: seven, Version: 1},
		Window:       math.MaxInt, AccuracyWindow: math.MaxInt, MinTrain: 100, RetrainEvery: 100, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, 300, p.Model().TrainedOn, "the final model trains on everything")
	assert.Equal(t, 300, p.Stats().Live.N, "every record was scored by a model")
}

// An InitialModel is fed the source's features by position, so a source
// whose columns are reordered or renamed is refused, not scored wrongly.
func TestInitialModelFeaturesMustMatchTheSources(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	reordered := slices.Clone(testSchema.Features)
	reordered[0], reordered[1] = reordered[1], reordered[0]
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Logger: quiet,
		InitialModel: &stream.Model{Schema: stream.Schema{Features: reordered}, Predictor: seven, Version: 1}}
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.Contains(t, err.Error(), fmt.Sprintf("feature 0 is %q, the source's is %q", reordered[0], testSchema.Features[0]))
}

// failingBatch is a BatchPredictor that refuses every row.
type failingBatch struct{}

func (failingBatch) Predict([]float64) (float64, error) { return 0, errors.New("no") }
func (failingBatch) PredictBatch([][]float64, []float64) error {
	return errors.New("row 0: no")
}

// A Model names its version in a predictor's error, batch or not.
func TestModelErrorsNameTheVersion(t *testing.T) {
	for name, pred := range map[string]stream.Predictor{
		"batch":  failingBatch{},
		"single": stream.PredictFunc(func([]float64) (float64, error) { return 0, errors.New("no") }),
	} {
		m := &stream.Model{Schema: testSchema, Predictor: pred, Version: 3}
		_, err := m.Predict(make([]float64, testSchema.NumFeatures()))
		assert.ErrorContains(t, err, "stream: model v3: ", name)
	}
}

// checkedTrainer is a Trainer whose Validate returns err, or panics when
// err is nil.
type checkedTrainer struct {
	linearTrainer
	err error
}

func (c *checkedTrainer) Validate() error {
	if c.err == nil {
		panic("validate bug")
	}
	return c.err
}

func TestRunValidatesTheTrainer(t *testing.T) {
	bad := errors.New("Trees is 0")
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Trainer: &checkedTrainer{err: bad}, Logger: quiet}
	err := p.Run(context.Background())
	assert.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.ErrorIs(t, err, bad)
	assert.EqualError(t, err, "stream: invalid pipeline setting: Trainer: Trees is 0")

	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Trainer: &checkedTrainer{}, Logger: quiet}
	err = p.Run(context.Background())
	assert.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.ErrorIs(t, err, stream.ErrPanic)
}

// Versions continue from an InitialModel's, so one of math.MaxUint64 would
// give the next model 0, the version of no model.
func TestInitialModelOfTheLastVersionIsRefused(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Logger: quiet,
		InitialModel: &stream.Model{Schema: testSchema, Predictor: seven, Version: math.MaxUint64}}
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "leaves none for the next model")
}

// panickyTargets is a Trainer whose CheckTarget panics on a target of 7.
type panickyTargets struct{ linearTrainer }

func (*panickyTargets) CheckTarget(y float64) error {
	if y == 7 {
		panic("check bug")
	}
	return nil
}

func TestTargetCheckPanicStopsTheRun(t *testing.T) {
	recs := records(50, 3, 0)
	recs[20].Target = 7
	src := streamtest.NewSlice(testSchema, recs)
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: src, Trainer: &panickyTargets{}, Sink: sink, BatchSize: 8, Logger: quiet}
	err := p.Run(context.Background())
	var se *stream.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "validate", se.Stage)
	assert.ErrorIs(t, err, stream.ErrPanic)
	require.NoError(t, src.CheckAcks())
}

// A service polling Stats can tell why no model comes: RetrainError holds
// the newest retrain's failure, until a retrain succeeds.
func TestStatsKeepTheNewestRetrainError(t *testing.T) {
	lookup := errors.New("lookup table missing")
	bad := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		if b.Len() >= 10 { // the window, not a scored batch
			return lookup
		}
		return nil
	})
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: &linearTrainer{},
		Transformers: []stream.Transformer{bad}, BatchSize: 5, MinTrain: 10, Logger: quiet}
	assert.NoError(t, p.Stats().RetrainError, "before any retrain")
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	assert.Positive(t, st.RetrainsFailed)
	assert.ErrorIs(t, st.RetrainError, lookup)
	var se *stream.StageError
	require.ErrorAs(t, st.RetrainError, &se)
	assert.Equal(t, "transform[0]", se.Stage)

	tr := &linearTrainer{fail: map[int]bool{1: true}}
	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: tr, BatchSize: 5, MinTrain: 10, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	st = p.Stats()
	require.Equal(t, 2, tr.Calls(), "the failed first retrain, then the one at io.EOF")
	assert.EqualValues(t, 1, st.RetrainsFailed)
	assert.NoError(t, st.RetrainError, "the newest retrain succeeded")
}

// A panic's error is one line; the stack comes apart, for whoever wants it.
func TestAPanicErrorKeepsItsStackApart(t *testing.T) {
	boom := stream.TransformFunc(func(context.Context, *stream.Batch) error { panic("boom") })
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(20, 1, 0)), Trainer: &linearTrainer{},
		Transformers: []stream.Transformer{boom}, MinTrain: 10, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	err := p.Stats().RetrainError
	assert.Equal(t, "stream: transform[0]: panic: boom", err.Error())
	assert.ErrorIs(t, err, stream.ErrPanic)
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "failure_test.go", "the stack reaches the panicking function")
}

func TestInitialModelTargetMustMatchTheSources(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	other := testSchema
	other.Target = "price"
	require.NotEqual(t, testSchema.Target, other.Target)
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Logger: quiet,
		InitialModel: &stream.Model{Schema: other, Predictor: seven, Version: 1}}
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.Contains(t, err.Error(), fmt.Sprintf("InitialModel predicts %q, the source's target is %q", "price", testSchema.Target))

	// A source without a target only has records scored: any model will do.
	unlabeled := testSchema
	unlabeled.Target = ""
	p = &stream.Pipeline{Source: streamtest.NewSlice(unlabeled, records(10, 1, 0)), Logger: quiet,
		InitialModel: &stream.Model{Schema: other, Predictor: seven, Version: 1}}
	assert.NoError(t, p.Run(context.Background()))
}

// A service that starts Run in a goroutine can serve its saved model at
// once: Model gives InitialModel before Run has stored it.
func TestModelIsTheInitialModelBeforeRun(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	m := &stream.Model{Schema: testSchema, Predictor: seven, Version: 4}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), Logger: quiet, InitialModel: m}
	assert.Same(t, m, p.Model())
	assert.Nil(t, (&stream.Pipeline{}).Model())
}

// The first retrain after a restart must not swap a model trained on a
// full window for one trained on the first few hundred records: by
// default it waits for as many as the InitialModel was trained on.
func TestInitialModelRaisesTheDefaultMinTrain(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	for _, tc := range []struct {
		name                       string
		trainedOn, minTrain, first int
	}{
		{"trained on more than the default", 800, 0, 800},
		{"trained on fewer", 100, 0, stream.DefaultMinTrain},
		{"trained on more than the window", 5000, 0, 1000},
		{"MinTrain set", 800, 200, 200},
	} {
		var firsts []int
		p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(3000, 1, 0)), Trainer: &linearTrainer{},
			Window: 1000, MinTrain: tc.minTrain, RetrainEvery: 100_000, BatchSize: 100, NoFinalTrain: true, Logger: quiet,
			InitialModel: &stream.Model{Schema: testSchema, Predictor: seven, Version: 1, TrainedOn: tc.trainedOn},
			OnModel:      func(m *stream.Model) { firsts = append(firsts, m.TrainedOn) }}
		require.NoError(t, p.Run(context.Background()), tc.name)
		require.Len(t, firsts, 1, tc.name)
		assert.Equal(t, tc.first, firsts[0], tc.name)
	}
}

// One row is not a batch: Model.Predict's errors are the Predictor's own,
// with no "row 0" from a batch of one.
func TestModelPredictErrorsAreThePredictors(t *testing.T) {
	m := &stream.Model{Schema: testSchema, Predictor: failingBatch{}, Version: 3}
	_, err := m.Predict(make([]float64, testSchema.NumFeatures()))
	assert.EqualError(t, err, "stream: model v3: no")

	_, err = (&stream.Model{}).Predict([]float64{1})
	assert.EqualError(t, err, "stream: Model has no Predictor")
	_, err = (&stream.Model{}).Transform([]float64{1})
	assert.ErrorIs(t, err, stream.ErrFeatureCount, "Transform needs no Predictor")
}

// The retrain at io.EOF ignores MinTrain so that a short stream ends with
// a model, but a restarted run already has one: it keeps the model it was
// given rather than end on one trained on fewer records.
func TestAShortRestartKeepsItsModelAtTheEnd(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	saved := &stream.Model{Schema: testSchema, Predictor: seven, Version: 3, TrainedOn: 5000}
	tr := &linearTrainer{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: tr,
		InitialModel: saved, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.Same(t, saved, p.Model())
	assert.Zero(t, tr.Calls())

	// Without a model to keep, the short stream still ends with one.
	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: &linearTrainer{}, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	require.NotNil(t, p.Model())
	assert.Equal(t, 100, p.Model().TrainedOn)
}

// dropHigh is a frozen Transformer that drops rows, which a Transformer
// must not do: scoring checks the count as training and Model.Transform do.
type dropHigh struct{}

func (dropHigh) Transform(_ context.Context, b *stream.Batch) error {
	out := b.Records[:0]
	for _, r := range b.Records {
		if r.Features[0] < 0.5 {
			out = append(out, r)
		}
	}
	b.Records = out
	return nil
}

func TestScoringRefusesATransformerThatDropsRecords(t *testing.T) {
	first := stream.PredictFunc(func(x []float64) (float64, error) { return x[0], nil })
	m := &stream.Model{Schema: testSchema, Predictor: first, Version: 1, Transformers: []stream.Transformer{dropHigh{}}}
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(20, 1, 0)), InitialModel: m, Sink: sink, Logger: quiet}
	err := p.Run(context.Background())
	var se *stream.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "predict", se.Stage)
	assert.ErrorContains(t, err, "transform[0]: made ")
	assert.Empty(t, sink.Records(), "no record was written with another's score")

	err = m.PredictBatch(context.Background(), stream.Batch{Records: records(20, 1, 0)}, make([]float64, 20))
	assert.ErrorContains(t, err, "transform[0]: made ")
}

// A Pipeline whose settings were refused serves no model, not even the
// InitialModel it refused.
func TestModelIsNotARefusedInitialModel(t *testing.T) {
	first := stream.PredictFunc(func(x []float64) (float64, error) { return x[0], nil })
	m := &stream.Model{Schema: stream.Schema{Features: []string{"c", "b", "a"}, Target: "y"}, Predictor: first, Version: 2}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(10, 1, 0)), InitialModel: m, Logger: quiet}
	require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalidConfig)
	assert.Nil(t, p.Model())
}

// A retrain's panic is only logged, so the log carries its stack.
func TestARetrainPanicLogsItsStack(t *testing.T) {
	var logged lockedBuffer
	tr := stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		panic("trainer bug")
	})
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 1, 0)), Trainer: tr,
		MinTrain: 10, Logger: textLogger(&logged)}
	require.NoError(t, p.Run(context.Background()))
	out := logged.String()
	assert.Contains(t, out, `error="stream: trainer: panic: trainer bug"`)
	assert.Contains(t, out, "failure_test.go", "the stack reaches the panicking Trainer")
}
