package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of a Pipeline.
const (
	DefaultBatchSize      = 256
	DefaultBuffer         = 4
	DefaultWindow         = 10_000
	DefaultMinTrain       = 500
	DefaultRetrainEvery   = 2_000
	DefaultAccuracyWindow = 1_000
)

// BadRecordPolicy says what a Pipeline does with a record it cannot use: one
// with the wrong number of features, a NaN or infinite feature, an infinite
// target, or a target the Trainer refuses (see TargetChecker).
type BadRecordPolicy int

const (
	// DropBad drops the record and counts it under its reason in Stats.
	DropBad BadRecordPolicy = iota
	// DeadLetterBad counts the record and writes it to the Pipeline's
	// DeadLetter sink, with the reason in its Attrs under AttrRejectReason
	// and what was wrong under AttrRejectDetail.
	DeadLetterBad
	// FailOnBad stops the run with a *RecordError naming the record.
	FailOnBad
)

// The attributes under which a record sent to the dead-letter sink carries
// the reason it was rejected ("nan_feature") and what was wrong ("feature
// 2 is NaN"), as a RecordError gives them.
const (
	AttrRejectReason = "reject_reason"
	AttrRejectDetail = "reject_detail"
)

// Pipeline runs a stream: a Source feeds batches through the Transformers,
// every record is scored by the current Model and handed to the Sink, and in
// the background the Trainer keeps fitting new models on a window of the
// labeled records.
//
// The zero value of each field means its documented default. Set the fields,
// then call Run once; Model and Stats may be called at any time, from any
// goroutine. A Pipeline must not be copied after Run is called.
//
// Each record is scored before it is learned from (test-then-train), so the
// live accuracy in Stats measures the model on records it has not seen.
type Pipeline struct {
	// Source produces the records. Required.
	Source Source
	// Transformers preprocess the features, in order. A Fitter among them
	// learns from every valid record as the Transformers before it leave
	// it; a model is trained and served with the frozen state of the
	// moment it was trained. Records reach the Sink with their raw
	// features. A Transformer's error or panic stops the run when it comes
	// from a live batch (feeding a Fitter after it, or scored by a model);
	// while a retrain prepares the window, it fails that retrain only, as
	// the Trainer's own error does.
	Transformers []Transformer
	// Trainer fits models on the window. Nil: no retraining; records are
	// scored by InitialModel, or get NaN predictions without one. A Train
	// call that returns an error or panics fails that retrain only: the
	// previous model stays, the failure is logged, counted in
	// Stats().RetrainsFailed and kept in Stats().RetrainError. A Trainer
	// that is a Validator has its settings checked when Run starts; one
	// that is a TargetChecker has each labeled target checked as it
	// arrives.
	Trainer Trainer
	// InitialModel, if set, scores records until the first retrain: a model
	// saved by an earlier run, say. Its features must be the Source's, by
	// name and in order, and its target the Source's when both name one.
	// Its Version must be at least 1, since 0 marks a batch scored by no
	// model, and below math.MaxUint64; versions continue from it. It also
	// raises MinTrain's default.
	InitialModel *Model
	// Sink receives every scored batch. Nil: batches are discarded.
	Sink Sink

	// BadRecords is the policy for records that cannot be used; DropBad by default.
	BadRecords BadRecordPolicy
	// DeadLetter receives rejected records under DeadLetterBad.
	DeadLetter Sink

	// BatchSize is the most records asked of the Source per Read; default 256.
	BatchSize int
	// Buffer is how many batches may wait between two stages; default 4.
	Buffer int
	// Window is how many of the newest labeled records a model is trained on;
	// default 10,000. Its memory grows with the records up to Window, so a
	// Window longer than the stream trains on all of it at the cost of what
	// the stream holds.
	Window int
	// MinTrain is how many labeled records must arrive before the first model
	// is trained while the stream runs; default 500, or with an
	// InitialModel its TrainedOn if more, so that a restarted service does
	// not swap the model it saved for one trained on fewer records; never
	// more than Window. The retrain at io.EOF (see NoFinalTrain) does not
	// wait for it while there is no model, so a short stream still ends
	// with a model trained on what it had.
	MinTrain int
	// RetrainEvery is how many new labeled records make a retrain due;
	// default 2,000.
	RetrainEvery int
	// RetrainInterval also makes a retrain due once this much time has passed
	// since the last one and new labeled records have arrived; 0 turns the
	// time cadence off. It is checked as each batch arrives and when the
	// interval runs out, so a retrain due by time starts with the first
	// batch after it, or as it runs out.
	RetrainInterval time.Duration
	// WaitForModel holds the Source back, once MinTrain labeled records
	// have been read and while there is no model, until the first retrain
	// has ended, so that a stream read faster than a model trains (a file,
	// say) has the rest of its records scored; otherwise nearly all of it
	// may reach the Sink before the first model does. Reading resumes
	// after a failed retrain too, since the next needs new records. It
	// needs a Trainer.
	WaitForModel bool
	// NoFinalTrain skips the retrain that otherwise runs when the Source
	// ends with io.EOF, so that the final model has seen every record. A
	// retrain that fell due while the one before it ran still runs.
	NoFinalTrain bool
	// AccuracyWindow is how many of the newest scored, labeled records the
	// live accuracy in Stats is measured over; default 1,000.
	AccuracyWindow int
	// Logger receives retrain reports and failures; default slog.Default().
	Logger *slog.Logger
	// OnModel, if set, is called with each new model right after it is
	// swapped in, from the trainer goroutine: a place to save or publish
	// models. The next retrain waits for it to return. A panic in it
	// stops the run; it has no error to return, so one it cannot handle
	// is its own to log.
	OnModel func(*Model)

	started atomic.Bool
	model   atomic.Pointer[Model]
	stats   counters
	clock   func() time.Time // time.Now unless a test sets it
}

// now is the time by the Pipeline's clock.
func (p *Pipeline) now() time.Time {
	if p.clock != nil {
		return p.clock()
	}
	return time.Now()
}

// Model returns the newest model: InitialModel until the first retrain, or
// nil before the first has been trained without one. The pipeline scores
// with the same Model, so treat it as read-only.
func (p *Pipeline) Model() *Model {
	// Before Run starts, so that a service starting Run in a goroutine can
	// serve its saved model at once; once Run has started, only if Run
	// accepted it.
	if !p.started.Load() {
		return p.InitialModel
	}
	return p.model.Load()
}

// config is a Pipeline's settings with the defaults filled in.
type config struct {
	batchSize, buffer, window, minTrain, retrainEvery, accuracyWindow int
	logger                                                            *slog.Logger
	schema                                                            Schema
	targets                                                           TargetChecker // the Trainer's, or nil
}

func (p *Pipeline) config() (config, error) {
	c := config{
		batchSize: p.BatchSize, buffer: p.Buffer, window: p.Window, minTrain: p.MinTrain,
		retrainEvery: p.RetrainEvery, accuracyWindow: p.AccuracyWindow, logger: p.Logger,
	}
	if p.Source == nil {
		return c, ErrNoSource
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"BatchSize", &c.batchSize, DefaultBatchSize},
		{"Buffer", &c.buffer, DefaultBuffer},
		{"Window", &c.window, DefaultWindow},
		{"MinTrain", &c.minTrain, -1}, // depends on Window: set below
		{"RetrainEvery", &c.retrainEvery, DefaultRetrainEvery},
		{"AccuracyWindow", &c.accuracyWindow, DefaultAccuracyWindow},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("%w: %s is %d; it must be 0 (default) or more", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.minTrain == -1 {
		c.minTrain = DefaultMinTrain
		if m := p.InitialModel; m != nil {
			c.minTrain = max(c.minTrain, m.TrainedOn)
		}
		c.minTrain = min(c.minTrain, c.window)
	}
	if c.minTrain > c.window {
		return c, fmt.Errorf("%w: MinTrain %d is more than Window %d", ErrInvalidConfig, c.minTrain, c.window)
	}
	if p.WaitForModel && p.Trainer == nil {
		return c, fmt.Errorf("%w: WaitForModel without a Trainer would wait for ever", ErrInvalidConfig)
	}
	if p.RetrainInterval < 0 {
		return c, fmt.Errorf("%w: RetrainInterval is %v; it must be 0 (off) or more", ErrInvalidConfig, p.RetrainInterval)
	}
	switch p.BadRecords {
	case DropBad, FailOnBad:
	case DeadLetterBad:
		if p.DeadLetter == nil {
			return c, fmt.Errorf("%w: BadRecords is DeadLetterBad but DeadLetter is nil", ErrInvalidConfig)
		}
	default:
		return c, fmt.Errorf("%w: BadRecords is %d, not a BadRecordPolicy", ErrInvalidConfig, int(p.BadRecords))
	}
	for i, t := range p.Transformers {
		if t == nil {
			return c, fmt.Errorf("%w: Transformers[%d] is nil", ErrInvalidConfig, i)
		}
	}
	c.targets, _ = p.Trainer.(TargetChecker)
	if v, ok := p.Trainer.(Validator); ok {
		if err := guard("trainer", v.Validate); err != nil {
			// Name the setting once: not "Trainer: stream: trainer: …".
			var se *StageError
			if errors.As(err, &se) && !errors.Is(err, ErrPanic) {
				err = se.Err
			}
			return c, fmt.Errorf("%w: Trainer: %w", ErrInvalidConfig, err)
		}
	}
	// The Source is the user's code and may panic, or be a nil pointer in
	// an interface; Run returns errors, not panics.
	if err := guard("source schema", func() error { c.schema = p.Source.Schema(); return nil }); err != nil {
		return c, err
	}
	if err := c.schema.Validate(); err != nil {
		return c, fmt.Errorf("stream: source schema: %w", err)
	}
	if m := p.InitialModel; m != nil {
		switch {
		case m.Predictor == nil:
			return c, fmt.Errorf("%w: InitialModel has no Predictor", ErrInvalidConfig)
		case m.Version == 0:
			return c, fmt.Errorf("%w: InitialModel has Version 0, which marks no model; number models from 1", ErrInvalidConfig)
		case m.Version == math.MaxUint64:
			return c, fmt.Errorf("%w: InitialModel has Version %d, which leaves none for the next model", ErrInvalidConfig, m.Version)
		}
		if got, want := m.Schema.NumFeatures(), c.schema.NumFeatures(); got != want {
			return c, fmt.Errorf("%w: InitialModel takes %d features, the source gives %d", ErrInvalidConfig, got, want)
		}
		// A reordered or renamed column would be scored as another feature
		// without any other sign.
		for i, name := range m.Schema.Features {
			if name != c.schema.Features[i] {
				return c, fmt.Errorf("%w: InitialModel's feature %d is %q, the source's is %q", ErrInvalidConfig, i, name, c.schema.Features[i])
			}
		}
		if m.Schema.Target != "" && c.schema.Target != "" && m.Schema.Target != c.schema.Target {
			return c, fmt.Errorf("%w: InitialModel predicts %q, the source's target is %q", ErrInvalidConfig, m.Schema.Target, c.schema.Target)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// item is one batch on its way through the stages.
type item struct {
	batch    Batch
	ack      AckFunc
	rejected []Record // under DeadLetterBad, with the reason in Attrs
	scored   ScoredBatch
}

// run is the state of one Run.
type run struct {
	p   *Pipeline
	cfg config

	// readCtx stops the source and the trainer: cancelled by the caller's
	// context, by the Source's error or by a failure.
	readCtx context.Context
	// drainCtx is given to the stages after the source, so that batches
	// already read still reach the Sink after the caller cancels; only a
	// failure cancels it.
	drainCtx   context.Context
	cancelRead func()
	cancel     func() // both contexts

	// err is the failure that stopped the run; it is set once, before
	// failed, and read only once failed is seen or the stages have ended.
	errOnce sync.Once
	err     error
	failed  atomic.Bool
	// srcErr is the Source's error, which stops reading but not the run;
	// written by the reading goroutine, read once the stages have ended.
	srcErr error
	// firstRetrain is closed when the first retrain has ended, whether
	// it made a model or not: the reader waits for it under WaitForModel.
	firstRetrain chan struct{}
}

// fail records the first error that stops the run and stops every stage:
// from then on each acknowledges what it holds with the error.
func (r *run) fail(err error) {
	r.errOnce.Do(func() {
		r.err = err
		r.failed.Store(true)
		r.cancel()
	})
}

// stopReading records the Source's error and stops reading and training as
// a cancellation does: the batches already read still go through to the
// Sink, and Run returns the error at the end, with any failure of the
// drain.
func (r *run) stopReading(err error) {
	r.srcErr = err
	r.cancelRead()
}

// Run runs the pipeline until the Source returns io.EOF, ctx is cancelled, or
// a stage fails, and returns once every goroutine it started has ended.
//
// After io.EOF or cancellation every batch already read is scored and written
// to the Sink before Run returns; Run returns nil after io.EOF and ctx.Err()
// after cancellation, as it is, so that err == ctx.Err() tells a clean stop
// from one with failures. A Source's error or panic stops reading the same
// way: the batches read before it, and those Read returned with it, are
// still scored and written, and Run then returns it as a *StageError
// (joined after any failure of that drain). Any other stage's error or
// panic stops the run at once and is returned as a *StageError naming the
// stage, except within a retrain (the Trainer, or a Transformer applied to
// the window), which fails only that retrain; every batch
// read is then acknowledged with that error. Run closes the Source, Sink
// and DeadLetter that implement io.Closer before it returns; an error from
// Close is joined to the one Run returns.
//
// The stages after the Source are given a context that ctx's cancellation
// does not reach, so that they can finish the batches in flight; a Sink
// that never returns keeps Run from returning. Training in progress is
// abandoned on cancellation.
//
// Run may be called once per Pipeline; a second call returns ErrAlreadyRun.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	if !p.started.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	cfg, err := p.config()
	if err != nil {
		// The caller handed the stages over to Run, and this Pipeline can
		// never run again, so they are closed here as on any other return.
		return join(err, p.closeStages())
	}
	p.stats.init(cfg.accuracyWindow)
	if m := p.InitialModel; m != nil {
		p.model.Store(m)
		p.stats.setModel(m)
	}

	readCtx, cancelRead := context.WithCancel(ctx)
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	r := &run{p: p, cfg: cfg, readCtx: readCtx, drainCtx: drainCtx, cancelRead: cancelRead, firstRetrain: make(chan struct{})}
	r.cancel = func() { cancelRead(); cancelDrain() }
	defer r.cancel()

	scoreIn := make(chan *item, cfg.buffer)
	learnIn := make(chan *item, cfg.buffer)
	writeIn := make(chan *item, cfg.buffer)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); r.read(scoreIn) }()
	go func() { defer wg.Done(); r.score(scoreIn, learnIn) }()
	go func() { defer wg.Done(); r.learn(learnIn, writeIn) }()
	go func() { defer wg.Done(); r.write(writeIn) }()
	wg.Wait()

	err = join(r.err, r.srcErr)
	if err == nil {
		err = ctx.Err()
	}
	return join(err, p.closeStages())
}

// join is errors.Join for two errors, but gives back a lone error as it is,
// so that callers comparing it with == still can.
func join(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return errors.Join(a, b)
}

func (p *Pipeline) closeStages() error {
	var errs []error
	for _, s := range []struct {
		name  string
		stage any
	}{{"source", p.Source}, {"sink", p.Sink}, {"dead-letter", p.DeadLetter}} {
		if c, ok := s.stage.(io.Closer); ok {
			if err := guard(s.name+" close", c.Close); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// guard calls f and turns a panic into an error, so a user's stage cannot
// crash the service that embeds the pipeline. Any error comes back as a
// *StageError naming the stage.
func guard(stage string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &StageError{Stage: stage, Err: &PanicError{Value: v, Stack: debug.Stack()}}
		}
	}()
	if err := f(); err != nil {
		var se *StageError
		if errors.As(err, &se) && se.Stage == stage {
			return err
		}
		return &StageError{Stage: stage, Err: err}
	}
	return nil
}

// read is the source stage: it reads batches, sets bad records aside under
// the policy, and passes the rest on.
func (r *run) read(out chan<- *item) {
	defer close(out)
	var offset uint64
	labeled, waited := 0, !r.p.WaitForModel
	for !r.failed.Load() && r.readCtx.Err() == nil {
		if !waited && r.p.model.Load() != nil {
			waited = true // an InitialModel: nothing to wait for
		}
		if !waited && labeled >= r.cfg.minTrain {
			// The learning stage starts the first retrain once these
			// records reach it; nothing it does waits for the reader.
			select {
			case <-r.firstRetrain:
			case <-r.readCtx.Done():
				return
			}
			waited = true
		}
		size := r.cfg.batchSize
		if !waited {
			// Read no further than MinTrain labeled records, so that the
			// rest of a batch is not let through unscored.
			size = min(size, r.cfg.minTrain-labeled)
		}
		var (
			b    Batch
			ack  AckFunc
			rerr error
		)
		if err := guard("source", func() error {
			b, ack, rerr = r.p.Source.Read(r.readCtx, size)
			return nil
		}); err != nil {
			r.stopReading(err)
			return
		}
		if b.Len() > 0 {
			it := &item{batch: b, ack: ack}
			// screen runs the Trainer's CheckTarget, which may panic.
			if err := guard("validate", func() error { return r.screen(it, &offset) }); err != nil {
				r.fail(err)
				r.ackWith(it, err)
			} else {
				for i := range it.batch.Records {
					if it.batch.Records[i].Labeled() {
						labeled++
					}
				}
				out <- it
			}
		} else if ack != nil {
			r.ackWith(&item{ack: ack}, nil)
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return
		case r.readCtx.Err() != nil && errors.Is(rerr, r.readCtx.Err()):
			return // cancelled: not a failure
		default:
			r.stopReading(&StageError{Stage: "source", Err: rerr})
			return
		}
	}
}

// screen counts a fresh batch and applies the bad-record policy to it.
func (r *run) screen(it *item, offset *uint64) error {
	st := &r.p.stats
	st.batches.Add(1)
	st.read.Add(uint64(it.batch.Len()))
	d := r.cfg.schema.NumFeatures()
	var good []Record // nil until the first bad record: the common batch is not copied
	for i := range it.batch.Records {
		rec := &it.batch.Records[i]
		reason, detail := check(rec, d, r.cfg.targets)
		off := *offset
		*offset++
		if reason == "" {
			if good != nil {
				good = append(good, *rec)
			}
			continue
		}
		if good == nil {
			good = append(make([]Record, 0, len(it.batch.Records)), it.batch.Records[:i]...)
		}
		recErr := &RecordError{Offset: off, Key: rec.Key, Reason: reason, Detail: detail}
		st.reject(reason)
		switch r.p.BadRecords {
		case FailOnBad:
			return &StageError{Stage: "validate", Err: recErr}
		case DeadLetterBad:
			dead := *rec
			dead.Attrs = make(map[string]string, len(rec.Attrs)+2)
			for k, v := range rec.Attrs {
				dead.Attrs[k] = v
			}
			dead.Attrs[AttrRejectReason] = string(reason)
			dead.Attrs[AttrRejectDetail] = detail
			it.rejected = append(it.rejected, dead)
		}
	}
	if good != nil {
		it.batch.Records = good
	}
	return nil
}

// check says why a record cannot be used, or returns an empty reason.
// targets, if not nil, checks a labeled record's target.
func check(rec *Record, numFeatures int, targets TargetChecker) (RejectReason, string) {
	if len(rec.Features) != numFeatures {
		return RejectFeatureCount, fmt.Sprintf("%d features, schema has %d", len(rec.Features), numFeatures)
	}
	for j, v := range rec.Features {
		if math.IsNaN(v) {
			return RejectNaNFeature, fmt.Sprintf("feature %d is NaN", j)
		}
		if math.IsInf(v, 0) {
			return RejectInfFeature, fmt.Sprintf("feature %d is %v", j, v)
		}
	}
	if math.IsInf(rec.Target, 0) {
		return RejectBadTarget, fmt.Sprintf("target is %v", rec.Target)
	}
	if targets != nil && !math.IsNaN(rec.Target) {
		if err := targets.CheckTarget(rec.Target); err != nil {
			return RejectBadTarget, err.Error()
		}
	}
	return "", ""
}

// ackWith acknowledges a batch once; a failing ack stops the run.
func (r *run) ackWith(it *item, err error) {
	if it.ack == nil {
		return
	}
	ack := it.ack
	it.ack = nil
	if aerr := guard("source ack", func() error { return ack(r.drainCtx, err) }); aerr != nil && err == nil {
		r.fail(aerr)
	}
}

// score is the scoring stage: each batch is scored by the model current when
// it arrives, before any of it is learned from.
func (r *run) score(in <-chan *item, out chan<- *item) {
	defer close(out)
	var s scratch
	for it := range in {
		if r.failed.Load() {
			r.ackWith(it, r.err)
			continue
		}
		if err := guard("predict", func() error { return r.scoreBatch(it, &s) }); err != nil {
			r.fail(err)
			r.ackWith(it, err)
			continue
		}
		out <- it
	}
}

func (r *run) scoreBatch(it *item, s *scratch) error {
	b := it.batch
	preds := make([]float64, b.Len())
	m := r.p.model.Load()
	it.scored = ScoredBatch{Records: b.Records, Predictions: preds}
	if m == nil {
		for i := range preds {
			preds[i] = math.NaN()
		}
		return nil
	}
	if err := m.predictBatch(r.drainCtx, b, preds, s); err != nil {
		return err
	}
	it.scored.ModelVersion = m.Version
	r.p.stats.scored.Add(uint64(b.Len()))
	r.p.stats.observe(b.Records, preds)
	return nil
}

// write is the sink stage: it writes each batch, then acknowledges it.
func (r *run) write(in <-chan *item) {
	st := &r.p.stats
	for it := range in {
		if r.failed.Load() {
			r.ackWith(it, r.err)
			continue
		}
		if len(it.rejected) > 0 {
			dead := ScoredBatch{Records: it.rejected, Predictions: nanSlice(len(it.rejected))}
			if err := guard("dead-letter", func() error { return r.p.DeadLetter.Write(r.drainCtx, dead) }); err != nil {
				r.fail(err)
				r.ackWith(it, err)
				continue
			}
		}
		if r.p.Sink != nil && it.scored.Len() > 0 {
			if err := guard("sink", func() error { return r.p.Sink.Write(r.drainCtx, it.scored) }); err != nil {
				r.fail(err)
				r.ackWith(it, err)
				continue
			}
		}
		st.written.Add(uint64(it.scored.Len()))
		r.ackWith(it, nil)
	}
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}
