package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"

	"github.com/forestream/forestream/sink"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

func ExampleLog() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug, // Info shows the summaries only
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			// Drop what changes from run to run, to keep this example's
			// output fixed.
			if a.Key == slog.TimeKey || a.Key == "per_sec" {
				return slog.Attr{}
			}
			return a
		},
	}))
	s := &sink.Log{
		Logger: logger,
		Schema: stream.Schema{Features: []string{"age", "weekly_hours"}, Target: "salary"},
	}
	defer s.Close() // the pipeline closes it for you; Close writes the final summary

	_ = s.Write(context.Background(), stream.ScoredBatch{
		Records: []stream.Record{
			{Features: []float64{34, 40}, Target: 72000, Attrs: map[string]string{"name": "Ann Lee", "city": "Oslo"}},
			{Features: []float64{51, 22.5}, Target: math.NaN(), Attrs: map[string]string{"name": "Bo Park", "city": "Lima"}},
			{Features: []float64{29, 45}, Target: 61000, Attrs: map[string]string{"name": "Cy Diaz", "city": "Rome"}},
		},
		Predictions:  []float64{70512.25, 48010.9, 64233.3},
		ModelVersion: 3,
	})
	// Output:
	// level=DEBUG msg=record age=34 weekly_hours=40 salary=72000 prediction=70512 model=3 city=Oslo name="Ann Lee"
	// level=DEBUG msg=record age=51 weekly_hours=22.5 prediction=48011 model=3 city=Lima name="Bo Park"
	// level=DEBUG msg=record age=29 weekly_hours=45 salary=61000 prediction=64233 model=3 city=Rome name="Cy Diaz"
	// level=INFO msg="final summary" records=3 model=3 mae=2361 rmse=2517 r2=0.791
}

func ExampleJSONL() {
	var out bytes.Buffer
	s := sink.NewJSONL(&out, stream.Schema{Features: []string{"age"}, Target: "salary"})
	_ = s.Write(context.Background(), stream.ScoredBatch{
		Records:      []stream.Record{{Key: "p1", Features: []float64{34}, Target: 72000, Attrs: map[string]string{"city": "Oslo"}}},
		Predictions:  []float64{70512.25},
		ModelVersion: 3,
	})
	fmt.Print(out.String()) // each Write has reached the writer when it returns
	_ = s.Close()
	// Output:
	// {"key":"p1","age":34,"salary":72000,"prediction":70512.25,"model_version":3,"city":"Oslo"}
}

// A program consumes the scored batches while the pipeline runs, and keeps
// receiving until Run returns: after a cancellation the pipeline still
// drains the batches it has read into the channel.
func ExampleChan() {
	schema := stream.Schema{Features: []string{"x"}, Target: "y"}
	var records []stream.Record
	for i := range 1000 {
		records = append(records, stream.Record{Features: []float64{float64(i)}, Target: float64(2 * i)})
	}
	ch := make(chan stream.ScoredBatch)
	p := &stream.Pipeline{
		Source: streamtest.NewSlice(schema, records),
		Sink:   sink.NewChan(ch),
		Logger: slog.New(slog.DiscardHandler),
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	received := 0
	for {
		select {
		case b := <-ch:
			received += b.Len()
			continue
		case err := <-done:
			fmt.Println("run:", err, "records received:", received)
		}
		break
	}
	// Output:
	// run: <nil> records received: 1000
}

func ExampleNewMulti() {
	s := sink.NewMulti(
		sink.Discard,
		sink.Func(func(context.Context, stream.ScoredBatch) error { return fmt.Errorf("disk full") }),
	)
	err := s.Write(context.Background(), stream.ScoredBatch{})
	fmt.Println(err)
	// Output:
	// sink: multi: sink 1: disk full
}
