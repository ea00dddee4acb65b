package sink

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

// benchBatch is a batch of 1,000 default Faker people with predictions.
func benchBatch(b *testing.B) (stream.Schema, stream.ScoredBatch) {
	src := &source.Faker{Seed: 1}
	raw, _, err := src.Read(context.Background(), 1000)
	if err != nil {
		b.Fatal(err)
	}
	sb := stream.ScoredBatch{Records: raw.Records, ModelVersion: 12}
	for _, r := range raw.Records {
		sb.Predictions = append(sb.Predictions, source.PeopleSalary(r.Features))
	}
	return src.Schema(), sb
}

func benchSink(b *testing.B, s stream.Sink, batch stream.ScoredBatch) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N * batch.Len())
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
}

// BenchmarkLogSummary is Log at its default level, Info: summaries only.
func BenchmarkLogSummary(b *testing.B) {
	schema, batch := benchBatch(b)
	l := &Log{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Schema: schema}
	benchSink(b, l, batch)
	_ = l.Close()
}

// BenchmarkLogDebug logs every record, for comparison.
func BenchmarkLogDebug(b *testing.B) {
	schema, batch := benchBatch(b)
	l := &Log{Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})), Schema: schema}
	benchSink(b, l, batch)
	_ = l.Close()
}

func BenchmarkJSONL(b *testing.B) {
	schema, batch := benchBatch(b)
	j := NewJSONL(io.Discard, schema)
	benchSink(b, j, batch)
	_ = j.Close()
}
