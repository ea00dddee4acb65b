package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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
	"github.com/forestream/forestream/stream/streamtest"
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
		Target: "salary", Key: "key", Time: "time", Attrs: []string{"city"}, Ignore: []string{"prediction", "model_version"},
	}})
	require.NoError(t, err)
	assert.Equal(t, people, src.Schema())
	b, _, err := src.Read(context.Background(), 100)
	require.NoError(t, err)
	require.Equal(t, len(recs), b.Len())
	for i, r := range b.Records {
		assert.Equal(t, recs[i].Features, r.Features, "full precision survives")
		assert.Equal(t, recs[i].Key, r.Key)
		assert.True(t, recs[i].Time.Equal(r.Time), "time %v, want %v", r.Time, recs[i].Time)
		assert.Equal(t, recs[i].Attrs, r.Attrs)
		if i == 7 {
			assert.False(t, r.Labeled())
		} else {
			assert.Equal(t, recs[i].Target, r.Target)
		}
	}
}

func TestJSONLHandsEachBatchToTheWriter(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, people)
	require.NoError(t, j.Write(context.Background(), scored2(3)))
	assert.Equal(t, 3, strings.Count(buf.String(), "\n"), "the writer has the batch when Write returns")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, j.Write(ctx, scored2(2)), "a batch in flight is still written after cancellation")
	assert.Equal(t, 5, strings.Count(buf.String(), "\n"))

	require.NoError(t, j.Close())
	assert.NoError(t, j.Close(), "Close twice is harmless")
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), ErrClosed)
	assert.Equal(t, 5, strings.Count(buf.String(), "\n"))
}

// A Pipeline acknowledges a batch with nil once the Sink's Write returns
// nil, so a writer that fails must fail the Write of the records it
// refused, not a later Close.
func TestJSONLAcksOnlyWhatTheWriterAccepted(t *testing.T) {
	src := streamtest.NewSlice(people, peopleRecords(20))
	p := &stream.Pipeline{
		Source:    src,
		Sink:      NewJSONL(&failingWriter{err: errors.New("disk full")}, people),
		BatchSize: 5,
		Logger:    slog.New(slog.DiscardHandler),
	}
	err := p.Run(context.Background())
	require.ErrorContains(t, err, "disk full")
	acks := src.Acks()
	require.NotEmpty(t, acks)
	for i, a := range acks {
		assert.Error(t, a.Err, "batch %d of %d records was acknowledged as handled", i, a.Size)
	}
}

func TestJSONLWithoutWriter(t *testing.T) {
	for name, j := range map[string]*JSONL{"zero value": {}, "nil writer": NewJSONL(nil, people)} {
		err := j.Write(context.Background(), scored2(1))
		assert.ErrorContains(t, err, "no writer", name)
		assert.NoError(t, j.Close(), name)
	}
}

// An attribute named like a field of the line would make a second key of
// that name, and JSON readers keep the last one: the prediction, the
// target or a feature would be replaced by the attribute.
func TestJSONLAttributeNamedLikeAField(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, stream.Schema{Features: []string{"age"}})
	attrs := map[string]string{"prediction": "p", "target": "t", "age": "a", "x1": "f", "key": "k", "time": "tm", "model_version": "m", "city": "Oslo"}
	require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{
		Records:      []stream.Record{{Key: "r1", Time: time.Unix(0, 0).UTC(), Features: []float64{34, 2}, Target: 3, Attrs: attrs}},
		Predictions:  []float64{42},
		ModelVersion: 7,
	}))
	line := strings.TrimSpace(buf.String())
	assert.Empty(t, duplicates(jsonKeys(t, line)), "keys twice in %s", line)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m))
	assert.Equal(t, 42.0, m["prediction"])
	assert.Equal(t, 3.0, m["target"])
	assert.Equal(t, 34.0, m["age"])
	assert.Equal(t, 2.0, m["x1"])
	assert.Equal(t, "r1", m["key"])
	assert.Equal(t, 7.0, m["model_version"])
	for k, v := range attrs {
		if k == "city" {
			assert.Equal(t, v, m["city"])
			continue
		}
		assert.Equal(t, v, m["attr."+k], k)
	}
}

func peopleRecords(n int) []stream.Record {
	recs := make([]stream.Record, n)
	for i := range recs {
		recs[i] = stream.Record{Features: []float64{float64(20 + i), 40}, Target: float64(1000 * i)}
	}
	return recs
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
	err := j.Write(context.Background(), scored2(2))
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "sink: jsonl: write")
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), boom, "the error sticks")
	assert.NoError(t, j.Close(), "Write has reported it already")

	// A batch larger than the buffer fails as well.
	j = NewJSONL(&failingWriter{err: boom}, people)
	assert.ErrorIs(t, j.Write(context.Background(), scored2(5000)), boom)
}

func TestJSONLClosedWriter(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.jsonl"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	j := NewJSONL(f, people)
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), os.ErrClosed)

	pr, pw := io.Pipe()
	require.NoError(t, pr.Close())
	j = NewJSONL(pw, people)
	assert.ErrorIs(t, j.Write(context.Background(), scored2(1)), io.ErrClosedPipe)
}

// jsonKeys returns the keys of the JSON object on line, in order, repeats
// included.
func jsonKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var v any
		require.NoError(t, dec.Decode(&v))
	}
	return keys
}

func duplicates(keys []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, k := range keys {
		if seen[k] {
			dup = append(dup, k)
		}
		seen[k] = true
	}
	return dup
}

// An attribute renamed "attr.x", because a feature is called x, must not
// meet one called "attr.x".
func TestJSONLRenamedAttributeMeetsNoOther(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf, stream.Schema{Features: []string{"x"}})
	require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{
		Records:     []stream.Record{{Features: []float64{1}, Target: 2, Attrs: map[string]string{"x": "from x", "attr.x": "from attr.x"}}},
		Predictions: []float64{3},
	}))
	line := strings.TrimSpace(buf.String())
	assert.Empty(t, duplicates(jsonKeys(t, line)), "duplicate keys in %s", line)
}

func TestLogRenamedAttributeMeetsNoOther(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, -4), Schema: stream.Schema{Features: []string{"x"}}}
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{
		Records:     []stream.Record{{Features: []float64{1}, Target: 2, Attrs: map[string]string{"x": "from x", "attr.x": "from attr.x"}}},
		Predictions: []float64{3},
	}))
	line := strings.SplitN(strings.TrimSpace(buf.String()), "\n", 2)[0]
	assert.Empty(t, duplicates(jsonKeys(t, line)), "duplicate keys in %s", line)
}

// Log's record line starts with the handler's own time, level and msg.
func TestLogAttributeNamedLikeAHandlerKey(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, -4), Schema: stream.Schema{Features: []string{"x"}}}
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{
		Records:     []stream.Record{{Features: []float64{1}, Target: 2, Attrs: map[string]string{"msg": "m", "level": "l", "time": "t"}}},
		Predictions: []float64{3},
	}))
	line := strings.SplitN(strings.TrimSpace(buf.String()), "\n", 2)[0]
	assert.Empty(t, duplicates(jsonKeys(t, line)), "duplicate keys in %s", line)
}
