package source

import (
	"context"
	"io"

	"github.com/forestream/forestream/stream"
)

// Slice is a source over records in memory, for tests and small data sets.
// Its batches share the records' Features and Attrs with the slice it was
// given (nothing is copied), so leave those alone while it is read.
type Slice struct {
	schema stream.Schema
	recs   []stream.Record
	next   int
}

// NewSlice returns a source that reads recs in order, then io.EOF.
func NewSlice(schema stream.Schema, recs []stream.Record) *Slice {
	return &Slice{schema: schema, recs: recs}
}

// Schema returns the schema NewSlice was given.
func (s *Slice) Schema() stream.Schema { return s.schema }

// Read returns the next max records, or io.EOF when none are left.
func (s *Slice) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return stream.Batch{}, nil, err
	}
	if max <= 0 {
		return stream.Batch{}, nil, invalidConfigf("slice", "read of %d records", max)
	}
	if s.next >= len(s.recs) {
		return stream.Batch{}, nil, io.EOF
	}
	end := min(s.next+max, len(s.recs))
	// The full slice expression keeps a stage that appends to the batch
	// from writing over the records after it.
	b := stream.Batch{Records: s.recs[s.next:end:end]}
	s.next = end
	return b, nil, nil
}

// Remaining returns the number of records not read yet.
func (s *Slice) Remaining() int { return len(s.recs) - s.next }
