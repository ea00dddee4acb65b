// Package sink holds forestream's sinks, the last stage of a pipeline: Log,
// the default, which reports what the model predicts through log/slog, and
// the everyday adapters JSONL, Multi, Chan, Func and Discard.
//
// Every sink implements stream.Sink. The Pipeline calls Write from one
// goroutine and, when a sink implements io.Closer, closes it once the run
// ends; Close is where Log writes its final summary, and calling it twice
// is harmless. A sink returns nil from Write only once the batch is where
// it sends it (the writer, the handler, the channel), since the Pipeline
// then acknowledges the batch to its Source.
package sink
