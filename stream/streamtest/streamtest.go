// Package streamtest helps test stream stages: an in-memory Slice source
// that records its acknowledgements, a Collector sink, and conformance checks
// (TestSource, TestSink, TestTransformer, TestTrainer) that a stage's author
// runs from their own tests to check it keeps the contracts of package stream.
//
// Run those tests with -race: TestTransformer and TestTrainer use the stage
// from many goroutines at once, as a Pipeline and its Models may, and a
// data race in a stage that is not safe for concurrent use often gives
// right answers without the race detector.
package streamtest

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/forestream/forestream/stream"
)

// Slice is a Source over records in memory. It hands out batches of at most
// the size asked for, then returns End (io.EOF when End is nil). It records
// every acknowledgement so tests can check each batch was acknowledged once.
type Slice struct {
	schema  stream.Schema
	records []stream.Record
	// End is returned once the records are used up; nil means io.EOF.
	End error
	// BeforeRead, if set, is called before each read that has records to
	// give, with the offset of the first; an error it returns is returned by
	// Read. Tests use it to hold the stream until something has happened.
	BeforeRead func(ctx context.Context, offset int) error

	mu   sync.Mutex
	pos  int
	acks []AckRecord
}

// AckRecord is what Slice saw of one batch's acknowledgement.
type AckRecord struct {
	Size  int   // records in the batch
	Calls int   // how many times its AckFunc was called; the contract says 1
	Err   error // the error of the first call
}

// NewSlice returns a Slice source of the records, with the schema.
func NewSlice(schema stream.Schema, records []stream.Record) *Slice {
	return &Slice{schema: schema, records: records}
}

// Schema returns the schema given to NewSlice.
func (s *Slice) Schema() stream.Schema { return s.schema }

// Read returns the next batch of at most max records.
func (s *Slice) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return stream.Batch{}, nil, err
	}
	if s.BeforeRead != nil {
		s.mu.Lock()
		pos, n := s.pos, len(s.records)
		s.mu.Unlock()
		if pos < n {
			if err := s.BeforeRead(ctx, pos); err != nil {
				return stream.Batch{}, nil, err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pos >= len(s.records) {
		if s.End != nil {
			return stream.Batch{}, nil, s.End
		}
		return stream.Batch{}, nil, io.EOF
	}
	end := min(s.pos+max, len(s.records))
	b := stream.Batch{Records: s.records[s.pos:end:end]}
	s.pos = end
	i := len(s.acks)
	s.acks = append(s.acks, AckRecord{Size: b.Len()})
	return b, func(_ context.Context, err error) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.acks[i].Calls == 0 {
			s.acks[i].Err = err
		}
		s.acks[i].Calls++
		return nil
	}, nil
}

// Acks returns what was seen of each batch's acknowledgement, in read order.
func (s *Slice) Acks() []AckRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AckRecord(nil), s.acks...)
}

// CheckAcks returns an error unless every batch read was acknowledged exactly
// once; it names the first batch that was not.
func (s *Slice) CheckAcks() error {
	for i, a := range s.Acks() {
		if a.Calls != 1 {
			return fmt.Errorf("streamtest: batch %d (%d records) acknowledged %d times", i, a.Size, a.Calls)
		}
	}
	return nil
}

// Collector is a Sink that keeps a copy of every batch written to it. It is
// safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	batches []stream.ScoredBatch
	closed  int
	// Err, when set, is returned by every Write (the batch is not kept).
	Err error
}

// Write keeps a copy of b.
func (c *Collector) Write(_ context.Context, b stream.ScoredBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Err != nil {
		return c.Err
	}
	cp := stream.ScoredBatch{ModelVersion: b.ModelVersion, Predictions: append([]float64(nil), b.Predictions...)}
	for _, r := range b.Records {
		cp.Records = append(cp.Records, r.Clone())
	}
	c.batches = append(c.batches, cp)
	return nil
}

// Close counts the calls, so tests can check the pipeline closed the sink.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed++
	return nil
}

// Closed returns how many times Close was called.
func (c *Collector) Closed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Batches returns the batches written so far.
func (c *Collector) Batches() []stream.ScoredBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]stream.ScoredBatch(nil), c.batches...)
}

// Records returns every record written so far, in order, with the
// prediction and model version each was written with.
func (c *Collector) Records() []Scored {
	var out []Scored
	for _, b := range c.Batches() {
		for i, r := range b.Records {
			out = append(out, Scored{Record: r, Prediction: b.Predictions[i], ModelVersion: b.ModelVersion})
		}
	}
	return out
}

// Scored is one record as a Sink received it.
type Scored struct {
	stream.Record
	Prediction   float64
	ModelVersion uint64
}

// errorf builds the errors of the conformance checks.
func errorf(format string, args ...any) error { return fmt.Errorf("streamtest: "+format, args...) }

// safely calls f and turns a panic into a *panicError.
func safely(what string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{msg: fmt.Sprintf("streamtest: %s panicked: %v", what, v)}
		}
	}()
	return f()
}

// panicError is a panic caught by safely: a broken contract even where an
// error would have been right.
type panicError struct{ msg string }

func (e *panicError) Error() string { return e.msg }
