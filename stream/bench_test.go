package stream_test

import (
	"context"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// repeatSource hands out the same batch until total records have been read:
// a source that costs nothing, so a benchmark measures the pipeline alone.
func repeatSource(batch []stream.Record, total int, onRead func(read int)) stream.Source {
	read := 0
	return stream.SourceFunc(testSchema, func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		if err := ctx.Err(); err != nil {
			return stream.Batch{}, nil, err
		}
		if read >= total {
			return stream.Batch{}, nil, io.EOF
		}
		n := min(max, len(batch), total-read)
		read += n
		if onRead != nil {
			onRead(read)
		}
		return stream.Batch{Records: batch[:n]}, nil, nil
	})
}

var constantTrainer = stream.TrainFunc(func(context.Context, stream.Schema, [][]float64, []float64) (stream.Predictor, error) {
	return stream.PredictFunc(func([]float64) (float64, error) { return 0, nil }), nil
})

var discard = stream.SinkFunc(func(context.Context, stream.ScoredBatch) error { return nil })

// BenchmarkPassThrough measures the pipeline's own cost per record: a free
// source, one no-op transformer, a constant predictor and a discarding sink.
// "scoring" serves a fixed model and never retrains; "retraining" also keeps
// the default window and retrains at the default cadence, which with a
// trainer this fast means a retrain every 2,000 records, each copying the
// 10,000-record window. "fitting after a transformer" serves the fixed
// model while a Fitter behind the transformer learns, which costs a copy of
// each batch's features for the transformer to work on.
func BenchmarkPassThrough(b *testing.B) {
	noop := stream.TransformFunc(func(context.Context, *stream.Batch) error { return nil })
	constant, _ := constantTrainer.Train(context.Background(), testSchema, nil, nil)
	initial := &stream.Model{Schema: testSchema, Transformers: []stream.Transformer{noop}, Predictor: constant, Version: 1}
	for _, bc := range []struct {
		name    string
		trainer stream.Trainer
		fitter  bool
	}{{"scoring", nil, false}, {"retraining", constantTrainer, false}, {"fitting after a transformer", nil, true}} {
		b.Run(bc.name, func(b *testing.B) {
			batch := records(stream.DefaultBatchSize, 1, 0)
			transformers := []stream.Transformer{noop}
			if bc.fitter {
				transformers = append(transformers, &meanScaler{})
			}
			b.ReportAllocs()
			p := &stream.Pipeline{
				Source:       repeatSource(batch, b.N, nil),
				Transformers: transformers,
				Trainer:      bc.trainer,
				InitialModel: initial,
				Sink:         discard,
				Logger:       quiet,
			}
			b.ResetTimer()
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if p.Stats().Scored != uint64(b.N) {
				b.Fatalf("scored %d of %d records", p.Stats().Scored, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(p.Stats().Batches), "records/batch")
		})
	}
}

// TestMemoryStaysBounded pushes 5 million records through a pipeline with a
// 10,000-record window and checks the live heap after them is within 1.5×
// of the heap after the first 500,000. Each figure is the least of the live
// heaps measured over the 32 batches before that point, so that a window
// copy on its way to the trainer at the moment of one measurement does not
// count as growth; a leak of the stream into memory would add over 100 MB.
func TestMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 5 million records")
	}
	const total, early, span = 5_000_000, 500_000, 32 * stream.DefaultBatchSize
	batch := records(stream.DefaultBatchSize, 2, 0)
	heapEarly, heapLate := uint64(math.MaxUint64), uint64(math.MaxUint64)
	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	src := repeatSource(batch, total, func(read int) {
		switch {
		case read > early-span && read <= early:
			heapEarly = min(heapEarly, live())
		case read > total-span:
			heapLate = min(heapLate, live())
		}
	})
	p := &stream.Pipeline{Source: src, Trainer: constantTrainer, Sink: discard, Window: 10_000, Logger: quiet}
	require.NoError(t, p.Run(context.Background()))
	require.EqualValues(t, total, p.Stats().Written)
	t.Logf("live heap after %d records: %d KiB; after %d: %d KiB", early, heapEarly>>10, total, heapLate>>10)
	assert.LessOrEqual(t, float64(heapLate), 1.5*float64(heapEarly))
}
