// Package sink holds forestream's sinks, the last stage of a pipeline: Log,
// the default, which reports what the model predicts through log/slog, and
// the everyday adapters JSONL, Multi, Chan, Func and Discard.
//
// Every sink implements stream.Sink. The Pipeline calls Write from one
// goroutine and, when a sink implements io.Closer, closes it once the run
// ends; Close is where buffered sinks flush and where Log writes its final
// summary, and calling it twice is harmless.
package sink
