package streamtest

import (
	"context"
	"io"
	"math"
	"sync"

	"github.com/forestream/forestream/stream"
)

// SkewCheck is a Sink that checks a pipeline has no training–serving skew:
// for every batch scored by the model that is still current when it
// arrives, Model.Predict on each raw record must give the pipeline's score
// bit for bit. A Fitter whose Freeze shares state with the live Fitter fails
// it. Set Model to the pipeline's Model method; Next, if set, receives every
// batch afterwards.
type SkewCheck struct {
	Model func() *stream.Model
	Next  stream.Sink

	mu      sync.Mutex
	checked int
	err     error
}

// Write checks b against the current model, then hands it to Next.
func (c *SkewCheck) Write(ctx context.Context, b stream.ScoredBatch) error {
	if m := c.Model(); m != nil && m.Version == b.ModelVersion {
		for i, r := range b.Records {
			y, err := m.Predict(r.Features)
			c.mu.Lock()
			c.checked++
			if c.err == nil && err != nil {
				c.err = errorf("model v%d: record %d: %v", m.Version, c.checked, err)
			} else if c.err == nil && math.Float64bits(y) != math.Float64bits(b.Predictions[i]) {
				c.err = errorf("model v%d predicts %v for record %q, the pipeline scored it %v", m.Version, y, r.Key, b.Predictions[i])
			}
			c.mu.Unlock()
		}
	}
	if c.Next != nil {
		return c.Next.Write(ctx, b)
	}
	return nil
}

// Close closes Next if it is an io.Closer, so that the Pipeline, which
// closes its Sink, closes the sink SkewCheck wraps.
func (c *SkewCheck) Close() error {
	if cl, ok := c.Next.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Result returns how many records were checked and the first mismatch.
func (c *SkewCheck) Result() (checked int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked, c.err
}
