package sink_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/forestream/forestream/sink"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

// The stream.Sink contract, checked with the conformance suite users run on
// their own sinks.
func TestSinksKeepTheStreamContract(t *testing.T) {
	schema := stream.Schema{Features: []string{"a", "b"}, Target: "y"}
	var buf bytes.Buffer
	debug := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sinks := map[string]stream.Sink{
		"Log":     &sink.Log{Logger: debug, Schema: schema},
		"JSONL":   sink.NewJSONL(&buf, schema),
		"Multi":   sink.NewMulti(sink.Discard, sink.NewJSONL(&buf, schema)),
		"Discard": sink.Discard,
	}
	for name, s := range sinks {
		t.Run(name, func(t *testing.T) { streamtest.TestSink(t, s, schema) })
	}
}
