package source

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

var xy = stream.Schema{Features: []string{"x"}, Target: "y"}

func recsN(n int) []stream.Record {
	out := make([]stream.Record, n)
	for i := range out {
		out[i] = stream.Record{Features: []float64{float64(i)}, Target: float64(i)}
	}
	return out
}

func TestSlice(t *testing.T) {
	in := recsN(5)
	src := NewSlice(xy, in)
	assert.Equal(t, xy, src.Schema())
	b, _, err := src.Read(context.Background(), 2)
	require.NoError(t, err)
	assert.Equal(t, in[:2], b.Records)
	assert.Equal(t, 3, src.Remaining())

	// Appending to a batch must not overwrite the records after it.
	_ = append(b.Records, stream.Record{Key: "intruder"})
	assert.Empty(t, in[2].Key)

	rest := readAll(t, src, 2)
	assert.Equal(t, in[2:], rest)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = NewSlice(xy, in).Read(ctx, 2)
	assert.ErrorIs(t, err, context.Canceled)
	_, _, err = NewSlice(xy, in).Read(context.Background(), -1)
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

func TestChan(t *testing.T) {
	ch := make(chan stream.Record, 10)
	src := NewChan(xy, ch)
	assert.Equal(t, xy, src.Schema())
	for _, r := range recsN(3) {
		ch <- r
	}
	b, ack, err := src.Read(context.Background(), 2)
	require.NoError(t, err)
	assert.Nil(t, ack)
	assert.Equal(t, recsN(3)[:2], b.Records)

	// Only one record is waiting: Read returns it rather than wait for two.
	b, _, err = src.Read(context.Background(), 2)
	require.NoError(t, err)
	assert.Equal(t, 1, b.Len())

	ch <- recsN(1)[0]
	close(ch)
	b, _, err = src.Read(context.Background(), 5)
	require.NoError(t, err)
	assert.Equal(t, 1, b.Len(), "the records before the close are delivered")
	_, _, err = src.Read(context.Background(), 5)
	assert.ErrorIs(t, err, io.EOF)
	_, _, err = src.Read(context.Background(), 5)
	assert.ErrorIs(t, err, io.EOF)
}

func TestChanClosedEmpty(t *testing.T) {
	ch := make(chan stream.Record)
	close(ch)
	_, _, err := NewChan(xy, ch).Read(context.Background(), 5)
	assert.ErrorIs(t, err, io.EOF)
}

func TestChanCancelWhileWaiting(t *testing.T) {
	src := NewChan(xy, make(chan stream.Record))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, _, err := src.Read(ctx, 5)
		done <- err
	}()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	_, _, err := src.Read(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

func TestFunc(t *testing.T) {
	calls := 0
	src := Func(xy, func(_ context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		calls++
		if calls > 1 {
			return stream.Batch{}, nil, io.EOF
		}
		return stream.Batch{Records: recsN(max)}, nil, nil
	})
	assert.Equal(t, xy, src.Schema())
	assert.Len(t, readAll(t, src, 4), 4)
	assert.Equal(t, 2, calls)
}

func TestPolicyString(t *testing.T) {
	assert.Equal(t, "fail", Fail.String())
	assert.Equal(t, "skip", Skip.String())
	assert.Equal(t, "Policy(7)", Policy(7).String())
}
