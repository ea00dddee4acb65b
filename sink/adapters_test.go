package sink

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// recorder is a sink that remembers what happened to it.
type recorder struct {
	name   string
	log    *[]string
	err    error
	close  error
	closed int
}

func (r *recorder) Write(context.Context, stream.ScoredBatch) error {
	*r.log = append(*r.log, "write "+r.name)
	return r.err
}

func (r *recorder) Close() error {
	r.closed++
	*r.log = append(*r.log, "close "+r.name)
	return r.close
}

func TestMulti(t *testing.T) {
	var log []string
	a, b := &recorder{name: "a", log: &log}, &recorder{name: "b", log: &log}
	plain := Func(func(context.Context, stream.ScoredBatch) error { log = append(log, "write plain"); return nil })
	m := NewMulti(a, plain, b)
	require.NoError(t, m.Write(context.Background(), scored2(1)))
	assert.Equal(t, []string{"write a", "write plain", "write b"}, log, "in order")

	log = nil
	require.NoError(t, m.Close())
	assert.Equal(t, []string{"close a", "close b"}, log, "closes the closers")
	require.NoError(t, m.Close())
	assert.Equal(t, 1, a.closed, "only once")
	assert.ErrorIs(t, m.Write(context.Background(), scored2(1)), ErrClosed)
}

func TestMultiErrorNamesTheSink(t *testing.T) {
	var log []string
	boom := errors.New("boom")
	m := NewMulti(&recorder{name: "a", log: &log}, &recorder{name: "b", log: &log, err: boom}, &recorder{name: "c", log: &log})
	err := m.Write(context.Background(), scored2(1))
	var me *MultiError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, 1, me.Index)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "sink: multi: sink 1: boom", err.Error())
	assert.Equal(t, []string{"write a", "write b"}, log, "the sinks after the failing one are skipped")
}

func TestMultiCloseJoinsErrors(t *testing.T) {
	var log []string
	e0, e2 := errors.New("zero"), errors.New("two")
	m := NewMulti(&recorder{name: "a", log: &log, close: e0}, &recorder{name: "b", log: &log}, &recorder{name: "c", log: &log, close: e2})
	err := m.Close()
	assert.ErrorIs(t, err, e0)
	assert.ErrorIs(t, err, e2)
	assert.Equal(t, []string{"close a", "close b", "close c"}, log, "a failing Close does not stop the others")
	assert.Contains(t, err.Error(), "sink 2: two")
}

func TestChan(t *testing.T) {
	ch := make(chan stream.ScoredBatch, 1)
	c := NewChan(ch)
	b := stream.ScoredBatch{
		Records:      []stream.Record{{Features: []float64{1, 2}, Target: 3, Attrs: map[string]string{"a": "b"}}, {Features: []float64{4}}},
		Predictions:  []float64{5, 6},
		ModelVersion: 7,
	}
	require.NoError(t, c.Write(context.Background(), b))
	got := <-ch
	want := stream.ScoredBatch{
		Records:      []stream.Record{{Features: []float64{1, 2}, Target: 3, Attrs: map[string]string{"a": "b"}}, {Features: []float64{4}}},
		Predictions:  []float64{5, 6},
		ModelVersion: 7,
	}
	// The pipeline may reuse its batch once Write returns.
	b.Records[0].Features[0] = 100
	b.Records[0].Attrs["a"] = "changed"
	b.Predictions[0] = 100
	assert.Equal(t, want, got)
	got.Records[0].Features = append(got.Records[0].Features, 9)
	assert.Equal(t, []float64{4}, got.Records[1].Features, "copies do not share room")
}

func TestChanCancelWhileBlocked(t *testing.T) {
	c := NewChan(make(chan stream.ScoredBatch))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Write(ctx, scored2(1)) }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestDiscardAndFunc(t *testing.T) {
	assert.NoError(t, Discard.Write(context.Background(), scored2(3)))
	_, closer := Discard.(io.Closer)
	assert.False(t, closer)

	var got int
	var s stream.Sink = Func(func(_ context.Context, b stream.ScoredBatch) error { got += b.Len(); return nil })
	require.NoError(t, s.Write(context.Background(), scored2(4)))
	assert.Equal(t, 4, got)
}

func TestChanWithoutChannel(t *testing.T) {
	for name, c := range map[string]*Chan{"zero value": {}, "nil channel": NewChan(nil)} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a Write that waited would return ctx.Err()
		err := c.Write(ctx, scored2(1))
		assert.ErrorContains(t, err, "no channel", name)
		assert.NotErrorIs(t, err, context.Canceled, name)
	}
}
