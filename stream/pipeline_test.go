package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

var quiet = slog.New(slog.DiscardHandler)

func TestPassThroughWritesEveryRecordInOrderAndAcksEachBatchOnce(t *testing.T) {
	recs := records(1000, 1, 0)
	src := streamtest.NewSlice(testSchema, recs)
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: src, Sink: sink, BatchSize: 64, Logger: quiet}

	require.NoError(t, p.Run(context.Background()))

	got := sink.Records()
	require.Len(t, got, len(recs))
	for i, r := range got {
		assert.Equal(t, recs[i].Key, r.Key)
		assert.True(t, math.IsNaN(r.Prediction), "no trainer, so no model and no prediction")
		assert.Zero(t, r.ModelVersion)
	}
	require.NoError(t, src.CheckAcks())
	for _, a := range src.Acks() {
		assert.NoError(t, a.Err)
		assert.LessOrEqual(t, a.Size, 64)
	}
	st := p.Stats()
	assert.EqualValues(t, 1000, st.Read)
	assert.EqualValues(t, 1000, st.Written)
	assert.EqualValues(t, 16, st.Batches)
	assert.Zero(t, st.Scored)
	assert.Nil(t, p.Model())
	assert.Equal(t, 1, sink.Closed(), "Run closes a sink that is an io.Closer")
}

func TestEveryRecordIsScoredBeforeItIsLearnedFrom(t *testing.T) {
	// A predictor that remembers its training rows answers 1 for a row it
	// was trained on: under test-then-train no record may ever score 1.
	memorize := stream.TrainFunc(func(_ context.Context, _ stream.Schema, X [][]float64, _ []float64) (stream.Predictor, error) {
		seen := make(map[[3]float64]bool, len(X))
		for _, x := range X {
			seen[[3]float64(x)] = true
		}
		return stream.PredictFunc(func(x []float64) (float64, error) {
			if seen[[3]float64(x)] {
				return 1, nil
			}
			return 0, nil
		}), nil
	})
	recs := records(5000, 2, 0)
	sink := &streamtest.Collector{}
	src, watch := streamtest.NewSlice(testSchema, recs), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{1000: 1, 3000: 2})
	p := &stream.Pipeline{Source: src, Trainer: memorize, Sink: sink, OnModel: watch.onModel,
		BatchSize: 50, MinTrain: 100, RetrainEvery: 100, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))

	scored := 0
	for _, r := range sink.Records() {
		if r.ModelVersion > 0 {
			scored++
			require.Zero(t, r.Prediction, "record %s was scored by a model trained on it", r.Key)
		}
	}
	assert.Positive(t, scored)
	// The final model, trained at io.EOF, has seen the last records.
	m := p.Model()
	require.NotNil(t, m)
	last := recs[len(recs)-1].Features
	y, err := m.Predict(last)
	require.NoError(t, err)
	assert.Equal(t, 1.0, y)
}

func TestModelPredictEqualsThePipelineScoreBitForBit(t *testing.T) {
	// The live scaler keeps learning from every batch; each model must still
	// score a raw record exactly as the pipeline did under that version.
	recs := records(20000, 3, 7)
	src, watch := streamtest.NewSlice(testSchema, recs), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{1000: 1, 4000: 2, 8000: 3})
	p := &stream.Pipeline{Source: src, Transformers: []stream.Transformer{&meanScaler{}}, OnModel: watch.onModel,
		Trainer: &linearTrainer{}, BatchSize: 100, MinTrain: 500, RetrainEvery: 1000, Logger: quiet}
	check := &streamtest.SkewCheck{Model: p.Model}
	p.Sink = check
	require.NoError(t, p.Run(context.Background()))
	checked, err := check.Result()
	require.NoError(t, err)
	assert.Greater(t, checked, 1000)
	assert.Greater(t, p.Stats().Retrains, uint64(2))
}

func TestSkewCheckCatchesAFrozenStateThatMoves(t *testing.T) {
	// The same run with a Fitter whose frozen copy is its live self.
	recs := records(5000, 3, 7)
	src, watch := streamtest.NewSlice(testSchema, recs), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{1000: 1})
	p := &stream.Pipeline{Source: src, Transformers: []stream.Transformer{&liveScaler{}}, OnModel: watch.onModel,
		Trainer: &linearTrainer{}, BatchSize: 100, MinTrain: 500, RetrainEvery: 100_000, NoFinalTrain: true, Logger: quiet}
	check := &streamtest.SkewCheck{Model: p.Model}
	p.Sink = check
	require.NoError(t, p.Run(context.Background()))
	_, err := check.Result()
	assert.ErrorContains(t, err, "the pipeline scored it")
}

// liveScaler is meanScaler with the classic bug: Freeze returns the live
// scaler, so a model's preprocessing moves as the stream goes on. (It locks,
// so that the race detector does not find the bug first.)
type liveScaler struct {
	mu sync.Mutex
	meanScaler
}

func (s *liveScaler) Fit(ctx context.Context, b stream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meanScaler.Fit(ctx, b)
}

func (s *liveScaler) Transform(ctx context.Context, b *stream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meanScaler.Transform(ctx, b)
}

func (s *liveScaler) Freeze() stream.Transformer { return s }

func TestLiveAccuracyOfAPerfectModelIsPerfect(t *testing.T) {
	exact := stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		return stream.PredictFunc(func(x []float64) (float64, error) { return truth(x), nil }), nil
	})
	src, watch := streamtest.NewSlice(testSchema, records(3000, 4, 3)), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{1000: 1})
	p := &stream.Pipeline{Source: src, Trainer: exact, OnModel: watch.onModel,
		BatchSize: 100, MinTrain: 100, RetrainEvery: 500, AccuracyWindow: 200, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	assert.Equal(t, 200, st.Live.N)
	assert.Zero(t, st.Live.MAE)
	assert.Zero(t, st.Live.RMSE)
	assert.Equal(t, 1.0, st.Live.R2)
	assert.EqualValues(t, 2000, st.Learned, "a third of the records are unlabeled: scored, never learned")
}

func TestAFailedRetrainKeepsThePreviousModel(t *testing.T) {
	tr := &linearTrainer{fail: map[int]bool{2: true, 3: true}}
	var logs lockedBuffer
	// The first model comes before offset 300; the retrain at io.EOF, at
	// least the second call, then surely runs and may fail.
	src, watch := streamtest.NewSlice(testSchema, records(2000, 5, 0)), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{300: 1})
	p := &stream.Pipeline{Source: src, Trainer: tr, OnModel: watch.onModel,
		BatchSize: 100, MinTrain: 100, RetrainEvery: 400,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	sink := &streamtest.Collector{}
	p.Sink = sink
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	assert.GreaterOrEqual(t, st.RetrainsFailed, uint64(1))
	assert.Equal(t, st.Retrains+st.RetrainsFailed, uint64(tr.Calls()))
	assert.EqualValues(t, 2000, st.Written, "a failed retrain does not stop the stream")
	assert.Contains(t, logs.String(), "retrain failed")
	assert.Contains(t, logs.String(), errTrain.Error())
	require.NotNil(t, p.Model())
	assert.Equal(t, st.Retrains, p.Model().Version, "versions count models made, not attempts")
}

func TestRetrainsThatFallDueDuringTrainingAreCoalescedAndCounted(t *testing.T) {
	tr := &linearTrainer{block: make(chan struct{})}
	written := atomic.Int64{}
	sink := stream.SinkFunc(func(_ context.Context, b stream.ScoredBatch) error {
		if written.Add(int64(b.Len())) == 200 {
			close(tr.block) // the first training ends only once every record is through
		}
		return nil
	})
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(200, 6, 0)), Trainer: tr, Sink: sink,
		BatchSize: 10, MinTrain: 10, RetrainEvery: 10, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	assert.EqualValues(t, 19, st.RetrainsCoalesced, "190 records arrived during the first training: 19 retrains fell due")
	assert.EqualValues(t, 2, st.Retrains, "the first, then one for all that was coalesced")
	assert.EqualValues(t, 200, p.Model().TrainedOn)
}

// countingTrainer is a Trainer of constant models that counts its calls
// and closes nth as the nth call starts.
func countingTrainer(n int32) (tr stream.Trainer, calls *atomic.Int32, nth <-chan struct{}) {
	calls = new(atomic.Int32)
	ch := make(chan struct{})
	tr = stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		if calls.Add(1) == n {
			close(ch)
		}
		return stream.PredictFunc(func([]float64) (float64, error) { return 0, nil }), nil
	})
	return tr, calls, ch
}

// endWhen is a Source's last Read: io.EOF once ch is closed, or ctx.Err()
// if ctx ends first.
func endWhen(ctx context.Context, ch <-chan struct{}) (stream.Batch, stream.AckFunc, error) {
	select {
	case <-ch:
		return stream.Batch{}, nil, io.EOF
	case <-ctx.Done():
		return stream.Batch{}, nil, ctx.Err()
	}
}

func TestTheTimeCadenceRetrainsWithoutNewRecordCount(t *testing.T) {
	// The first model comes by count as soon as MinTrain records are in; a
	// second can only come from the clock, since RetrainEvery is never
	// reached. The stream stays open until a second training starts.
	tr, calls, second := countingTrainer(2)
	recs := records(110, 7, 0)
	reads := 0
	src := stream.SourceFunc(testSchema, func(ctx context.Context, _ int) (stream.Batch, stream.AckFunc, error) {
		reads++
		switch reads {
		case 1: // enough for the first model, by count
			return stream.Batch{Records: recs[:100]}, nil, nil
		case 2: // new records after it was started: the clock has something to learn
			return stream.Batch{Records: recs[100:]}, nil, nil
		}
		return endWhen(ctx, second) // hold the stream open until the clock has started a retrain
	})
	// The deadline only turns a missing time cadence into a failure instead
	// of a hang; it synchronizes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &stream.Pipeline{Source: src, Trainer: tr, MinTrain: 10, RetrainEvery: 1_000_000,
		RetrainInterval: time.Millisecond, NoFinalTrain: true, Logger: quiet}
	require.NoError(t, p.Run(ctx), "no retrain came from the clock")
	assert.GreaterOrEqual(t, int(calls.Load()), 2)
	assert.GreaterOrEqual(t, p.Stats().Retrains, uint64(2))
}

func TestTheTimeCadenceIsCheckedAsRecordsArrive(t *testing.T) {
	// The interval is an hour of a clock the test moves: no timer fires
	// during the test, so a second training can only come from the check
	// made when a batch arrives after the interval has passed.
	start := time.Now()
	var elapsed atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	tr, calls, second := countingTrainer(2)
	firstModel := make(chan struct{})
	recs := records(110, 7, 0)
	reads := 0
	src := stream.SourceFunc(testSchema, func(ctx context.Context, _ int) (stream.Batch, stream.AckFunc, error) {
		reads++
		switch reads {
		case 1:
			return stream.Batch{Records: recs[:100]}, nil, nil
		case 2:
			select {
			case <-firstModel:
			case <-ctx.Done():
				return stream.Batch{}, nil, ctx.Err()
			}
			elapsed.Add(int64(2 * time.Hour))
			return stream.Batch{Records: recs[100:]}, nil, nil
		}
		return endWhen(ctx, second)
	})
	// The deadline only turns a missed cadence into a failure instead of a
	// hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &stream.Pipeline{Source: src, Trainer: tr, MinTrain: 10, RetrainEvery: 1_000_000,
		RetrainInterval: time.Hour, NoFinalTrain: true, Logger: quiet,
		OnModel: func(m *stream.Model) {
			if m.Version == 1 {
				close(firstModel)
			}
		}}
	stream.SetClock(p, now)
	require.NoError(t, p.Run(ctx), "the batch that came after the interval started no retrain")
	assert.EqualValues(t, 2, calls.Load())
}

func TestFinalTrainAtEOFSeesEveryRecord(t *testing.T) {
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(1234, 8, 0)), Trainer: &linearTrainer{},
		MinTrain: 100, RetrainEvery: 500, Window: 5000, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	require.NotNil(t, p.Model())
	assert.Equal(t, 1234, p.Model().TrainedOn)

	// Without it, the last model is one started before the last batch.
	src, watch := streamtest.NewSlice(testSchema, records(1234, 8, 0)), newModelWatch()
	src.BeforeRead = watch.gate(map[int]uint64{1200: 2})
	noFinal := &stream.Pipeline{Source: src, Trainer: &linearTrainer{}, OnModel: watch.onModel,
		BatchSize: 100, MinTrain: 100, RetrainEvery: 500, Window: 5000, NoFinalTrain: true, Logger: quiet}
	require.NoError(t, noFinal.Run(context.Background()))
	assert.Less(t, noFinal.Model().TrainedOn, 1234)
}

func TestTheWindowKeepsOnlyTheNewestRecords(t *testing.T) {
	var lastX [][]float64
	keep := stream.TrainFunc(func(_ context.Context, _ stream.Schema, X [][]float64, _ []float64) (stream.Predictor, error) {
		lastX = X
		return stream.PredictFunc(func([]float64) (float64, error) { return 0, nil }), nil
	})
	recs := records(1000, 9, 0)
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: keep, Window: 300, MinTrain: 50,
		RetrainEvery: 70, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	require.Len(t, lastX, 300)
	for i, x := range lastX {
		assert.Equal(t, recs[700+i].Features, x, "row %d of the final window", i)
	}
}

func TestCancellationDrainsEveryBatchReadToTheSink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var read atomic.Int64
	var mu sync.Mutex
	acks := map[int64]int{}
	src := stream.SourceFunc(testSchema, func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		if err := ctx.Err(); err != nil {
			return stream.Batch{}, nil, err
		}
		id := read.Add(1)
		return stream.Batch{Records: records(max, uint64(id), 2)}, func(_ context.Context, err error) error {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acks[id]++
			} else {
				acks[id] += 1000
			}
			return nil
		}, nil
	})
	var written atomic.Int64
	sink := stream.SinkFunc(func(ctx context.Context, b stream.ScoredBatch) error {
		if written.Add(int64(b.Len())) >= 5000 {
			cancel()
		}
		return ctx.Err() // the sink's context stays live while the pipeline drains
	})
	p := &stream.Pipeline{Source: src, Sink: sink, Trainer: &linearTrainer{}, BatchSize: 100, MinTrain: 100, Logger: quiet}
	err := p.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	st := p.Stats()
	assert.Equal(t, st.Read, st.Written, "every record read reached the sink")
	assert.GreaterOrEqual(t, st.Written, uint64(5000))
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, acks, int(read.Load()))
	for id, n := range acks {
		assert.Equal(t, 1, n, "batch %d acknowledged once, with nil", id)
	}
}

func TestStageErrorsStopTheRunNamingTheStage(t *testing.T) {
	errBoom := errors.New("boom")
	recs := records(500, 10, 0)
	cases := []struct {
		name  string
		stage string
		setup func(p *stream.Pipeline)
		is    error
	}{
		{"source error", "source", func(p *stream.Pipeline) { p.Source.(*streamtest.Slice).End = errBoom }, errBoom},
		{"sink error", "sink", func(p *stream.Pipeline) { p.Sink = &streamtest.Collector{Err: errBoom} }, errBoom},
		{"sink panic", "sink", func(p *stream.Pipeline) {
			p.Sink = stream.SinkFunc(func(context.Context, stream.ScoredBatch) error { panic("sink bug") })
		}, stream.ErrPanic},
		{"fit error", "transform[0]", func(p *stream.Pipeline) {
			p.Transformers = []stream.Transformer{failingFitter{err: errBoom}}
		}, errBoom},
		{"predict error", "predict", func(p *stream.Pipeline) {
			p.Trainer = stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
				return stream.PredictFunc(func([]float64) (float64, error) { return 0, errBoom }), nil
			})
		}, errBoom},
		{"transform panic", "predict", func(p *stream.Pipeline) {
			p.Trainer = &linearTrainer{}
			p.BatchSize = 25
			p.Transformers = []stream.Transformer{stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
				if b.Len() <= 25 { // scoring a batch, not preparing the training window
					panic("bug in a user's stage")
				}
				return nil
			})}
		}, stream.ErrPanic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := streamtest.NewSlice(testSchema, recs)
			// Hold the stream after 50 records until a model is made, so the
			// scoring stage certainly sees one.
			watch := newModelWatch()
			src.BeforeRead = watch.gate(map[int]uint64{50: 1})
			p := &stream.Pipeline{Source: src, Trainer: &linearTrainer{}, BatchSize: 50, MinTrain: 50, RetrainEvery: 50,
				OnModel: watch.onModel, Logger: quiet}
			tc.setup(p)
			err := p.Run(context.Background())
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.is)
			var se *stream.StageError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.stage, se.Stage)
			require.NoError(t, src.CheckAcks())
			st := p.Stats()
			failedAcks := 0
			for _, a := range src.Acks() {
				if a.Err != nil {
					failedAcks += a.Size
				}
			}
			assert.EqualValues(t, st.Read, st.Written+uint64(failedAcks), "each record read was written or acked with the error")
		})
	}
}

type failingFitter struct{ err error }

func (f failingFitter) Fit(context.Context, stream.Batch) error        { return f.err }
func (f failingFitter) Freeze() stream.Transformer                     { return f }
func (f failingFitter) Transform(context.Context, *stream.Batch) error { return nil }

func badRecords() []stream.Record {
	recs := records(10, 11, 0)
	recs[2].Features = recs[2].Features[:2]
	recs[4].Features[1] = math.NaN()
	recs[6].Features[0] = math.Inf(-1)
	recs[8].Target = math.Inf(1)
	recs[9].Target = math.NaN() // unlabeled is not bad
	return recs
}

func TestBadRecordsAreDroppedAndCountedByReason(t *testing.T) {
	sink := &streamtest.Collector{}
	src := streamtest.NewSlice(testSchema, badRecords())
	p := &stream.Pipeline{Source: src, Sink: sink, BatchSize: 4, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	st := p.Stats()
	assert.EqualValues(t, 4, st.Rejected)
	assert.Equal(t, map[stream.RejectReason]uint64{
		stream.RejectFeatureCount: 1, stream.RejectNaNFeature: 1, stream.RejectInfFeature: 1, stream.RejectBadTarget: 1,
	}, st.RejectedBy)
	var keys []string
	for _, r := range sink.Records() {
		keys = append(keys, r.Key)
	}
	assert.Equal(t, []string{"0", "1", "3", "5", "7", "9"}, keys)
	require.NoError(t, src.CheckAcks())
}

func TestBadRecordsGoToTheDeadLetterSinkWithTheirReason(t *testing.T) {
	dead := &streamtest.Collector{}
	recs := badRecords()
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), BadRecords: stream.DeadLetterBad,
		DeadLetter: dead, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	got := dead.Records()
	require.Len(t, got, 4)
	reasons := map[string]string{}
	for _, r := range got {
		reasons[r.Key] = r.Attrs[stream.AttrRejectReason]
	}
	assert.Equal(t, map[string]string{"2": "feature_count", "4": "nan_feature", "6": "inf_feature", "8": "bad_target"}, reasons)
	details := map[string]string{}
	for _, r := range got {
		details[r.Key] = r.Attrs[stream.AttrRejectDetail]
	}
	assert.Equal(t, map[string]string{"2": "2 features, schema has 3", "4": "feature 1 is NaN", "6": "feature 0 is -Inf", "8": "target is +Inf"}, details)
	assert.Nil(t, recs[2].Attrs, "the source's own record is not changed")
	assert.Equal(t, 1, dead.Closed())
}

func TestFailOnBadStopsWithAnErrorNamingTheRecord(t *testing.T) {
	src := streamtest.NewSlice(testSchema, badRecords())
	p := &stream.Pipeline{Source: src, BadRecords: stream.FailOnBad, BatchSize: 3, Logger: quiet}
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrBadRecord)
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.EqualValues(t, 2, re.Offset)
	assert.Equal(t, "2", re.Key)
	assert.Equal(t, stream.RejectFeatureCount, re.Reason)
	assert.Contains(t, err.Error(), "bad record 2")
	require.NoError(t, src.CheckAcks())
}

// wholeTargets is a Trainer that takes only whole, non-negative targets,
// as a classifier's class labels are, and says so per record.
type wholeTargets struct {
	linearTrainer
	checked atomic.Int64
}

func (w *wholeTargets) CheckTarget(y float64) error {
	w.checked.Add(1)
	return wholeTarget(y)
}

func wholeTarget(y float64) error {
	if y < 0 || y != math.Trunc(y) {
		return fmt.Errorf("label %v is not a whole number", y)
	}
	return nil
}

func (w *wholeTargets) Train(ctx context.Context, s stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	for i, v := range y {
		if err := wholeTarget(v); err != nil {
			return nil, fmt.Errorf("target %d: %w", i, err)
		}
	}
	return w.linearTrainer.Train(ctx, s, X, y)
}

// A target the Trainer refuses would fail every retrain for as long as it
// stays in the window; a TargetChecker has it refused on arrival instead,
// by the BadRecords policy, with the record's offset and key.
func TestTargetsTheTrainerRefusesAreBadRecords(t *testing.T) {
	recs := records(600, 12, 0)
	for i := range recs {
		recs[i].Target = float64(i % 3)
	}
	recs[5].Target = -1
	recs[9].Target = 1.5
	recs[11].Target = math.NaN() // unlabeled: not the Trainer's to check

	t.Run("dropped", func(t *testing.T) {
		tr := &wholeTargets{}
		src := streamtest.NewSlice(testSchema, recs)
		p := &stream.Pipeline{Source: src, Trainer: tr, Window: 100, MinTrain: 50, RetrainEvery: 100, Logger: quiet}
		require.NoError(t, p.Run(context.Background()))
		st := p.Stats()
		assert.Equal(t, map[stream.RejectReason]uint64{stream.RejectBadTarget: 2}, st.RejectedBy)
		assert.Zero(t, st.RetrainsFailed)
		assert.NotNil(t, p.Model())
		assert.EqualValues(t, 599, tr.checked.Load(), "every labeled record, checked once on arrival")
		require.NoError(t, src.CheckAcks())
	})
	t.Run("dead letter", func(t *testing.T) {
		dead := &streamtest.Collector{}
		p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: &wholeTargets{},
			BadRecords: stream.DeadLetterBad, DeadLetter: dead, Logger: quiet}
		require.NoError(t, p.Run(context.Background()))
		var keys []string
		for _, r := range dead.Records() {
			keys = append(keys, r.Key+":"+r.Attrs[stream.AttrRejectReason])
		}
		assert.Equal(t, []string{"5:bad_target", "9:bad_target"}, keys)
	})
	t.Run("fail", func(t *testing.T) {
		src := streamtest.NewSlice(testSchema, recs)
		p := &stream.Pipeline{Source: src, Trainer: &wholeTargets{}, BadRecords: stream.FailOnBad, Logger: quiet}
		err := p.Run(context.Background())
		var re *stream.RecordError
		require.ErrorAs(t, err, &re)
		assert.EqualValues(t, 5, re.Offset)
		assert.Equal(t, "5", re.Key)
		assert.Equal(t, stream.RejectBadTarget, re.Reason)
		assert.Contains(t, err.Error(), "label -1 is not a whole number")
		require.NoError(t, src.CheckAcks())
	})
}

func TestInvalidPipelinesFailFast(t *testing.T) {
	src := func() stream.Source { return streamtest.NewSlice(testSchema, nil) }
	cases := []struct {
		name string
		p    *stream.Pipeline
		want error
		text string
	}{
		{"no source", &stream.Pipeline{}, stream.ErrNoSource, "no source"},
		{"negative batch", &stream.Pipeline{Source: src(), BatchSize: -1}, stream.ErrInvalidConfig, "BatchSize is -1"},
		{"negative window", &stream.Pipeline{Source: src(), Window: -5}, stream.ErrInvalidConfig, "Window is -5"},
		{"min train above window", &stream.Pipeline{Source: src(), Window: 10, MinTrain: 20}, stream.ErrInvalidConfig, "MinTrain 20 is more than Window 10"},
		{"negative interval", &stream.Pipeline{Source: src(), RetrainInterval: -1}, stream.ErrInvalidConfig, "RetrainInterval"},
		{"dead letter missing", &stream.Pipeline{Source: src(), BadRecords: stream.DeadLetterBad}, stream.ErrInvalidConfig, "DeadLetter is nil"},
		{"unknown policy", &stream.Pipeline{Source: src(), BadRecords: 7}, stream.ErrInvalidConfig, "BadRecords is 7"},
		{"nil transformer", &stream.Pipeline{Source: src(), Transformers: []stream.Transformer{nil}}, stream.ErrInvalidConfig, "Transformers[0]"},
		{"empty schema", &stream.Pipeline{Source: streamtest.NewSlice(stream.Schema{}, nil)}, stream.ErrInvalidSchema, "no features"},
		{"repeated feature", &stream.Pipeline{Source: streamtest.NewSlice(stream.Schema{Features: []string{"a", "a"}}, nil)}, stream.ErrInvalidSchema, `both named "a"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Run(context.Background())
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.text)
		})
	}
}

func TestRunTwiceReturnsErrAlreadyRun(t *testing.T) {
	reading, release := make(chan struct{}), make(chan struct{})
	src := stream.SourceFunc(testSchema, func(ctx context.Context, _ int) (stream.Batch, stream.AckFunc, error) {
		close(reading)
		<-release
		return stream.Batch{}, nil, io.EOF
	})
	p := &stream.Pipeline{Source: src, Logger: quiet}
	done := make(chan error)
	go func() { done <- p.Run(context.Background()) }()
	<-reading
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrAlreadyRun, "while running")
	close(release)
	require.NoError(t, <-done)
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrAlreadyRun, "after it ended")
}

func TestModelPredictRejectsTheWrongFeatureCount(t *testing.T) {
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 12, 0)), Trainer: &linearTrainer{},
		MinTrain: 10, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	_, err := p.Model().Predict([]float64{1, 2})
	require.ErrorIs(t, err, stream.ErrFeatureCount)
	assert.Contains(t, err.Error(), "got 2, model takes 3")
}

func TestAModelWithoutPredictorSaysSo(t *testing.T) {
	m := &stream.Model{Schema: testSchema}
	_, err := m.Predict([]float64{1, 2, 3})
	require.ErrorContains(t, err, "no Predictor")
}

// lockedBuffer is an io.Writer safe for the pipeline's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func TestTheFirstModelWaitsForMinTrainLabeledRecords(t *testing.T) {
	tr := &linearTrainer{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(stream.DefaultMinTrain-1, 13, 0)),
		Trainer: tr, NoFinalTrain: true, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.Zero(t, tr.Calls(), "default MinTrain is %d", stream.DefaultMinTrain)
	assert.Nil(t, p.Model())
}

func TestAnInitialModelScoresUntilTheFirstRetrain(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	initial := &stream.Model{Schema: testSchema, Predictor: seven, Version: 41}
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(100, 14, 0)), InitialModel: initial,
		Trainer: &linearTrainer{}, Sink: sink, MinTrain: 50, BatchSize: 10, NoFinalTrain: true, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	got := sink.Records()
	require.Len(t, got, 100)
	assert.Equal(t, 7.0, got[0].Prediction)
	assert.EqualValues(t, 41, got[0].ModelVersion)
	assert.EqualValues(t, 42, p.Model().Version, "versions continue from the initial model's")

	wrong := &stream.Model{Schema: stream.Schema{Features: []string{"only"}}, Predictor: seven, Version: 1}
	err := (&stream.Pipeline{Source: streamtest.NewSlice(testSchema, nil), InitialModel: wrong}).Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "InitialModel takes 1 features, the source gives 3")
}

// panickyFreeze is a Fitter whose Freeze panics.
type panickyFreeze struct{ meanScaler }

func (*panickyFreeze) Freeze() stream.Transformer { panic("freeze bug") }

func TestAPanickingFreezeFailsTheRunAtAnyRetrain(t *testing.T) {
	for name, minTrain := range map[string]int{"while running": 10, "at io.EOF": 500} {
		t.Run(name, func(t *testing.T) {
			src := streamtest.NewSlice(testSchema, records(100, 15, 0))
			p := &stream.Pipeline{Source: src, Transformers: []stream.Transformer{&panickyFreeze{}},
				Trainer: &linearTrainer{}, BatchSize: 10, MinTrain: minTrain, Logger: quiet}
			err := p.Run(context.Background())
			require.ErrorIs(t, err, stream.ErrPanic)
			var se *stream.StageError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "transform[0]", se.Stage)
			assert.Nil(t, p.Model())
			require.NoError(t, src.CheckAcks())
		})
	}
}

func TestRunClosesItsStagesAlsoWhenTheSettingsAreInvalid(t *testing.T) {
	// Run promises to close the stages that are io.Closers before it returns;
	// a Pipeline that cannot start cannot be run again, so nobody else would.
	sink, dead := &streamtest.Collector{}, &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, nil), Sink: sink, DeadLetter: dead, BatchSize: -1}
	require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalidConfig)
	assert.Equal(t, 1, sink.Closed())
	assert.Equal(t, 1, dead.Closed())

	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrAlreadyRun)
	assert.Equal(t, 1, sink.Closed(), "a second Run closes nothing again")
}

func TestAPanickingTrainerFailsOnlyThatRetrain(t *testing.T) {
	var logs lockedBuffer
	tr := stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		panic("trainer bug")
	})
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, records(1000, 5, 0)), Trainer: tr, Sink: sink,
		BatchSize: 100, MinTrain: 100, RetrainEvery: 300, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	require.NoError(t, p.Run(context.Background()), "a Trainer's panic is a failed retrain, not a failed run")
	st := p.Stats()
	assert.GreaterOrEqual(t, st.RetrainsFailed, uint64(1), "the retrain at io.EOF at least")
	assert.Zero(t, st.Retrains)
	assert.EqualValues(t, 1000, st.Written)
	assert.Nil(t, p.Model())
	assert.Contains(t, logs.String(), "trainer bug")
}

func TestAFitterLearnsWhatTheTransformersBeforeItMake(t *testing.T) {
	// A derived feature (feature 0 times ten, and a fourth feature: 0 plus 1)
	// ahead of a Fitter: the Fitter must learn the derived features, which
	// are what it is applied to in every model, not the raw ones.
	derive := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for i := range b.Records {
			f := b.Records[i].Features
			f[0] *= 10
			b.Records[i].Features = append(f, f[0]+f[1])
		}
		return nil
	})
	scaler := &meanScaler{}
	var mu sync.Mutex
	var colMeans []float64
	tr := stream.TrainFunc(func(_ context.Context, _ stream.Schema, X [][]float64, _ []float64) (stream.Predictor, error) {
		mu.Lock()
		defer mu.Unlock()
		colMeans = make([]float64, len(X[0]))
		for _, x := range X {
			for j, v := range x {
				colMeans[j] += v / float64(len(X))
			}
		}
		return stream.PredictFunc(func([]float64) (float64, error) { return 0, nil }), nil
	})
	recs := records(1000, 3, 0)
	sink := &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Transformers: []stream.Transformer{derive, scaler},
		Trainer: tr, Sink: sink, BatchSize: 100, Window: 1000, MinTrain: 1000, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))

	raw := 0.0
	for _, r := range recs {
		raw += r.Features[0] / float64(len(recs))
	}
	means := scaler.Freeze().(frozenMeans)
	require.Len(t, means, 4, "the Fitter saw the derived feature")
	assert.InDelta(t, 10*raw, means[0], 1e-9*raw)
	require.Len(t, colMeans, 4)
	for j, m := range colMeans {
		assert.InDeltaf(t, 0, m, 1e-9, "feature %d is centred on what the Fitter learned", j)
	}
	got := sink.Records()
	require.Len(t, got, len(recs))
	assert.Equal(t, recs[0].Features, got[0].Record.Features, "the Sink gets the raw record")
}

// A file is read far faster than a model trains: without WaitForModel its
// records are nearly all written before the first model comes. With it,
// reading stops at MinTrain labeled records until the first retrain ends,
// and every record after them is scored.
func TestWaitForModelScoresAFastSource(t *testing.T) {
	recs := records(3000, 4, 0)
	p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: &linearTrainer{},
		WaitForModel: true, MinTrain: 500, BatchSize: 100, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.EqualValues(t, 2500, p.Stats().Scored, "all but the first 500")

	// A failed first retrain lets reading go on: the next may succeed.
	tr := &linearTrainer{fail: map[int]bool{1: true}}
	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: tr,
		WaitForModel: true, MinTrain: 500, RetrainEvery: 1000, BatchSize: 100, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	assert.GreaterOrEqual(t, tr.Calls(), 2)
	assert.NotNil(t, p.Model())

	// Cancelling while reading waits returns at once.
	slow := &linearTrainer{block: make(chan struct{}), started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	p = &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: slow,
		WaitForModel: true, MinTrain: 500, BatchSize: 100, Logger: quiet}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-slow.started
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Less(t, p.Stats().Read, uint64(3000), "reading stopped while the first model trained")

	err := (&stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), WaitForModel: true}).Run(context.Background())
	assert.ErrorIs(t, err, stream.ErrInvalidConfig, "no Trainer, no model to wait for")
}

// The batch that crosses MinTrain is read only up to it, so that every
// record after the first MinTrain labeled ones is scored whatever the
// BatchSize; and OnModel, which runs once the model serves, does not hold
// reading back.
func TestWaitForModelScoresEveryRecordAfterMinTrain(t *testing.T) {
	recs := records(3000, 4, 3) // a third unlabeled
	for _, batch := range []int{100, 256, 1000} {
		p := &stream.Pipeline{Source: streamtest.NewSlice(testSchema, recs), Trainer: &linearTrainer{},
			WaitForModel: true, MinTrain: 500, BatchSize: batch, Logger: quiet}
		require.NoError(t, p.Run(context.Background()))
		labeled := 0
		first := 0
		for i, r := range recs {
			if r.Labeled() {
				labeled++
			}
			if labeled == 500 {
				first = i + 1
				break
			}
		}
		assert.EqualValues(t, len(recs)-first, p.Stats().Scored, "BatchSize %d: all after the record that made 500 labeled", batch)
	}

	src := streamtest.NewSlice(testSchema, recs)
	readOn := make(chan struct{})
	var once sync.Once
	src.BeforeRead = func(_ context.Context, offset int) error {
		if offset > 500 {
			once.Do(func() { close(readOn) })
		}
		return nil
	}
	held := false
	p := &stream.Pipeline{Source: src, Trainer: &linearTrainer{}, WaitForModel: true, MinTrain: 100, BatchSize: 50, Logger: quiet,
		OnModel: func(m *stream.Model) {
			if m.Version == 1 {
				select {
				case <-readOn:
				case <-time.After(30 * time.Second): // a watchdog, not a wait: reading never resumed
					held = true
				}
			}
		}}
	require.NoError(t, p.Run(context.Background()))
	assert.False(t, held, "reading stayed held while OnModel ran")
}

// With a model from the start there is nothing to wait for: batches are
// read whole.
func TestWaitForModelWithAnInitialModelReadsWholeBatches(t *testing.T) {
	seven := stream.PredictFunc(func([]float64) (float64, error) { return 7, nil })
	src := streamtest.NewSlice(testSchema, records(2000, 4, 0))
	p := &stream.Pipeline{Source: src, Trainer: &linearTrainer{}, WaitForModel: true, MinTrain: 500, BatchSize: 100, Logger: quiet,
		InitialModel: &stream.Model{Schema: testSchema, Predictor: seven, Version: 1}}
	require.NoError(t, p.Run(context.Background()))
	assert.EqualValues(t, 2000, p.Stats().Scored)
	assert.EqualValues(t, 20, p.Stats().Batches)
}
