// Package stream is the core of forestream: the Record, Batch and Schema
// that flow through a pipeline, the small interfaces every stage implements
// (Source, Transformer, Fitter, Trainer, Predictor, Sink), the versioned
// Model a service queries (and saves, with MarshalBinary, to start its next
// run from), and the Pipeline that runs them.
//
// The package depends on the standard library only.
package stream
