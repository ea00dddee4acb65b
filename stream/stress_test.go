package stream_test

// Randomized, seeded fault injection for Pipeline.Run.
//
//	go test -race -run UnderRandomFaults -count=1 ./stream
//	STRESS_ITERS=5000 STRESS_SEED=1 go test -race -run UnderRandomFaults -count=1 ./stream
//	STRESS_ONE=1234 go test -race -run UnderRandomFaults -count=1 -v ./stream   # one seed, verbose
//
// A seed fixes the configuration, the records and every fault (which call of
// which stage fails, and how); the interleaving of the goroutines is not
// fixed, so a seed reproduces the scenario, not the schedule.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/forestream/forestream/stream"
)

type stressFault int

const (
	faultNone        stressFault = iota
	faultErr                     // return an error
	faultPanic                   // panic
	faultSlow                    // sleep a little
	faultBlock                   // block until ctx is done
	faultRecsErr                 // source: records together with an error
	faultEmptyAck                // source: no records, but an AckFunc
	faultEOFRecs                 // source: records together with io.EOF
	faultCtxRecs                 // source: cancel the caller's ctx, return records with ctx.Err()
	faultCancel                  // source: cancel the caller's ctx at this read, return normally
	faultNilAck                  // source: records with a nil AckFunc
	faultPredErr                 // trainer: a predictor whose Predict fails
	faultHeldOut                 // trainer: a predictor whose HeldOut panics
	faultAckErr                  // ack: the AckFunc returns an error
	faultAckPanic                // ack: the AckFunc panics
	faultNilPred                 // trainer: returns no predictor and no error
	faultErrEmptyAck             // source: an error with no records but an AckFunc
)

var stressFaultNames = map[stressFault]string{
	faultErr: "error", faultPanic: "panic", faultSlow: "slow", faultBlock: "block-until-ctx-done", faultRecsErr: "records+error",
	faultEmptyAck: "empty-batch+AckFunc", faultEOFRecs: "records+io.EOF", faultCtxRecs: "cancel+records+ctx.Err",
	faultCancel: "cancel", faultNilAck: "nil-AckFunc", faultPredErr: "failing-predictor", faultHeldOut: "HeldOut-panic",
	faultAckErr: "ack-error", faultAckPanic: "ack-panic", faultNilPred: "nil-predictor", faultErrEmptyAck: "error+empty-batch+AckFunc",
}

// stressPlan says which call (from 1) of a stage method gets which fault. The
// map is read-only once built, so concurrent calls may share it.
type stressPlan struct {
	calls atomic.Int64
	at    map[int64]stressFault
}

func (p *stressPlan) next() (int64, stressFault) {
	n := p.calls.Add(1)
	return n, p.at[n]
}

func stressRandPlan(rng *rand.Rand, pAny float64, maxCall int, kinds ...stressFault) *stressPlan {
	p := &stressPlan{at: map[int64]stressFault{}}
	if rng.Float64() >= pAny {
		return p
	}
	for k := 1 + rng.IntN(3); k > 0; k-- {
		p.at[int64(1+rng.IntN(maxCall))] = kinds[rng.IntN(len(kinds))]
	}
	return p
}

// stressStopper is a fired fault that may stop the run: the error or panic
// message it shows and the stage names the run may give it.
type stressStopper struct {
	desc   string
	err    error
	panic  string
	stages []string
	// sure: once fired, it certainly fails the run (it cannot be a
	// retrain's failure).
	sure bool
}

type stressEnv struct {
	seed     uint64
	returned atomic.Bool

	mu         sync.Mutex
	violations []string
	stoppers   []stressStopper
	fired      map[string]int
	sinkKeys   map[int]bool
	deadKeys   map[int]bool
	trainOK    int // Train calls that returned a working predictor
	trainFail  int // Train calls that failed, or whose predictor's HeldOut panics
	tfFail     int // plain transformer faults that fired (each may fail a retrain)
	onModel    int
	sinkScored uint64 // records the Sink accepted from batches scored by a model
	onModelVer []uint64
}

func (e *stressEnv) violate(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.violations = append(e.violations, fmt.Sprintf(format, args...))
}

// called checks no stage is called after Run returned.
func (e *stressEnv) called(what string) {
	if e.returned.Load() {
		e.violate("%s called after Run returned", what)
	}
}

func (e *stressEnv) fire(stage string, f stressFault, s *stressStopper) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fired[stage+":"+stressFaultNames[f]]++
	if s != nil {
		e.stoppers = append(e.stoppers, *s)
	}
}

func stressSleep(n int64) { time.Sleep(time.Duration(50+(n*7919)%1500) * time.Microsecond) }

// ---- source ----

type stressBatch struct {
	id       int
	empty    bool
	lo, hi   int
	hasAck   bool
	ackFault stressFault
	calls    int
	err      error
}

type stressSource struct {
	e       *stressEnv
	recs    []stream.Record
	bad     []stream.RejectReason
	plan    map[int]stressFault // by read (from 0); only the reading goroutine reads
	ackPlan map[int]stressFault // by batch id
	rng     *rand.Rand          // only the reading goroutine
	cancel  func()
	errSrc  error

	pos, reads int
	sawEOF     bool
	closed     atomic.Int32

	mu        sync.Mutex
	batches   []*stressBatch
	lastNilID int
	policy    stream.BadRecordPolicy
	hasSink   bool
}

func (s *stressSource) Schema() stream.Schema { return testSchema }

func (s *stressSource) Close() error {
	s.e.called("source Close")
	s.closed.Add(1)
	return nil
}

func (s *stressSource) take(max int, withAck bool) (stream.Batch, stream.AckFunc) {
	n := 1 + s.rng.IntN(max)
	if s.rng.IntN(4) == 0 {
		n = max
	}
	hi := min(s.pos+n, len(s.recs))
	b := stream.Batch{Records: s.recs[s.pos:hi:hi]}
	zb := &stressBatch{empty: b.Len() == 0, lo: s.pos, hi: hi, hasAck: withAck}
	s.pos = hi
	s.mu.Lock()
	zb.id = len(s.batches)
	zb.ackFault = s.ackPlan[zb.id]
	s.batches = append(s.batches, zb)
	s.mu.Unlock()
	if !withAck {
		return b, nil
	}
	return b, s.ack(zb)
}

func (s *stressSource) ack(zb *stressBatch) stream.AckFunc {
	return func(ctx context.Context, err error) error {
		s.e.called("AckFunc")
		s.mu.Lock()
		zb.calls++
		if zb.calls > 1 {
			s.mu.Unlock()
			s.e.violate("batch %d [%d,%d) acknowledged %d times (this time with %v)", zb.id, zb.lo, zb.hi, zb.calls, err)
			return nil
		}
		zb.err = err
		if err == nil && !zb.empty {
			if zb.id < s.lastNilID {
				s.e.violate("batch %d acknowledged with nil after batch %d: not in read order", zb.id, s.lastNilID)
			}
			s.lastNilID = zb.id
			s.e.mu.Lock()
			for k := zb.lo; k < zb.hi; k++ {
				if s.bad[k] == "" && s.hasSink && !s.e.sinkKeys[k] {
					s.e.violations = append(s.e.violations, fmt.Sprintf("batch %d acknowledged with nil before its record %d reached the Sink", zb.id, k))
					break
				}
				if s.bad[k] != "" && s.policy == stream.DeadLetterBad && !s.e.deadKeys[k] {
					s.e.violations = append(s.e.violations, fmt.Sprintf("batch %d acknowledged with nil before its bad record %d reached the DeadLetter", zb.id, k))
					break
				}
			}
			s.e.mu.Unlock()
		}
		s.mu.Unlock()
		if err != nil {
			return nil
		}
		switch zb.ackFault {
		case faultAckErr:
			e := fmt.Errorf("fault: ack of batch %d failed", zb.id)
			s.e.fire("ack", faultAckErr, &stressStopper{desc: "ack error", err: e, stages: []string{"source ack"}, sure: true})
			return e
		case faultAckPanic:
			msg := fmt.Sprintf("fault: ack of batch %d panics", zb.id)
			s.e.fire("ack", faultAckPanic, &stressStopper{desc: "ack panic", panic: msg, stages: []string{"source ack"}, sure: true})
			panic(msg)
		}
		return nil
	}
}

func (s *stressSource) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	s.e.called("source Read")
	if max <= 0 {
		s.e.violate("Read called with max %d", max)
	}
	if s.sawEOF {
		s.e.violate("Read called again after io.EOF")
	}
	i := s.reads
	s.reads++
	f := s.plan[i]
	switch f {
	case faultCancel:
		s.e.fire("source", f, nil)
		s.cancel()
	case faultSlow:
		s.e.fire("source", f, nil)
		stressSleep(int64(i))
	case faultPanic:
		msg := fmt.Sprintf("fault: source panics at read %d", i)
		s.e.fire("source", f, &stressStopper{desc: "source panic", panic: msg, stages: []string{"source"}, sure: true})
		panic(msg)
	case faultBlock:
		s.e.fire("source", f, nil)
		<-ctx.Done()
		if s.rng.IntN(2) == 0 {
			b, ack := s.take(max, true)
			return b, ack, ctx.Err()
		}
		return stream.Batch{}, nil, ctx.Err()
	case faultErr:
		s.e.fire("source", f, &stressStopper{desc: "source error", err: s.errSrc, stages: []string{"source"}, sure: true})
		return stream.Batch{}, nil, fmt.Errorf("read %d: %w", i, s.errSrc)
	case faultRecsErr:
		s.e.fire("source", f, &stressStopper{desc: "source error with records", err: s.errSrc, stages: []string{"source"}, sure: true})
		b, ack := s.take(max, true)
		return b, ack, fmt.Errorf("read %d: %w", i, s.errSrc)
	case faultEmptyAck, faultErrEmptyAck:
		var rerr error
		if f == faultErrEmptyAck {
			s.e.fire("source", f, &stressStopper{desc: "source error", err: s.errSrc, stages: []string{"source"}, sure: true})
			rerr = fmt.Errorf("read %d: %w", i, s.errSrc)
		} else {
			s.e.fire("source", f, nil)
		}
		s.mu.Lock()
		zb := &stressBatch{id: len(s.batches), empty: true, lo: s.pos, hi: s.pos, hasAck: true}
		s.batches = append(s.batches, zb)
		s.mu.Unlock()
		return stream.Batch{}, s.ack(zb), rerr
	case faultEOFRecs:
		s.e.fire("source", f, nil)
		s.sawEOF = true
		b, ack := s.take(max, true)
		return b, ack, io.EOF
	case faultCtxRecs:
		s.e.fire("source", f, nil)
		s.cancel()
		b, ack := s.take(max, true)
		return b, ack, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		if s.rng.IntN(3) == 0 {
			b, ack := s.take(max, true)
			return b, ack, err
		}
		return stream.Batch{}, nil, err
	}
	if s.pos >= len(s.recs) {
		s.sawEOF = true
		return stream.Batch{}, nil, io.EOF
	}
	b, ack := s.take(max, f != faultNilAck)
	if f == faultNilAck {
		s.e.fire("source", f, nil)
	}
	return b, ack, nil
}

// ---- sinks ----

type stressSink struct {
	e      *stressEnv
	name   string // "sink" or "dead-letter"
	plan   *stressPlan
	err    error
	orig   []stream.Record // pristine copies of the records, by key
	bad    []stream.RejectReason
	closed atomic.Int32
	// only the writing goroutine
	lastKey     int
	lastVersion uint64
}

func (s *stressSink) Close() error {
	s.e.called(s.name + " Close")
	s.closed.Add(1)
	return nil
}

func (s *stressSink) Write(ctx context.Context, b stream.ScoredBatch) error {
	s.e.called(s.name + " Write")
	if s.closed.Load() > 0 {
		s.e.violate("%s Write after Close", s.name)
	}
	n, f := s.plan.next()
	if len(b.Predictions) != len(b.Records) {
		s.e.violate("%s got %d records and %d predictions", s.name, len(b.Records), len(b.Predictions))
	}
	keys := make([]int, 0, len(b.Records))
	for i, r := range b.Records {
		k, err := strconv.Atoi(r.Key)
		if err != nil || k < 0 || k >= len(s.orig) {
			s.e.violate("%s got a record with key %q", s.name, r.Key)
			continue
		}
		keys = append(keys, k)
		if k <= s.lastKey {
			s.e.violate("%s got record %d after record %d: out of order or twice", s.name, k, s.lastKey)
		}
		s.lastKey = k
		if !stressSameFeatures(r.Features, s.orig[k].Features) {
			s.e.violate("%s got record %d with features %v, the source read %v", s.name, k, r.Features, s.orig[k].Features)
		}
		if s.name == "sink" {
			if s.bad[k] != "" {
				s.e.violate("sink got bad record %d (%s)", k, s.bad[k])
			}
			if i < len(b.Predictions) && (b.ModelVersion == 0) != math.IsNaN(b.Predictions[i]) {
				s.e.violate("sink: record %d has prediction %v from model version %d", k, b.Predictions[i], b.ModelVersion)
			}
		} else {
			if s.bad[k] == "" {
				s.e.violate("dead letter got good record %d", k)
			} else if got := r.Attrs[stream.AttrRejectReason]; got != string(s.bad[k]) {
				s.e.violate("dead letter: record %d has reason %q, want %q", k, got, s.bad[k])
			}
		}
	}
	if s.name == "sink" {
		if b.ModelVersion < s.lastVersion {
			s.e.violate("sink: model version went from %d to %d", s.lastVersion, b.ModelVersion)
		}
		s.lastVersion = b.ModelVersion
	}
	switch f {
	case faultErr:
		s.e.fire(s.name, f, &stressStopper{desc: s.name + " error", err: s.err, stages: []string{s.name}, sure: true})
		return fmt.Errorf("write %d: %w", n, s.err)
	case faultPanic:
		msg := fmt.Sprintf("fault: %s panics at write %d", s.name, n)
		s.e.fire(s.name, f, &stressStopper{desc: s.name + " panic", panic: msg, stages: []string{s.name}, sure: true})
		panic(msg)
	case faultSlow:
		s.e.fire(s.name, f, nil)
		stressSleep(n)
	}
	s.e.mu.Lock()
	if s.name == "sink" && b.ModelVersion > 0 {
		s.e.sinkScored += uint64(len(keys))
	}
	for _, k := range keys {
		if s.name == "sink" {
			s.e.sinkKeys[k] = true
		} else {
			s.e.deadKeys[k] = true
		}
	}
	s.e.mu.Unlock()
	return nil
}

func stressSameFeatures(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// ---- transformers ----

// stressTransform is a stateless Transformer, safe for concurrent use.
type stressTransform struct {
	e    *stressEnv
	idx  int
	plan *stressPlan
	err  error
}

func (t *stressTransform) Transform(ctx context.Context, b *stream.Batch) error {
	t.e.called("transformer Transform")
	n, f := t.plan.next()
	stages := []string{"predict", fmt.Sprintf("transform[%d]", t.idx)}
	switch f {
	case faultErr:
		t.e.fire(fmt.Sprintf("transform[%d]", t.idx), f, &stressStopper{desc: "transformer error", err: t.err, stages: stages})
		t.e.mu.Lock()
		t.e.tfFail++
		t.e.mu.Unlock()
		return fmt.Errorf("call %d: %w", n, t.err)
	case faultPanic:
		msg := fmt.Sprintf("fault: transform[%d] panics at call %d", t.idx, n)
		t.e.fire(fmt.Sprintf("transform[%d]", t.idx), f, &stressStopper{desc: "transformer panic", panic: msg, stages: stages})
		t.e.mu.Lock()
		t.e.tfFail++
		t.e.mu.Unlock()
		panic(msg)
	case faultSlow:
		t.e.fire(fmt.Sprintf("transform[%d]", t.idx), f, nil)
		stressSleep(n)
	}
	for i := range b.Records {
		for j := range b.Records[i].Features {
			b.Records[i].Features[j] = b.Records[i].Features[j]*1.5 + 1
		}
	}
	return nil
}

// stressFitter centres features on their running mean. Fit, Freeze and its own
// Transform are called from one goroutine, so it has no lock: the race
// detector checks that promise.
type stressFitter struct {
	e               *stressEnv
	idx             int
	fit, freeze, tr *stressPlan
	err             error
	sum             []float64
	n               float64
}

func (f *stressFitter) stage() string { return fmt.Sprintf("transform[%d]", f.idx) }

func (f *stressFitter) fault(p *stressPlan, what string) error {
	n, k := p.next()
	switch k {
	case faultErr:
		f.e.fire(f.stage()+" "+what, k, &stressStopper{desc: "fitter " + what + " error", err: f.err, stages: []string{f.stage()}, sure: true})
		return fmt.Errorf("%s %d: %w", what, n, f.err)
	case faultPanic:
		msg := fmt.Sprintf("fault: %s %s panics at call %d", f.stage(), what, n)
		f.e.fire(f.stage()+" "+what, k, &stressStopper{desc: "fitter " + what + " panic", panic: msg, stages: []string{f.stage()}, sure: true})
		panic(msg)
	case faultSlow:
		f.e.fire(f.stage()+" "+what, k, nil)
		stressSleep(n)
	}
	return nil
}

func (f *stressFitter) Fit(ctx context.Context, b stream.Batch) error {
	f.e.called("Fit")
	if err := f.fault(f.fit, "Fit"); err != nil {
		return err
	}
	for _, r := range b.Records {
		if f.sum == nil {
			f.sum = make([]float64, len(r.Features))
		}
		for j, v := range r.Features {
			f.sum[j] += v
		}
		f.n++
	}
	return nil
}

func (f *stressFitter) Freeze() stream.Transformer {
	f.e.called("Freeze")
	_ = f.fault(f.freeze, "Freeze") // an error kind is only slowness here
	return f.frozen()
}

func (f *stressFitter) frozen() frozenMeans {
	means := make([]float64, 3)
	for j := range means {
		if f.sum != nil {
			means[j] = f.sum[j] / max(f.n, 1)
		}
	}
	return frozenMeans(means)
}

func (f *stressFitter) Transform(ctx context.Context, b *stream.Batch) error {
	f.e.called("Fitter Transform")
	if err := f.fault(f.tr, "Transform"); err != nil {
		return err
	}
	return f.frozen().Transform(ctx, b)
}

// ---- trainer ----

type stressTrainer struct {
	e    *stressEnv
	plan *stressPlan
	err  error
	perr error
}

type stressPredictor struct {
	mean    float64
	fail    error
	heldOut string
	batch   bool
}

func (p *stressPredictor) Predict(x []float64) (float64, error) {
	if p.fail != nil {
		return 0, p.fail
	}
	return p.mean + 0*x[0], nil
}

type stressHeldOutPredictor struct{ *stressPredictor }

func (p stressHeldOutPredictor) HeldOut() stream.HeldOut { panic(p.heldOut) }

type stressBatchPredictor struct{ *stressPredictor }

func (p stressBatchPredictor) PredictBatch(X [][]float64, out []float64) error {
	for i, x := range X {
		y, err := p.Predict(x)
		if err != nil {
			return err
		}
		out[i] = y
	}
	return nil
}

func (t *stressTrainer) Train(ctx context.Context, schema stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	t.e.called("Train")
	n, f := t.plan.next()
	if len(X) == 0 || len(X) != len(y) {
		t.e.violate("Train got %d rows and %d targets", len(X), len(y))
	}
	for i, x := range X {
		if len(x) != 3 || math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			t.e.violate("Train got row %d %v target %v", i, x, y[i])
			break
		}
	}
	fail := func() {
		t.e.mu.Lock()
		t.e.trainFail++
		t.e.mu.Unlock()
	}
	switch f {
	case faultErr:
		t.e.fire("trainer", f, nil)
		fail()
		return nil, fmt.Errorf("train %d: %w", n, t.err)
	case faultPanic:
		t.e.fire("trainer", f, nil)
		fail()
		panic(fmt.Sprintf("fault: trainer panics at call %d", n))
	case faultSlow:
		t.e.fire("trainer", f, nil)
		select {
		case <-time.After(time.Duration(n%3+1) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case faultBlock:
		t.e.fire("trainer", f, nil)
		<-ctx.Done()
		return nil, ctx.Err()
	case faultNilPred:
		t.e.fire("trainer", f, nil)
		fail()
		return nil, nil
	}
	var m float64
	for _, v := range y {
		m += v
	}
	p := &stressPredictor{mean: m / float64(max(len(y), 1)), batch: n%2 == 0}
	switch f {
	case faultPredErr:
		p.fail = t.perr
		t.e.fire("trainer", f, &stressStopper{desc: "predictor error", err: t.perr, stages: []string{"predict"}})
	case faultHeldOut:
		p.heldOut = fmt.Sprintf("fault: HeldOut panics (train %d)", n)
		t.e.fire("trainer", f, nil)
		fail()
		return stressHeldOutPredictor{p}, nil
	}
	t.e.mu.Lock()
	t.e.trainOK++
	t.e.mu.Unlock()
	if p.batch {
		return stressBatchPredictor{p}, nil
	}
	return p, nil
}

// ---- one iteration ----

type stressResult struct {
	violations []string
	fired      map[string]int
	clean      bool
}

func stressIteration(t *testing.T, seed uint64, verbose bool) stressResult {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	e := &stressEnv{seed: seed, fired: map[string]int{}, sinkKeys: map[int]bool{}, deadKeys: map[int]bool{}}

	// Records, some bad, some unlabeled.
	nrec := rng.IntN(400)
	recs := records(nrec, seed, 0)
	bad := make([]stream.RejectReason, nrec)
	pBad := []float64{0, 0, 0.02, 0.1, 0.3}[rng.IntN(5)]
	pUnl := []float64{0, 0.1, 0.5}[rng.IntN(3)]
	for i := range recs {
		recs[i].Attrs = map[string]string{"i": recs[i].Key}
		if rng.Float64() < pUnl {
			recs[i].Target = math.NaN()
		}
		if rng.Float64() < pBad {
			switch rng.IntN(4) {
			case 0:
				recs[i].Features = recs[i].Features[:rng.IntN(3)]
				bad[i] = stream.RejectFeatureCount
			case 1:
				recs[i].Features[rng.IntN(3)] = math.NaN()
				bad[i] = stream.RejectNaNFeature
			case 2:
				recs[i].Features[rng.IntN(3)] = math.Inf(1 - 2*rng.IntN(2))
				bad[i] = stream.RejectInfFeature
			case 3:
				recs[i].Target = math.Inf(1)
				bad[i] = stream.RejectBadTarget
			}
		}
	}
	orig := make([]stream.Record, nrec)
	for i := range recs {
		orig[i] = recs[i].Clone()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Bool
	doCancel := func() { cancelled.Store(true); cancel() }

	policy := stream.BadRecordPolicy(rng.IntN(3))
	srcPlan := map[int]stressFault{}
	if rng.IntN(3) > 0 {
		kinds := []stressFault{faultErr, faultPanic, faultSlow, faultBlock, faultRecsErr, faultEmptyAck, faultEOFRecs, faultCtxRecs, faultCancel, faultNilAck, faultSlow, faultEmptyAck, faultErrEmptyAck}
		for k := 1 + rng.IntN(4); k > 0; k-- {
			srcPlan[rng.IntN(30)] = kinds[rng.IntN(len(kinds))]
		}
	}
	ackPlan := map[int]stressFault{}
	if rng.IntN(6) == 0 {
		ackPlan[rng.IntN(20)] = []stressFault{faultAckErr, faultAckPanic}[rng.IntN(2)]
	}
	src := &stressSource{e: e, recs: recs, bad: bad, plan: srcPlan, ackPlan: ackPlan,
		rng: rand.New(rand.NewPCG(seed, 2)), cancel: doCancel, errSrc: errors.New("fault: source error"),
		lastNilID: -1, policy: policy}

	p := &stream.Pipeline{Source: src, BadRecords: policy, Logger: quiet}
	p.BatchSize = []int{0, 1, 2, 3, 7, 16, 50, 1 + rng.IntN(64)}[rng.IntN(8)]
	p.Buffer = []int{0, 1, 1, 2, 3, 8}[rng.IntN(6)]
	p.Window = []int{0, 1, 5, 20, 100, 1 + rng.IntN(300)}[rng.IntN(6)]
	w := p.Window
	if w == 0 {
		w = stream.DefaultWindow
	}
	if rng.IntN(4) > 0 {
		p.MinTrain = rng.IntN(min(w, 200) + 1)
	}
	p.RetrainEvery = []int{0, 1, 3, 10, 50, 1 + rng.IntN(200)}[rng.IntN(6)]
	if rng.IntN(8) == 0 {
		p.RetrainInterval = time.Duration(1+rng.IntN(3)) * time.Millisecond
	}
	p.NoFinalTrain = rng.IntN(3) == 0
	p.AccuracyWindow = rng.IntN(50)

	hasSink := rng.IntN(8) > 0
	src.hasSink = hasSink
	var sink, dead *stressSink
	if hasSink {
		sink = &stressSink{e: e, name: "sink", plan: stressRandPlan(rng, 0.3, 30, faultErr, faultPanic, faultSlow, faultSlow), err: errors.New("fault: sink error"),
			orig: orig, bad: bad, lastKey: -1}
		p.Sink = sink
	}
	if policy == stream.DeadLetterBad {
		dead = &stressSink{e: e, name: "dead-letter", plan: stressRandPlan(rng, 0.2, 10, faultErr, faultPanic, faultSlow), err: errors.New("fault: dead-letter error"),
			orig: orig, bad: bad, lastKey: -1}
		p.DeadLetter = dead
	}

	nt := rng.IntN(4)
	for i := 0; i < nt; i++ {
		if rng.IntN(2) == 0 {
			p.Transformers = append(p.Transformers, &stressFitter{e: e, idx: i,
				fit:    stressRandPlan(rng, 0.15, 30, faultErr, faultPanic, faultSlow),
				freeze: stressRandPlan(rng, 0.1, 10, faultPanic, faultSlow),
				tr:     stressRandPlan(rng, 0.1, 30, faultErr, faultPanic, faultSlow),
				err:    fmt.Errorf("fault: fitter %d error", i)})
		} else {
			p.Transformers = append(p.Transformers, &stressTransform{e: e, idx: i,
				plan: stressRandPlan(rng, 0.25, 60, faultErr, faultPanic, faultSlow), err: fmt.Errorf("fault: transformer %d error", i)})
		}
	}
	if rng.IntN(6) > 0 {
		p.Trainer = &stressTrainer{e: e, plan: stressRandPlan(rng, 0.5, 8, faultErr, faultPanic, faultSlow, faultBlock, faultPredErr, faultHeldOut, faultSlow, faultNilPred),
			err: errors.New("fault: train error"), perr: errors.New("fault: predictor error")}
	}
	p.WaitForModel = p.Trainer != nil && rng.IntN(3) == 0
	var initVersion uint64
	if rng.IntN(5) == 0 {
		initVersion = 1 + uint64(rng.IntN(5))
		p.InitialModel = &stream.Model{Schema: testSchema, Predictor: &stressPredictor{mean: 1}, Version: initVersion}
	}
	onModelPlan := stressRandPlan(rng, 0.1, 5, faultPanic)
	if rng.IntN(4) > 0 {
		p.OnModel = func(m *stream.Model) {
			e.called("OnModel")
			e.mu.Lock()
			e.onModel++
			e.onModelVer = append(e.onModelVer, m.Version)
			e.mu.Unlock()
			if n, f := onModelPlan.next(); f == faultPanic {
				msg := fmt.Sprintf("fault: OnModel panics at call %d", n)
				e.fire("OnModel", f, &stressStopper{desc: "OnModel panic", panic: msg, stages: []string{"OnModel"}, sure: true})
				panic(msg)
			}
		}
	}

	// Cancellation: none, at a read (in the source plan), or after a time.
	// A source or trainer that blocks until ctx is done needs one.
	blocking := false
	for _, f := range srcPlan {
		blocking = blocking || f == faultBlock
	}
	if tr, ok := p.Trainer.(*stressTrainer); ok {
		for _, f := range tr.plan.at {
			blocking = blocking || f == faultBlock
		}
	}
	var timer *time.Timer
	if blocking || rng.IntN(4) == 0 {
		timer = time.AfterFunc(time.Duration(rng.IntN(5000))*time.Microsecond, doCancel)
	}

	if verbose {
		t.Logf("seed %d: records=%d pBad=%v policy=%d BatchSize=%d Buffer=%d Window=%d MinTrain=%d RetrainEvery=%d Interval=%v NoFinal=%v wait=%v sink=%v transformers=%d trainer=%v init=%d timer=%v srcPlan=%v ackPlan=%v",
			seed, nrec, pBad, policy, p.BatchSize, p.Buffer, p.Window, p.MinTrain, p.RetrainEvery, p.RetrainInterval, p.NoFinalTrain, p.WaitForModel,
			hasSink, nt, p.Trainer != nil, initVersion, timer != nil, srcPlan, ackPlan)
	}

	before := goleak.IgnoreCurrent()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("seed %d: Run has not returned after 60s\n%s", seed, buf)
	}
	e.returned.Store(true)
	if timer != nil {
		timer.Stop()
	}
	cancel()
	if lerr := goleak.Find(before); lerr != nil {
		e.violate("goroutines outlived Run: %v", lerr)
	}
	stressCheck(e, p, src, sink, dead, err, cancelled.Load(), initVersion, orig)
	if verbose {
		t.Logf("seed %d: Run returned %v; stats %+v; fired %v", seed, err, p.Stats(), e.fired)
	}
	return stressResult{violations: e.violations, fired: e.fired, clean: len(e.violations) == 0}
}

func stressCheck(e *stressEnv, p *stream.Pipeline, src *stressSource, sink, dead *stressSink, err error, cancelled bool, initVersion uint64, orig []stream.Record) {
	e.mu.Lock()
	stoppers := append([]stressStopper(nil), e.stoppers...)
	e.mu.Unlock()
	src.mu.Lock()
	batches := append([]*stressBatch(nil), src.batches...)
	src.mu.Unlock()
	st := p.Stats()

	// The error Run returned.
	var se *stream.StageError
	clean := false // the run was not failed: everything read must be written
	var sureNonSource []string
	for _, s := range stoppers {
		if s.sure && s.stages[0] != "source" {
			sureNonSource = append(sureNonSource, s.desc)
		}
	}
	switch {
	case err == nil:
		clean = true
		if !src.sawEOF {
			e.violate("Run returned nil, but the source never returned io.EOF")
		}
	case !errors.As(err, &se):
		clean = true
		if !errors.Is(err, context.Canceled) || !cancelled {
			e.violate("Run returned %v: neither a *StageError nor a cancellation", err)
		}
	default:
		var match *stressStopper
		for i := range stoppers {
			s := &stoppers[i]
			// Match the first *StageError, not err: Run may join errors.
			if s.err != nil && errors.Is(se, s.err) || s.panic != "" && strings.Contains(se.Error(), s.panic) {
				match = s
				break
			}
		}
		switch {
		case se.Stage == "validate":
			if p.BadRecords != stream.FailOnBad || !errors.Is(err, stream.ErrBadRecord) {
				e.violate("Run returned %v under policy %d", err, p.BadRecords)
			}
		case match == nil:
			e.violate("Run returned %v (stage %q), which no injected fault explains (a trainer's fault?)", stressShort(err), se.Stage)
		default:
			ok := false
			for _, s := range match.stages {
				ok = ok || s == se.Stage
			}
			if !ok {
				e.violate("Run returned %v naming stage %q; the fault (%s) belongs to %v", stressShort(err), se.Stage, match.desc, match.stages)
			}
			if match.panic != "" && !errors.Is(err, stream.ErrPanic) {
				e.violate("a panic came back without ErrPanic: %v", stressShort(err))
			}
		}
		// A Source error stops reading only: the run is clean unless a
		// later stage failed too (reported below).
		if se.Stage == "source" {
			later := append([]string(nil), sureNonSource...)
			for _, b := range batches {
				var ase *stream.StageError
				if b.calls > 0 && errors.As(b.err, &ase) && ase.Stage != "source" {
					later = append(later, "a batch acknowledged with "+stressShort(b.err))
					break
				}
			}
			if len(later) == 0 {
				clean = true
			} else {
				e.violate("Run returned the Source's error (%s) though a later stage failed the run: %v", stressShort(err), later)
			}
		}
	}
	if (err == nil || clean) && len(sureNonSource) > 0 {
		e.violate("Run returned %v though %v fired and failed the run", stressShort(err), sureNonSource)
	}
	if err == nil && len(stoppers) > 0 {
		for _, s := range stoppers {
			if s.stages[0] == "source" {
				e.violate("Run returned nil though a %s fired", s.desc)
			}
		}
	}

	// Acknowledgements and what reached the sinks.
	var read, nonEmpty, badRead, goodRead, labeledGood uint64
	var nilGood, nilBad, errRecs uint64
	anyBad, nilAcks := false, false
	var firstBad stream.RejectReason
	for _, b := range batches {
		if b.empty {
			if b.hasAck && (b.calls != 1 || b.err != nil) {
				e.violate("empty batch %d: AckFunc called %d times, with %v; want once with nil", b.id, b.calls, b.err)
			}
			continue
		}
		nonEmpty++
		read += uint64(b.hi - b.lo)
		var g, bd uint64
		for k := b.lo; k < b.hi; k++ {
			if src.bad[k] != "" {
				if !anyBad {
					firstBad = src.bad[k]
				}
				anyBad = true
				bd++
			} else {
				g++
				if !math.IsNaN(orig[k].Target) {
					labeledGood++
				}
			}
		}
		badRead += bd
		goodRead += g
		if !b.hasAck {
			nilAcks = true
			continue
		}
		if b.calls != 1 {
			e.violate("batch %d [%d,%d) of %d acknowledged %d times", b.id, b.lo, b.hi, len(src.recs), b.calls)
			continue
		}
		if b.err == nil {
			nilGood += g
			nilBad += bd
			continue
		}
		errRecs += g + bd
		if clean {
			e.violate("batch %d [%d,%d) acknowledged with %v, though Run returned %v", b.id, b.lo, b.hi, stressShort(b.err), stressShort(err))
		}
		var ase *stream.StageError
		if !errors.As(b.err, &ase) {
			e.violate("batch %d acknowledged with %v, not a *StageError", b.id, b.err)
		}
	}
	if clean {
		e.mu.Lock()
		for k := range src.recs[:src.pos] {
			if src.bad[k] == "" && sink != nil && !e.sinkKeys[k] {
				e.violations = append(e.violations, fmt.Sprintf("record %d was read but not written, though Run returned %v", k, stressShort(err)))
				break
			}
		}
		e.mu.Unlock()
	}

	// Stats.
	if st.Read != read {
		e.violate("Stats.Read %d, the source returned %d records", st.Read, read)
	}
	if st.Batches != nonEmpty {
		e.violate("Stats.Batches %d, the source returned %d batches with records", st.Batches, nonEmpty)
	}
	var by uint64
	for _, v := range st.RejectedBy {
		by += v
	}
	if by != st.Rejected {
		e.violate("Stats.Rejected %d, RejectedBy sums to %d", st.Rejected, by)
	}
	if p.BadRecords == stream.FailOnBad {
		want := uint64(0)
		if anyBad {
			want = 1
		}
		if st.Rejected != want || anyBad && st.RejectedBy[firstBad] != 1 {
			e.violate("FailOnBad: Stats.Rejected %d (%v), want %d (%s)", st.Rejected, st.RejectedBy, want, firstBad)
		}
	} else if st.Rejected != badRead {
		e.violate("Stats.Rejected %d, %d bad records were read", st.Rejected, badRead)
	}
	if !nilAcks {
		if st.Written != nilGood {
			e.violate("Stats.Written %d, batches acknowledged with nil hold %d good records", st.Written, nilGood)
		}
		if st.Read != st.Written+nilBad+errRecs {
			e.violate("Stats: Read %d != Written %d + rejected in written batches %d + records acknowledged with an error %d",
				st.Read, st.Written, nilBad, errRecs)
		}
	}
	if clean && st.Written != goodRead {
		e.violate("Stats.Written %d, %d good records read, though Run returned %v", st.Written, goodRead, stressShort(err))
	}
	if sink != nil {
		e.mu.Lock()
		n := uint64(len(e.sinkKeys))
		e.mu.Unlock()
		if st.Written != n {
			e.violate("Stats.Written %d, the Sink accepted %d records", st.Written, n)
		}
	}
	e.mu.Lock()
	sinkScored := e.sinkScored
	e.mu.Unlock()
	if clean && sink != nil && st.Scored != sinkScored {
		e.violate("Stats.Scored %d, the Sink got %d records scored by a model, though Run returned %v", st.Scored, sinkScored, stressShort(err))
	}
	if st.Learned > labeledGood {
		e.violate("Stats.Learned %d > %d labeled good records read", st.Learned, labeledGood)
	}
	if clean && st.Learned != labeledGood {
		e.violate("Stats.Learned %d, %d labeled good records read, though Run returned %v", st.Learned, labeledGood, stressShort(err))
	}
	if st.Scored > goodRead {
		e.violate("Stats.Scored %d > %d good records read", st.Scored, goodRead)
	}
	e.mu.Lock()
	onModel, trainOK, trainFail, tfFail := e.onModel, e.trainOK, e.trainFail, e.tfFail
	e.mu.Unlock()
	if p.OnModel != nil && st.Retrains != uint64(onModel) {
		e.violate("Stats.Retrains %d, OnModel called %d times", st.Retrains, onModel)
	}
	if st.Retrains > uint64(trainOK) {
		e.violate("Stats.Retrains %d > %d successful Train calls", st.Retrains, trainOK)
	}
	if st.RetrainsFailed > uint64(trainFail+tfFail) {
		e.violate("Stats.RetrainsFailed %d > %d trainer and transformer faults", st.RetrainsFailed, trainFail+tfFail)
	}
	wantVersion := initVersion + st.Retrains
	if st.ModelVersion != wantVersion {
		e.violate("Stats.ModelVersion %d, want %d (initial %d + %d retrains)", st.ModelVersion, wantVersion, initVersion, st.Retrains)
	}
	if m := p.Model(); (m == nil) != (wantVersion == 0) || m != nil && m.Version != wantVersion {
		e.violate("Model() is %v, want version %d", m, wantVersion)
	}

	// Closing, and the source's records untouched.
	if c := src.closed.Load(); c != 1 {
		e.violate("source closed %d times", c)
	}
	for _, s := range []*stressSink{sink, dead} {
		if s != nil && s.closed.Load() != 1 {
			e.violate("%s closed %d times", s.name, s.closed.Load())
		}
	}
	for i := range orig {
		r := src.recs[i]
		if !stressSameFeatures(r.Features, orig[i].Features) || len(r.Attrs) != len(orig[i].Attrs) {
			e.violate("the source's record %d was changed: %v %v, was %v %v", i, r.Features, r.Attrs, orig[i].Features, orig[i].Attrs)
			break
		}
	}
}

func stressShort(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if i := strings.Index(s, "\ngoroutine"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func stressEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func TestPipelineUnderRandomFaults(t *testing.T) {
	if one := os.Getenv("STRESS_ONE"); one != "" {
		seed, _ := strconv.ParseUint(one, 10, 64)
		res := stressIteration(t, seed, true)
		for _, v := range res.violations {
			t.Errorf("seed %d: %s", seed, v)
		}
		return
	}
	iters := stressEnvInt("STRESS_ITERS", 1500)
	if testing.Short() {
		iters = 200
	}
	base := uint64(stressEnvInt("STRESS_SEED", 1))
	fired := map[string]int{}
	bad := map[string][]uint64{} // violation (numbers blanked) → seeds
	var firstMsg = map[string]string{}
	cleanRuns := 0
	for i := 0; i < iters; i++ {
		seed := base + uint64(i)
		res := stressIteration(t, seed, false)
		for k, v := range res.fired {
			fired[k] += v
		}
		if res.clean {
			cleanRuns++
		}
		seen := map[string]bool{}
		for _, v := range res.violations {
			key := stressBlankNumbers(v)
			if seen[key] {
				continue
			}
			seen[key] = true
			if _, ok := firstMsg[key]; !ok {
				firstMsg[key] = v
			}
			bad[key] = append(bad[key], seed)
		}
	}
	keys := make([]string, 0, len(fired))
	for k := range fired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%d iterations from seed %d, %d without a violation; faults fired: %v", iters, base, cleanRuns, func() string {
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "\n  %-40s %d", k, fired[k])
		}
		return sb.String()
	}())
	for key, seeds := range bad {
		t.Errorf("%d iterations, first seed %d (seeds %v): %s", len(seeds), seeds[0], stressHead(seeds, 8), firstMsg[key])
	}
}

func stressHead(s []uint64, n int) []uint64 { return s[:min(n, len(s))] }

func stressBlankNumbers(s string) string {
	var sb strings.Builder
	prevDigit := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !prevDigit {
				sb.WriteByte('#')
			}
			prevDigit = true
			continue
		}
		prevDigit = false
		sb.WriteRune(r)
	}
	return sb.String()
}

// ---- minimal reproductions ----

// stressTwoBatchSource returns batch A, then batch B together with errSource,
// and sends its (read) context on readCtx at the first Read. It records the
// error each batch was acknowledged with; ackErr, if set, is what A's
// AckFunc returns.
type stressTwoBatchSource struct {
	errSource, ackErr error
	readCtx           chan context.Context
	reads             int
	mu                sync.Mutex
	acks              [2][]error
}

func (s *stressTwoBatchSource) Schema() stream.Schema { return testSchema }

func (s *stressTwoBatchSource) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	s.reads++
	ack := func(i int) stream.AckFunc {
		return func(_ context.Context, err error) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.acks[i] = append(s.acks[i], err)
			if i == 0 && err == nil {
				return s.ackErr
			}
			return nil
		}
	}
	switch s.reads {
	case 1:
		s.readCtx <- ctx
		return stream.Batch{Records: records(3, 1, 0)}, ack(0), nil
	case 2:
		return stream.Batch{Records: records(3, 2, 0)}, ack(1), s.errSource
	}
	return stream.Batch{}, nil, ctx.Err()
}

// A commit that fails while the batches read before a Source error drain
// stops the run, and Run reports it with the Source's error.
func TestFailedAckAfterSourceErrorIsReturned(t *testing.T) {
	errSource, errCommit := errors.New("broker connection lost"), errors.New("commit failed")
	src := &stressTwoBatchSource{errSource: errSource, ackErr: errCommit, readCtx: make(chan context.Context, 1)}
	sink := stream.SinkFunc(func(context.Context, stream.ScoredBatch) error {
		select {
		case ctx := <-src.readCtx:
			<-ctx.Done() // reading has stopped: the Source's error is recorded
		default:
		}
		return nil
	})
	p := &stream.Pipeline{Source: src, Sink: sink, BatchSize: 3, Logger: quiet}
	err := p.Run(context.Background())
	if !errors.Is(err, errCommit) {
		t.Errorf("Run returned %q; the failed acknowledgement is lost", err)
	}
}
