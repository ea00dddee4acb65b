package source

import (
	"context"
	"io"

	"github.com/forestream/forestream/stream"
)

// Chan is a source fed by a Go channel, for records that arrive from another
// part of a program. The stream ends with io.EOF once the channel is closed
// and drained.
type Chan struct {
	schema stream.Schema
	ch     <-chan stream.Record
	closed bool
}

// NewChan returns a source that reads ch.
func NewChan(schema stream.Schema, ch <-chan stream.Record) *Chan {
	return &Chan{schema: schema, ch: ch}
}

// Schema returns the schema NewChan was given.
func (c *Chan) Schema() stream.Schema { return c.schema }

// Read waits for the first record, then takes up to max−1 more that are
// already waiting, without waiting for the batch to fill: a slow producer
// gets small batches rather than late ones. It returns ctx.Err() if ctx is
// done while it waits.
func (c *Chan) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return stream.Batch{}, nil, err
	}
	if max <= 0 {
		return stream.Batch{}, nil, invalidConfigf("chan", "read of %d records", max)
	}
	if c.closed {
		return stream.Batch{}, nil, io.EOF
	}
	var first stream.Record
	select {
	case <-ctx.Done():
		return stream.Batch{}, nil, ctx.Err()
	case r, ok := <-c.ch:
		if !ok {
			c.closed = true
			return stream.Batch{}, nil, io.EOF
		}
		first = r
	}
	recs := make([]stream.Record, 1, min(max, 1+len(c.ch)))
	recs[0] = first
	for len(recs) < max {
		select {
		case r, ok := <-c.ch:
			if !ok {
				// Deliver what we have; the next Read reports the end.
				c.closed = true
				return stream.Batch{Records: recs}, nil, nil
			}
			recs = append(recs, r)
		default:
			return stream.Batch{Records: recs}, nil, nil
		}
	}
	return stream.Batch{Records: recs}, nil, nil
}
