package stream

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// window keeps the newest labeled records in a ring, features in one flat
// array, so its memory is bounded by its capacity whatever the length of
// the stream. The ring grows as records arrive, doubling up to exactly the
// capacity: a large Window ("train on everything") costs only what the
// stream fills.
type window struct {
	dim         int
	capacity    int
	maxFeatures int // capacity*dim, or math.MaxInt where that overflows
	features    []float64
	targets     []float64
	// next is the oldest record, where the next one goes once the ring is
	// full; while it grows, the oldest is first and next stays 0.
	next int
}

// grown returns s with room for n more values, doubling as append does but
// never making room for more than limit: append could leave a quarter more
// than a ring's capacity allocated for as long as the ring lives.
func grown(s []float64, n, limit int) []float64 {
	if len(s)+n <= cap(s) {
		return s
	}
	return append(make([]float64, 0, min(limit, max(len(s)+n, 2*cap(s), 1024))), s...)
}

func newWindow(capacity, dim int) *window {
	w := &window{dim: dim, capacity: capacity, maxFeatures: math.MaxInt}
	if dim == 0 || capacity <= math.MaxInt/dim {
		w.maxFeatures = capacity * dim
	}
	return w
}

func (w *window) add(r Record) {
	if len(w.targets) < w.capacity {
		w.features = append(grown(w.features, w.dim, w.maxFeatures), r.Features...)
		w.targets = append(grown(w.targets, 1, w.capacity), r.Target)
		return
	}
	copy(w.features[w.next*w.dim:(w.next+1)*w.dim], r.Features)
	w.targets[w.next] = r.Target
	w.next = (w.next + 1) % len(w.targets)
}

// snapshot copies the window's features and targets, oldest first.
func (w *window) snapshot() windowCopy {
	c := windowCopy{dim: w.dim, features: make([]float64, 0, len(w.features)), targets: make([]float64, 0, len(w.targets))}
	c.features = append(append(c.features, w.features[w.next*w.dim:]...), w.features[:w.next*w.dim]...)
	c.targets = append(append(c.targets, w.targets[w.next:]...), w.targets[:w.next]...)
	return c
}

// windowCopy is a window's content, owned by one retrain. It is two flat
// arrays so that taking it costs the learning stage two copies; the records
// the transformers need are made by the trainer goroutine.
type windowCopy struct {
	dim      int
	features []float64
	targets  []float64
}

// batch returns the copy as records whose features point into it.
func (c windowCopy) batch() Batch {
	recs := make([]Record, len(c.targets))
	for i := range recs {
		recs[i] = Record{Features: c.features[i*c.dim : (i+1)*c.dim : (i+1)*c.dim], Target: c.targets[i]}
	}
	return Batch{Records: recs}
}

// trainJob is one retrain: a copy of the window and the frozen preprocessing.
type trainJob struct {
	rows   windowCopy
	frozen []Transformer
}

// copyFeatures returns b with its records' features copied into buffers
// the learner reuses from batch to batch.
func (l *learner) copyFeatures(b Batch) Batch {
	n := 0
	for _, rec := range b.Records {
		n += len(rec.Features)
	}
	l.flat = append(l.flat[:0], make([]float64, n)...)
	l.recs = append(l.recs[:0], b.Records...)
	off := 0
	for i, rec := range l.recs {
		f := l.flat[off : off+len(rec.Features) : off+len(rec.Features)]
		copy(f, rec.Features)
		l.recs[i].Features = f
		off += len(f)
	}
	c := b
	c.Records = l.recs
	return c
}

// learner is the state the learning stage keeps between batches.
type learner struct {
	win          *window
	labeled      int // labeled records since the start
	sinceRequest int // labeled records since the last retrain was started
	requested    bool
	training     bool
	dues         int // retrains that fell due while one was running
	lastRequest  time.Time
	// stages names the Transformers up to the last Fitter, which are all
	// learnBatch runs.
	stages []string
	// copyFeatures' buffers
	recs []Record
	flat []float64
}

// learn is the learning stage: Fitters learn from each batch, labeled records
// enter the window, and retrains are started in the background when due.
// Batches go on to the Sink without waiting for any training.
func (r *run) learn(in <-chan *item, out chan<- *item) {
	jobs := make(chan trainJob)
	done := make(chan struct{})
	trainerDone := make(chan struct{})
	go func() {
		defer close(trainerDone)
		r.train(jobs, done)
	}()
	l := &learner{win: newWindow(r.cfg.window, r.cfg.schema.NumFeatures()), lastRequest: r.p.now()}
	for i, t := range r.p.Transformers {
		if _, ok := t.(Fitter); ok {
			for len(l.stages) <= i {
				l.stages = append(l.stages, fmt.Sprintf("transform[%d]", len(l.stages)))
			}
		}
	}

	// The time cadence is checked as each batch arrives, and by a timer set
	// for when the interval since the last retrain runs out: a ticker of
	// that period, out of step with the retrains, could let one come up to
	// twice the interval after the last.
	interval := r.p.RetrainInterval
	if r.p.Trainer == nil {
		interval = 0
	}
	dueByTime := func() bool { return interval > 0 && r.p.now().Sub(l.lastRequest) >= interval }
	var tick <-chan time.Time
	var timer *time.Timer
	if interval > 0 {
		timer = time.NewTimer(interval)
		defer timer.Stop()
		tick = timer.C
	}
	eof := false
loop:
	for {
		select {
		case it, ok := <-in:
			if !ok {
				eof = true
				break loop
			}
			if r.failed.Load() {
				r.ackWith(it, r.err)
				continue
			}
			if err := r.learnBatch(l, it.batch); err != nil {
				r.fail(err)
				r.ackWith(it, err)
				continue
			}
			out <- it
			r.maybeRetrain(l, jobs, dueByTime())
		case <-done:
			l.training = false
			if l.dues > 0 {
				r.maybeRetrain(l, jobs, true)
			}
		case <-tick:
			r.maybeRetrain(l, jobs, dueByTime())
			// Until the interval since the last retrain runs out, or, with
			// nothing to learn yet, a whole interval: batches that arrive
			// meanwhile are checked as they come.
			left := interval - r.p.now().Sub(l.lastRequest)
			if left <= 0 {
				left = interval
			}
			timer.Reset(left)
		}
	}
	close(out)
	if l.training {
		<-done
		l.training = false
	}
	// A retrain that fell due while the last one ran still runs, whatever
	// NoFinalTrain says: it was counted as folded into the next one.
	finalDue := l.dues > 0 || !r.p.NoFinalTrain && l.sinceRequest > 0
	// Ignoring MinTrain here gives a short stream a model; a model given
	// as InitialModel is kept over one trained on fewer records.
	worthIt := r.p.model.Load() == nil || l.labeled >= r.cfg.minTrain
	if eof && finalDue && worthIt && r.p.Trainer != nil && r.readCtx.Err() == nil {
		if r.startRetrain(l, jobs) {
			<-done
		}
	}
	close(jobs)
	<-trainerDone
}

// learnBatch lets the Fitters learn from b and adds its labeled records to
// the window. Each Fitter learns from the batch as the Transformers before
// it leave it, since that is what it is applied to when a model is trained
// and served; those Transformers work on a copy, so that b, which goes on
// to the Sink and into the window, stays raw.
func (r *run) learnBatch(l *learner, b Batch) error {
	last := len(l.stages) - 1 // the last Fitter
	work := b
	for i, t := range r.p.Transformers[:last+1] {
		stage := l.stages[i]
		if f, ok := t.(Fitter); ok {
			if err := guard(stage, func() error { return f.Fit(r.drainCtx, work) }); err != nil {
				return err
			}
		}
		if i < last {
			if i == 0 {
				work = l.copyFeatures(b)
			}
			if err := guard(stage, func() error { return t.Transform(r.drainCtx, &work) }); err != nil {
				return err
			}
		}
	}
	n := 0
	for _, rec := range b.Records {
		if rec.Labeled() {
			l.win.add(rec)
			n++
		}
	}
	l.labeled += n
	l.sinceRequest += n
	r.p.stats.learned.Add(uint64(n))
	return nil
}

// maybeRetrain starts a retrain if one is due (or force is set and there is
// something new to learn), or notes it for later if one is running.
func (r *run) maybeRetrain(l *learner, jobs chan<- trainJob, force bool) {
	if r.p.Trainer == nil || l.labeled < r.cfg.minTrain || l.sinceRequest == 0 {
		return
	}
	if !force && l.requested && l.sinceRequest < r.cfg.retrainEvery {
		return
	}
	if l.training {
		// Every retrain that falls due now is folded into the one that runs
		// when the current training ends.
		dues := l.sinceRequest / r.cfg.retrainEvery
		if force {
			dues = max(dues, 1)
		}
		if dues > l.dues {
			r.p.stats.coalesced.Add(uint64(dues - l.dues))
			l.dues = dues
		}
		return
	}
	r.startRetrain(l, jobs)
}

// startRetrain freezes the transformers and hands a copy of the window to
// the trainer. It reports whether it did: a Fitter whose Freeze panics fails
// the run instead.
func (r *run) startRetrain(l *learner, jobs chan<- trainJob) bool {
	frozen := make([]Transformer, len(r.p.Transformers))
	for i, t := range r.p.Transformers {
		frozen[i] = t
		if f, ok := t.(Fitter); ok {
			if err := guard(fmt.Sprintf("transform[%d]", i), func() error { frozen[i] = f.Freeze(); return nil }); err != nil {
				r.fail(err)
				return false
			}
		}
	}
	l.requested, l.training, l.dues = true, true, 0
	l.sinceRequest = 0
	l.lastRequest = r.p.now()
	jobs <- trainJob{rows: l.win.snapshot(), frozen: frozen}
	return true
}

// train is the trainer goroutine: it runs one job at a time, swaps each new
// model in, and reports on done after every job.
func (r *run) train(jobs <-chan trainJob, done chan<- struct{}) {
	var version uint64
	if m := r.p.InitialModel; m != nil {
		version = m.Version
	}
	first := true
	endFirst := func() { // releases a reader held by WaitForModel
		if first {
			close(r.firstRetrain)
			first = false
		}
	}
	for job := range jobs {
		m, err := r.fitModel(job, version+1)
		st := &r.p.stats
		if err != nil && r.readCtx.Err() != nil {
			// Stopped by cancellation or another stage's failure: not a failed retrain.
		} else if err != nil {
			st.retrainFailed(err)
			attrs := []any{"error", err, "version", version}
			// A retrain's panic is only logged: its stack goes with it.
			if pe := (*PanicError)(nil); errors.As(err, &pe) {
				attrs = append(attrs, "stack", string(pe.Stack))
			}
			r.cfg.logger.Warn("retrain failed; keeping the previous model", attrs...)
		} else {
			version = m.Version
			r.p.model.Store(m)
			endFirst() // the model serves: OnModel need not hold reading back
			st.retrains.Add(1)
			st.setModel(m)
			attrs := []any{"version", m.Version, "records", m.TrainedOn, "duration", m.TrainDuration.Round(time.Millisecond)}
			if m.HeldOut.N > 0 {
				attrs = append(attrs, "heldout_rmse", roundTo(math.Sqrt(m.HeldOut.MSE), 4), "heldout_r2", roundTo(m.HeldOut.R2, 3))
			}
			r.cfg.logger.Info("model trained", attrs...)
			if r.p.OnModel != nil {
				if err := guard("OnModel", func() error { r.p.OnModel(m); return nil }); err != nil {
					r.fail(err)
				}
			}
		}
		endFirst()
		done <- struct{}{}
	}
}

func (r *run) fitModel(job trainJob, version uint64) (*Model, error) {
	start := time.Now()
	ctx := r.readCtx
	y := job.rows.targets
	X := make([][]float64, len(y))
	if len(job.frozen) == 0 {
		for i := range X {
			X[i] = job.rows.features[i*job.rows.dim : (i+1)*job.rows.dim : (i+1)*job.rows.dim]
		}
	} else {
		b := job.rows.batch()
		for i, t := range job.frozen {
			stage := fmt.Sprintf("transform[%d]", i)
			if err := guard(stage, func() error { return t.Transform(ctx, &b) }); err != nil {
				return nil, err
			}
			if b.Len() != len(y) {
				return nil, &StageError{Stage: stage, Err: fmt.Errorf("Transform made %d records of the window's %d", b.Len(), len(y))}
			}
		}
		for i, rec := range b.Records {
			X[i] = rec.Features
		}
	}
	var pred Predictor
	if err := guard("trainer", func() error {
		var err error
		pred, err = r.p.Trainer.Train(ctx, r.cfg.schema, X, y)
		if err == nil && pred == nil {
			err = fmt.Errorf("Train returned no predictor and no error")
		}
		return err
	}); err != nil {
		return nil, err
	}
	m := &Model{
		Schema: r.cfg.schema, Transformers: job.frozen, Predictor: pred, Version: version,
		TrainedAt: time.Now(), TrainedOn: len(y), TrainDuration: time.Since(start),
	}
	if h, ok := pred.(HeldOutReporter); ok {
		if err := guard("trainer", func() error { m.HeldOut = h.HeldOut(); return nil }); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// roundTo rounds v to digits significant digits, to keep log lines short.
func roundTo(v float64, digits int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}
