package sink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// A sink's errors start with "sink: ", as this package's do; inside a
// Multi, which starts with it already, the package is named once.
func TestMultiErrorSaysSinkOnce(t *testing.T) {
	boom := errors.New("disk full")
	inner := NewMulti(Discard, Func(func(context.Context, stream.ScoredBatch) error { return ErrClosed }))
	for _, tc := range []struct {
		name string
		s    stream.Sink
		want string
		is   error
	}{
		{"jsonl", NewJSONL(&failingWriter{err: boom}, people), "sink: multi: sink 1: jsonl: write: disk full", boom},
		{"closed", Func(func(context.Context, stream.ScoredBatch) error { return ErrClosed }), "sink: multi: sink 1: closed", ErrClosed},
		{"nested multi", inner, "sink: multi: sink 1: multi: sink 1: closed", ErrClosed},
		{"another package", Func(func(context.Context, stream.ScoredBatch) error { return boom }), "sink: multi: sink 1: disk full", boom},
		{"a word that starts like sink", Func(func(context.Context, stream.ScoredBatch) error { return errors.New("sinkhole: full") }), "sink: multi: sink 1: sinkhole: full", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewMulti(Discard, tc.s).Write(context.Background(), scored2(1))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			var me *MultiError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, 1, me.Index)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
}

// An exported type can be built by hand; its Error must not panic then.
func TestMultiErrorWithoutErr(t *testing.T) {
	assert.Equal(t, "sink: multi: sink 2: failed", (&MultiError{Index: 2}).Error())
}

// os and net name the operation that failed ("write /path: …"): JSONL then
// does not say "write" a second time.
func TestJSONLWriteErrorSaysWriteOnce(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.jsonl"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	err = NewJSONL(f, people).Write(context.Background(), scored2(1))
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, "sink: jsonl: write "+f.Name()+": file already closed", err.Error())

	err = NewJSONL(&failingWriter{err: errors.New("disk full")}, people).Write(context.Background(), scored2(1))
	assert.Equal(t, "sink: jsonl: write: disk full", err.Error(), "an error that names no operation gets one")
}
