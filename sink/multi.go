package sink

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/forestream/forestream/stream"
)

// Multi fans each batch out to several sinks, in order.
type Multi struct {
	sinks  []stream.Sink
	mu     sync.Mutex // lets Close come from another goroutine than Write
	closed bool
}

// NewMulti returns a Sink that writes to each of sinks in turn.
func NewMulti(sinks ...stream.Sink) *Multi {
	return &Multi{sinks: append([]stream.Sink(nil), sinks...)}
}

// Write writes b to each sink in order and stops at the first error, which
// it returns as a *MultiError naming the sink's index; the sinks after it do
// not get the batch, because the run is about to stop anyway. Each sink gets
// the same batch, so none may change it.
func (m *Multi) Write(ctx context.Context, b stream.ScoredBatch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i, s := range m.sinks {
		if err := s.Write(ctx, b); err != nil {
			return &MultiError{Index: i, Err: err}
		}
	}
	return nil
}

// Close closes every sink that is an io.Closer, in order, even after one
// fails, and returns their errors joined, each as a *MultiError. Only the
// first call closes anything.
func (m *Multi) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for i, s := range m.sinks {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, &MultiError{Index: i, Err: err})
			}
		}
	}
	return errors.Join(errs...)
}
