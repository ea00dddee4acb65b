package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

var people = stream.Schema{Features: []string{"age", "hours"}, Target: "salary"}

func TestJSONLFormat(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, people)
	b := stream.ScoredBatch{
		Records: []stream.Record{
			{
				Time: time.Date(2026, 1, 2, 15, 4, 5, 600, time.UTC), Key: "k1",
				Features: []float64{34, 40.5}, Target: 72000,
				Attrs: map[string]string{"name": "Ann", "city": "Oslo"},
			},
			{Features: []float64{1e21, -0.000001}, Target: math.NaN()},
		},
		Predictions:  []float64{70512.25, math.NaN()},
		ModelVersion: 3,
	}
	require.NoError(t, j.Write(context.Background(), b))
	assert.Zero(t, buf.Len(), "buffered until Close")
	require.NoError(t, j.Close())
	assert.Equal(t,
		`{"time":"2026-01-02T15:04:05.0000006Z","key":"k1","age":34,"hours":40.5,"salary":72000,"prediction":70512.25,"model_version":3,"city":"Oslo","name":"Ann"}`+"\n"+
			`{"age":1e+21,"hours":-1e-06,"salary":null,"prediction":null,"model_version":3}`+"\n",
		buf.String())
}

func TestJSONLWithoutSchema(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, stream.Schema{})
	require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{
		Records:     []stream.Record{{Features: []float64{1, 2}, Target: 3}},
		Predictions: nil, // a short prediction slice is written as null, not a panic
	}))
	require.NoError(t, j.Close())
	assert.Equal(t, `{"x0":1,"x1":2,"target":3,"prediction":null,"model_version":0}`+"\n", buf.String())
}

func TestJSONLEscapesStrings(t *testing.T) {
	nasty := []string{"quote \" and \\ backslash", "tab\tnew\nline\r", "\x00\x01\x1f", "héllo, 世界", "bad \xff utf8", "</script>"}
	var buf bytes.Buffer
	j := NewJSONL(&buf, stream.Schema{Features: []string{"we\"ird"}})
	for _, s := range nasty {
		require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{
			Records:     []stream.Record{{Features: []float64{1}, Key: s, Attrs: map[string]string{s: s}}},
			Predictions: []float64{0},
		}))
	}
	require.NoError(t, j.Close())
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, got, len(nasty))
	for i, l := range got {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		want := strings.ToValidUTF8(nasty[i], "\uFFFD")
		assert.Equal(t, want, m["key"])
		assert.Equal(t, want, m[want])
		assert.EqualValues(t, 1, m["we\"ird"])
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	recs := make([]stream.Record, 50)
	preds := make([]float64, 50)
	for i := range recs {
		recs[i] = stream.Record{
			Key:      "k" + string(rune('a'+i%26)),
			Features: []float64{float64(i) / 3, math.Pi * float64(i)},
			Target:   float64(i) * 1.1,
			Attrs:    map[string]string{"city": "Oslo"},
			Time:     time.Date(2026, 1, 2, 15, 4, i, 0, time.UTC),
		}
		preds[i] = float64(i)
	}
	recs[7].Target = math.NaN()
	var buf bytes.Buffer
	j := NewJSONL(&buf, people)
	require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{Records: recs, Predictions: preds, ModelVersion: 2}))
	require.NoError(t, j.Close())

	src, err := source.NewJSONL(&buf, source.JSONLOptions{Columns: source.Columns{
		Target: "salary", Key: "key", Attrs: []string{"city"}, Ignore: []string{"time", "prediction", "model_version"},
	}})
	require.NoError(t, err)
	assert.Equal(t, people, src.Schema())
	b, _, err := src.Read(context.Background(), 100)
	require.NoError(t, err)
	require.Equal(t, len(recs), b.Len())
	for i, r := range b.Records {
		assert.Equal(t, recs[i].Features, r.Features, "full precision survives")
		assert.Equal(t, recs[i].Key, r.Key)
		assert.Equal(t, recs[i].Attrs, r.Attrs)
		if i == 7 {
			assert.False(t, r.Labeled())
		} else {
			assert.Equal(t, recs[i].Target, r.Target)
		}
	}
}

func TestJSONLFlushesWhenCancelled(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, people)
	require.NoError(t, j.Write(context.Background(), scored2(3)))
	assert.Zero(t, buf.Len())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, j.Write(ctx, scored2(2)), "the batch is still written")
	assert.Equal(t, 5, strings.Count(buf.String(), "\n"), "and everything is flushed")

	require.NoError(t, j.Write(context.Background(), scored2(1)))
	require.NoError(t, j.Flush())
	assert.Equal(t, 6, strings.Count(buf.String(), "\n"))
	require.NoError(t, j.Close())
	assert.NoError(t, j.Close(), "Close twice is harmless")
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), ErrClosed)
	assert.ErrorIs(t, j.Flush(), ErrClosed)
}

func scored2(n int) stream.ScoredBatch {
	b := stream.ScoredBatch{ModelVersion: 1}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, stream.Record{Features: []float64{1, 2}, Target: 3})
		b.Predictions = append(b.Predictions, 3)
	}
	return b
}

type failingWriter struct {
	err     error
	written int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.written += len(p)
	return 0, w.err
}

func TestJSONLFailingWriter(t *testing.T) {
	boom := errors.New("disk full")
	w := &failingWriter{err: boom}
	j := NewJSONL(w, people)
	require.NoError(t, j.Write(context.Background(), scored2(2)), "still in the buffer")
	err := j.Close()
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "sink: jsonl: write")

	// A batch larger than the buffer fails in Write itself, and the error sticks.
	j = NewJSONL(&failingWriter{err: boom}, people)
	err = j.Write(context.Background(), scored2(5000))
	assert.ErrorIs(t, err, boom)
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), boom)
	assert.ErrorIs(t, j.Flush(), boom)
}

func TestJSONLClosedWriter(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.jsonl"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	j := NewJSONL(f, people)
	require.NoError(t, j.Write(context.Background(), scored2(1)))
	assert.ErrorIs(t, j.Close(), os.ErrClosed)

	pr, pw := io.Pipe()
	require.NoError(t, pr.Close())
	j = NewJSONL(pw, people)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, j.Write(ctx, scored2(1)), io.ErrClosedPipe, "the flush on cancellation reports it")
}
