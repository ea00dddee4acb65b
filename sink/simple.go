package sink

import (
	"context"
	"errors"

	"github.com/forestream/forestream/stream"
)

// Func adapts a function to a Sink. It is stream.SinkFunc under a second
// name, so that every adapter can be found in this package.
type Func = stream.SinkFunc

// Discard is a Sink that drops every batch, for pipelines run only to train
// a model or to measure throughput.
var Discard stream.Sink = discard{}

type discard struct{}

func (discard) Write(context.Context, stream.ScoredBatch) error { return nil }

// Chan is a Sink that hands each scored batch to a Go channel, for the rest
// of a program to consume.
//
// A Pipeline drains the batches in flight after its context is cancelled,
// and the context it gives the Sink is not cancelled with it, so the
// receiver must keep receiving until Run returns: a receiver that stops
// at cancellation would leave Write, and so Run, waiting for ever. The
// Example shows the pattern.
type Chan struct {
	ch chan<- stream.ScoredBatch
}

// NewChan returns a Sink that sends to ch.
func NewChan(ch chan<- stream.ScoredBatch) *Chan { return &Chan{ch: ch} }

// Write sends a deep copy of b, since the pipeline may reuse b once Write
// returns; it waits for the receiver, or returns ctx.Err() if ctx is done
// first. It returns an error if Chan has no channel, rather than wait for
// ever on a nil one. Chan never closes ch: the pipeline's end is known from
// Run returning.
func (c *Chan) Write(ctx context.Context, b stream.ScoredBatch) error {
	if c.ch == nil {
		return errors.New("sink: chan: no channel: make Chan with NewChan and a non-nil channel")
	}
	cp := cloneBatch(b)
	select {
	case c.ch <- cp:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func cloneBatch(b stream.ScoredBatch) stream.ScoredBatch {
	n := 0
	for _, r := range b.Records {
		n += len(r.Features)
	}
	back := make([]float64, 0, n) // one allocation for all the features
	recs := make([]stream.Record, len(b.Records))
	for i, r := range b.Records {
		recs[i] = r
		start := len(back)
		back = append(back, r.Features...)
		recs[i].Features = back[start:len(back):len(back)]
		if r.Attrs != nil {
			a := make(map[string]string, len(r.Attrs))
			for k, v := range r.Attrs {
				a[k] = v
			}
			recs[i].Attrs = a
		}
	}
	return stream.ScoredBatch{
		Records:      recs,
		Predictions:  append([]float64(nil), b.Predictions...),
		ModelVersion: b.ModelVersion,
	}
}
