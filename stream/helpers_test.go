package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/forestream/forestream/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSchema = stream.Schema{Features: []string{"a", "b", "c"}, Target: "y"}

// truth is the target function of the test data.
func truth(x []float64) float64 { return 3*x[0] - 2*x[1] + x[2]*x[2] }

// records returns n seeded records of testSchema; every unlabeledEvery-th
// record (when > 0) has no target.
func records(n int, seed uint64, unlabeledEvery int) []stream.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]stream.Record, n)
	for i := range recs {
		x := []float64{rng.NormFloat64()*10 + 50, rng.Float64() * 5, rng.NormFloat64()}
		recs[i] = stream.Record{Features: x, Target: truth(x), Key: fmt.Sprint(i)}
		if unlabeledEvery > 0 && i%unlabeledEvery == unlabeledEvery-1 {
			recs[i].Target = math.NaN()
		}
	}
	return recs
}

// meanScaler is a small Fitter: it centres each feature on its running mean.
type meanScaler struct {
	sum []float64
	n   float64
}

func (s *meanScaler) Fit(_ context.Context, b stream.Batch) error {
	for i, r := range b.Records {
		if s.sum == nil {
			s.sum = make([]float64, len(r.Features))
		}
		if len(r.Features) != len(s.sum) {
			return fmt.Errorf("meanScaler: record %d has %d features, want %d", i, len(r.Features), len(s.sum))
		}
		for j, v := range r.Features {
			s.sum[j] += v
		}
		s.n++
	}
	return nil
}

func (s *meanScaler) Freeze() stream.Transformer {
	means := make([]float64, len(s.sum))
	for j := range means {
		means[j] = s.sum[j] / max(s.n, 1)
	}
	return frozenMeans(means)
}

func (s *meanScaler) Transform(ctx context.Context, b *stream.Batch) error {
	return s.Freeze().Transform(ctx, b)
}

type frozenMeans []float64

func (m frozenMeans) Transform(_ context.Context, b *stream.Batch) error {
	for i := range b.Records {
		f := b.Records[i].Features
		if len(f) != len(m) {
			return fmt.Errorf("frozenMeans: record %d has %d features, want %d", i, len(f), len(m))
		}
		for j := range f {
			f[j] -= m[j]
		}
	}
	return nil
}

// linearTrainer fits y ≈ mean(y) + Σ w_j·x_j by one pass of per-feature
// least squares; crude, but deterministic and sensitive to every input.
type linearTrainer struct {
	mu    sync.Mutex
	calls int
	// fail makes the calls whose number (from 1) it holds fail.
	fail map[int]bool
	// block, when set, is waited on by the first call.
	block chan struct{}
	// started is closed when the first call begins.
	started chan struct{}
}

var errTrain = errors.New("test: training failed")

func (t *linearTrainer) Train(ctx context.Context, _ stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	t.mu.Lock()
	t.calls++
	call := t.calls
	t.mu.Unlock()
	if call == 1 && t.started != nil {
		close(t.started)
	}
	if call == 1 && t.block != nil {
		select {
		case <-t.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.fail[call] {
		return nil, errTrain
	}
	d := len(X[0])
	var my float64
	for _, v := range y {
		my += v
	}
	my /= float64(len(y))
	w := make([]float64, d)
	for j := 0; j < d; j++ {
		var mx, sxy, sxx float64
		for i := range X {
			mx += X[i][j]
		}
		mx /= float64(len(X))
		for i := range X {
			sxy += (X[i][j] - mx) * (y[i] - my)
			sxx += (X[i][j] - mx) * (X[i][j] - mx)
		}
		if sxx > 0 {
			w[j] = sxy / sxx
		}
	}
	return stream.PredictFunc(func(x []float64) (float64, error) {
		if len(x) != d {
			return 0, fmt.Errorf("linear: %d features, trained on %d", len(x), d)
		}
		s := my
		for j, v := range x {
			s += w[j] * v
		}
		return s, nil
	}), nil
}

func (t *linearTrainer) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}

// modelWatch lets a test hold a source until the pipeline has a model of a
// given version, so the test decides which model scores what without timing.
type modelWatch struct {
	mu      sync.Mutex
	version uint64
	changed chan struct{}
}

func newModelWatch() *modelWatch { return &modelWatch{changed: make(chan struct{})} }

// onModel is the Pipeline's OnModel hook.
func (w *modelWatch) onModel(m *stream.Model) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.version = m.Version
	close(w.changed)
	w.changed = make(chan struct{})
}

// gate returns a Slice.BeforeRead hook that, before the read at each offset
// in gates, waits for a model of at least that version.
func (w *modelWatch) gate(gates map[int]uint64) func(ctx context.Context, offset int) error {
	return func(ctx context.Context, offset int) error {
		want := gates[offset]
		for {
			w.mu.Lock()
			v, changed := w.version, w.changed
			w.mu.Unlock()
			if v >= want {
				return nil
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
