package streamtest_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a testing.TB that records a fatal failure instead of failing
// the real test, so the checks themselves can be tested.
type recorder struct {
	testing.TB // nil: only the methods below are called
	msg        string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// failure runs check against a recorder and returns its failure message, ""
// if it passed.
func failure(check func(t testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.msg
}

var schema = stream.Schema{Features: []string{"a", "b"}, Target: "y"}

func recs(n int) []stream.Record {
	out := make([]stream.Record, n)
	for i := range out {
		out[i] = stream.Record{Features: []float64{float64(i), float64(i * i)}, Target: float64(3 * i)}
	}
	return out
}

func TestSourceCheckPassesTheSliceAndCatchesBrokenSources(t *testing.T) {
	assert.Empty(t, failure(func(t testing.TB) {
		streamtest.TestSource(t, func() stream.Source { return streamtest.NewSlice(schema, recs(20)) })
	}))

	greedy := func() stream.Source {
		return stream.SourceFunc(schema, func(context.Context, int) (stream.Batch, stream.AckFunc, error) {
			return stream.Batch{Records: recs(100)}, nil, nil
		})
	}
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestSource(t, greedy) }), "returned 100 records")

	deaf := func() stream.Source { // ignores cancellation
		done := false
		return stream.SourceFunc(schema, func(context.Context, int) (stream.Batch, stream.AckFunc, error) {
			if done {
				return stream.Batch{}, nil, io.EOF
			}
			done = true
			return stream.Batch{Records: recs(1)}, nil, io.EOF
		})
	}
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestSource(t, deaf) }), "want context.Canceled")

	panicky := func() stream.Source {
		return stream.SourceFunc(schema, func(context.Context, int) (stream.Batch, stream.AckFunc, error) { panic("oops") })
	}
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestSource(t, panicky) }), "Read panicked: oops")
}

func TestSinkCheckCatchesAPanic(t *testing.T) {
	assert.Empty(t, failure(func(t testing.TB) { streamtest.TestSink(t, &streamtest.Collector{}, schema) }))
	nanHater := stream.SinkFunc(func(_ context.Context, b stream.ScoredBatch) error {
		for _, p := range b.Predictions {
			if math.IsNaN(p) {
				panic("NaN prediction")
			}
		}
		return nil
	})
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestSink(t, nanHater, schema) }), "NaN prediction")
}

// leakyFitter's frozen copy shares its live state: the bug the check is for.
type leakyFitter struct{ mean []float64 }

func (f *leakyFitter) Fit(_ context.Context, b stream.Batch) error {
	if f.mean == nil {
		f.mean = make([]float64, 2)
	}
	for _, r := range b.Records {
		for j, v := range r.Features {
			f.mean[j] += v / 100
		}
	}
	return nil
}
func (f *leakyFitter) Freeze() stream.Transformer { return f }
func (f *leakyFitter) Transform(_ context.Context, b *stream.Batch) error {
	for i := range b.Records {
		if len(b.Records[i].Features) != len(f.mean) {
			return fmt.Errorf("record %d: %d features", i, len(b.Records[i].Features))
		}
		for j := range b.Records[i].Features {
			b.Records[i].Features[j] -= f.mean[j]
		}
	}
	return nil
}

func TestTransformerCheckCatchesAFrozenCopyThatMoves(t *testing.T) {
	sample := stream.Batch{Records: recs(10)}
	msg := failure(func(t testing.TB) { streamtest.TestTransformer(t, &leakyFitter{}, sample) })
	assert.Contains(t, msg, "frozen transformer changed")

	unchecked := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for i := range b.Records {
			b.Records[i].Features[0] *= 2
		}
		return nil
	})
	// Rows reach a Transformer with the schema's length, so one that does
	// not check it keeps the contract.
	assert.Empty(t, failure(func(t testing.TB) { streamtest.TestTransformer(t, unchecked, sample) }))

	panicky := stream.TransformFunc(func(_ context.Context, b *stream.Batch) error {
		for i := range b.Records {
			_ = b.Records[i].Features[:2:2][len(b.Records[i].Features)-1] // out of range on a longer row
		}
		return nil
	})
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestTransformer(t, panicky, sample) }), "Transform panicked")
}

func TestTrainerCheckCatchesIgnoredCancellationAndMismatchedBatches(t *testing.T) {
	X := [][]float64{{1, 2}, {3, 4}, {5, 6}}
	y := []float64{1, 2, 3}
	good := stream.TrainFunc(func(ctx context.Context, _ stream.Schema, X [][]float64, _ []float64) (stream.Predictor, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return sumPredictor{d: len(X[0])}, nil
	})
	assert.Empty(t, failure(func(t testing.TB) { streamtest.TestTrainer(t, good, schema, X, y) }))

	deaf := stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
		return sumPredictor{d: 2}, nil
	})
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestTrainer(t, deaf, schema, X, y) }), "cancelled context")

	skewed := stream.TrainFunc(func(ctx context.Context, _ stream.Schema, _ [][]float64, _ []float64) (stream.Predictor, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return skewedBatch{sumPredictor{d: 2}}, nil
	})
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestTrainer(t, skewed, schema, X, y) }), "PredictBatch row 0")
}

type sumPredictor struct{ d int }

func (p sumPredictor) Predict(x []float64) (float64, error) {
	if len(x) != p.d {
		return 0, fmt.Errorf("%d features, want %d", len(x), p.d)
	}
	return x[0] + x[1], nil
}

type skewedBatch struct{ sumPredictor }

func (p skewedBatch) PredictBatch(X [][]float64, out []float64) error {
	for i := range X {
		out[i] = float64(i) // not what Predict says
	}
	return nil
}

var errEOF = fmt.Errorf("EOF-ish: %w", stream.ErrNoSource) // any error but context.Canceled

func TestSliceRecordsAcks(t *testing.T) {
	s := streamtest.NewSlice(schema, recs(5))
	b1, ack1, err := s.Read(context.Background(), 3)
	require.NoError(t, err)
	require.Equal(t, 3, b1.Len())
	_, ack2, err := s.Read(context.Background(), 3)
	require.NoError(t, err)
	require.NoError(t, ack1(context.Background(), nil))
	assert.ErrorContains(t, s.CheckAcks(), "batch 1 (2 records) acknowledged 0 times")
	require.NoError(t, ack2(context.Background(), errEOF))
	require.NoError(t, s.CheckAcks())
	require.NoError(t, ack2(context.Background(), nil))
	assert.ErrorContains(t, s.CheckAcks(), "batch 1 (2 records) acknowledged 2 times")
	assert.ErrorIs(t, s.Acks()[1].Err, errEOF, "the first call's error is kept")
}

// SkewCheck wraps the real Sink, which the Pipeline can close only through
// it.
func TestSkewCheckClosesNext(t *testing.T) {
	next := &streamtest.Collector{}
	p := &stream.Pipeline{Source: streamtest.NewSlice(schema, recs(10))}
	p.Sink = &streamtest.SkewCheck{Model: p.Model, Next: next}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(next.Records()); got != 10 {
		t.Fatalf("Next got %d records, want 10", got)
	}
	if next.Closed() != 1 {
		t.Fatalf("Run closed the SkewCheck's Next %d times, want 1 (the same Collector as the Sink itself is closed once)", next.Closed())
	}
}

// weight is a Predictor part; lossy decodes it at float32 precision, as a
// careless encoder of one's own might.
type weight struct{ w float64 }

func (p *weight) Predict(x []float64) (float64, error) { return x[0] * p.w, nil }
func (p *weight) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(p.w)), nil
}

type lossy struct{ weight }

func init() {
	stream.RegisterPart("streamtest_test.weight", func(b []byte) (*weight, error) {
		return &weight{math.Float64frombits(binary.LittleEndian.Uint64(b))}, nil
	})
	stream.RegisterPart("streamtest_test.lossy", func(b []byte) (*lossy, error) {
		return &lossy{weight{float64(float32(math.Float64frombits(binary.LittleEndian.Uint64(b))))}}, nil
	})
}

func TestTestModelEncoding(t *testing.T) {
	rows := [][]float64{{1, 2}, {3, 4}}
	good := &stream.Model{Schema: schema, Predictor: &weight{0.1}, Version: 1}
	assert.Empty(t, failure(func(t testing.TB) { streamtest.TestModelEncoding(t, good, rows) }))

	bad := &stream.Model{Schema: schema, Predictor: &lossy{weight{0.1}}, Version: 1}
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestModelEncoding(t, bad, rows) }), "encodes to")

	unsaved := &stream.Model{Schema: schema, Predictor: stream.PredictFunc(func([]float64) (float64, error) { return 0, nil }), Version: 1}
	assert.Contains(t, failure(func(t testing.TB) { streamtest.TestModelEncoding(t, unsaved, rows) }), "not a registered part")
}
