// Package source holds forestream's sources, the first stage of a pipeline:
// Faker, the default, which generates a reproducible stream of synthetic
// people with a known ground truth, and the everyday adapters Slice, Chan,
// Func, CSV and JSONL.
//
// Every source implements stream.Source. None has a batch size of its own:
// the batch size is the max argument of Read, which the Pipeline sets from its
// BatchSize, so one setting governs the whole run. A source returns io.EOF
// once the stream has ended and ctx.Err() once the context is cancelled. Func
// returns whatever AckFunc its function does; the other sources here have
// nothing to commit, so their AckFunc is nil.
package source
