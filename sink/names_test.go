package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

// awkward are schemas whose names meet the sinks' own fields, each other,
// and each other's renamed forms. stream.Schema.Validate accepts all but
// the ones with repeated features: a CSV may well have a column called
// time or level. The sinks get no say in the schema, so they must cope
// with the invalid ones too.
var awkward = map[string]stream.Schema{
	"jsonl fields":        {Features: []string{"time", "key", "prediction", "model_version"}, Target: "y"},
	"log fields":          {Features: []string{"level", "msg", "model", "source"}, Target: "time"},
	"target like a field": {Features: []string{"a"}, Target: "prediction"},
	"renamed forms":       {Features: []string{"time", "feature.time", "feature.feature.time"}, Target: "feature.time"},
	"renamed forms first": {Features: []string{"feature.time", "time", "target.time"}, Target: "time"},
	"attr. names":         {Features: []string{"attr.x", "x", "attr.attr.x", "feature.attr.x"}, Target: "attr.y"},
	"target like feature": {Features: []string{"y", "target.y"}, Target: "y"},
	"default target":      {Features: []string{"target", "target.target"}},
	"generic names":       {Features: []string{"x3", "feature.x3", "x4"}, Target: "feature.x4"},
	"repeated features":   {Features: []string{"a", "a", "feature.a", "a"}, Target: "a"},
	"empty names":         {Features: []string{"", ""}},
	"no schema":           {},
}

// awkwardRecord has two features beyond the schema, which get generic
// names, and an attribute for every name the line could hold, renamed or
// not, each with a value of its own.
func awkwardRecord(schema stream.Schema, fields ...string) stream.Record {
	n := len(schema.Features) + 2
	r := stream.Record{Key: "k", Time: time.Unix(0, 0).UTC(), Target: 7, Attrs: map[string]string{}}
	names := append([]string{schema.Target, "target"}, fields...)
	names = append(names, schema.Features...)
	for i := range n {
		r.Features = append(r.Features, float64(1001+i))
		names = append(names, fmt.Sprintf("x%d", i))
	}
	for _, name := range names {
		for _, prefix := range []string{"", "attr.", "feature.", "target.", "attr.attr.", "feature.feature."} {
			r.Attrs[prefix+name] = "v:" + prefix + name
		}
	}
	return r
}

// values returns m's numbers and strings, each sorted, leaving out skip.
func values(m map[string]any, skip ...string) (nums []float64, strs []string) {
	for k, v := range m {
		if slices.Contains(skip, k) {
			continue
		}
		switch v := v.(type) {
		case float64:
			nums = append(nums, v)
		case string:
			strs = append(strs, v)
		}
	}
	slices.Sort(nums)
	slices.Sort(strs)
	return nums, strs
}

// wantValues are the numbers and strings of r's line besides the sink's own.
func wantValues(r stream.Record, more ...string) (nums []float64, strs []string) {
	nums = append(append(nums, r.Features...), r.Target)
	for _, v := range r.Attrs {
		strs = append(strs, v)
	}
	strs = append(strs, more...)
	slices.Sort(nums)
	slices.Sort(strs)
	return nums, strs
}

// Whatever the names, no key appears twice in a JSONL line, the line's own
// fields keep their names and values, and no value is lost.
func TestJSONLNoKeyTwice(t *testing.T) {
	for name, schema := range awkward {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			j := NewJSONL(&buf, schema)
			r := awkwardRecord(schema, "time", "key", "prediction", "model_version")
			b := stream.ScoredBatch{Records: []stream.Record{r, r}, Predictions: []float64{99, 99}, ModelVersion: 5}
			require.NoError(t, j.Write(context.Background(), b))
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, got, 2)
			assert.Equal(t, got[0], got[1], "the same record is written the same way")
			line := got[0]
			keys := jsonKeys(t, line)
			require.Empty(t, duplicates(keys), "keys twice in %s", line)
			assert.Len(t, keys, 4+len(r.Features)+1+len(r.Attrs), "a key for every value")
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			assert.Equal(t, "1970-01-01T00:00:00Z", m["time"])
			assert.Equal(t, "k", m["key"])
			assert.Equal(t, 99.0, m["prediction"])
			assert.Equal(t, 5.0, m["model_version"])
			nums, strs := values(m, "time", "key", "prediction", "model_version")
			wantNums, wantStrs := wantValues(r)
			assert.Equal(t, wantNums, nums)
			assert.Equal(t, wantStrs, strs)
		})
	}
}

// Whatever the names, no key appears twice in a Debug line of Log, with
// the handler's keys too, and no value is lost.
func TestLogNoKeyTwice(t *testing.T) {
	for name, schema := range awkward {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			l := &Log{Logger: jsonLogger(&buf, slog.LevelDebug), Schema: schema, Interval: -1}
			r := awkwardRecord(schema, "time", "level", "msg", "source", "key", "prediction", "model")
			b := stream.ScoredBatch{Records: []stream.Record{r, r}, Predictions: []float64{99, 99}, ModelVersion: 5}
			require.NoError(t, l.Write(context.Background(), b))
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, got, 2)
			line := got[0]
			keys := jsonKeys(t, line)
			require.Empty(t, duplicates(keys), "keys twice in %s", line)
			assert.Equal(t, keys, jsonKeys(t, got[1]), "the same record is written the same way")
			assert.Len(t, keys, 3+3+len(r.Features)+1+len(r.Attrs), "a key for every value")
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			assert.Equal(t, "DEBUG", m["level"])
			assert.Equal(t, "record", m["msg"])
			assert.Equal(t, "k", m["key"])
			assert.Equal(t, 99.0, m["prediction"])
			assert.Equal(t, 5.0, m["model"])
			nums, strs := values(m, "time", "level", "msg", "key", "prediction", "model")
			wantNums, wantStrs := wantValues(r)
			assert.Equal(t, wantNums, nums)
			assert.Equal(t, wantStrs, strs)
		})
	}
}

// A handler that adds the source location writes a "source" key as well.
func TestLogNoKeyTwiceWithSource(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true})
	schema := stream.Schema{Features: []string{"source", "time"}, Target: "level"}
	l := &Log{Logger: slog.New(h), Schema: schema, Interval: -1}
	r := awkwardRecord(schema, "source", "msg")
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{Records: []stream.Record{r}, Predictions: []float64{99}}))
	line := strings.TrimSpace(buf.String())
	assert.Empty(t, duplicates(jsonKeys(t, line)), "keys twice in %s", line)
}

// The renaming is documented, so readers may rely on its exact result.
func TestJSONLRenamesFeaturesAndTarget(t *testing.T) {
	for _, tc := range []struct {
		schema stream.Schema
		rec    stream.Record
		want   string
	}{
		{
			stream.Schema{Features: []string{"time", "key", "prediction", "model_version"}, Target: "y"},
			stream.Record{Time: time.Unix(0, 0).UTC(), Key: "k", Features: []float64{1, 2, 3, 4}, Target: 5},
			`{"time":"1970-01-01T00:00:00Z","key":"k","feature.time":1,"feature.key":2,"feature.prediction":3,"feature.model_version":4,"y":5,"prediction":99,"model_version":1}`,
		},
		{
			stream.Schema{Features: []string{"time", "feature.time", "attr.x"}, Target: "feature.time"},
			stream.Record{Features: []float64{1, 2, 3}, Target: 4, Attrs: map[string]string{"feature.time": "a", "attr.x": "b", "x": "c"}},
			`{"feature.time":1,"feature.feature.time":2,"feature.attr.x":3,"target.feature.time":4,"prediction":99,"model_version":1,"attr.attr.x":"b","attr.feature.time":"a","x":"c"}`,
		},
		{
			stream.Schema{Features: []string{"x1"}, Target: "x2"},
			stream.Record{Features: []float64{1, 2, 3}, Target: 4},
			`{"x1":1,"feature.x1":2,"feature.x2":3,"x2":4,"prediction":99,"model_version":1}`,
		},
	} {
		var buf bytes.Buffer
		j := NewJSONL(&buf, tc.schema)
		require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{Records: []stream.Record{tc.rec}, Predictions: []float64{99}, ModelVersion: 1}))
		assert.Equal(t, tc.want+"\n", buf.String())
	}
}

func TestLogRenamesFeaturesAndTarget(t *testing.T) {
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	l := &Log{
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime})),
		Schema: stream.Schema{Features: []string{"level", "msg", "model", "attr.x"}, Target: "key"},
	}
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{
		Records:      []stream.Record{{Key: "k", Features: []float64{1, 2, 3, 4}, Target: 5, Attrs: map[string]string{"msg": "m", "feature.msg": "f"}}},
		Predictions:  []float64{99},
		ModelVersion: 1,
	}))
	assert.Equal(t, "level=DEBUG msg=record key=k feature.level=1 feature.msg=2 feature.model=3 feature.attr.x=4 target.key=5 prediction=99 model=1 attr.feature.msg=f attr.msg=m\n", buf.String())
}

// The names are settled once, so renaming costs a record nothing.
func TestJSONLRenamingAllocatesNothing(t *testing.T) {
	j := NewJSONL(&bytes.Buffer{}, awkward["jsonl fields"])
	b := stream.ScoredBatch{Records: []stream.Record{{Features: []float64{1, 2, 3, 4, 5}, Target: 6}}, Predictions: []float64{7}}
	require.NoError(t, j.Write(context.Background(), b))
	allocs := testing.AllocsPerRun(100, func() {
		j.w.Reset(discardWriter{}) // keep the buffer from growing
		_ = j.Write(context.Background(), b)
	})
	assert.Zero(t, allocs)
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// The doc comment's promise: source.NewJSONL reads a line back with Columns
// that use the keys written, renamed ones included.
func TestJSONLRenamedRoundTrip(t *testing.T) {
	schema := stream.Schema{Features: []string{"time", "age"}, Target: "prediction"}
	rec := stream.Record{Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), Key: "k1", Features: []float64{1.7e9, 34}, Target: 72000,
		Attrs: map[string]string{"time": "noon", "city": "Oslo"}}
	var buf bytes.Buffer
	j := NewJSONL(&buf, schema)
	require.NoError(t, j.Write(context.Background(), stream.ScoredBatch{Records: []stream.Record{rec}, Predictions: []float64{70000}, ModelVersion: 2}))

	src, err := source.NewJSONL(&buf, source.JSONLOptions{Columns: source.Columns{
		Target: "target.prediction", Key: "key", Time: "time", Attrs: []string{"attr.time", "city"},
		Ignore: []string{"prediction", "model_version"},
	}})
	require.NoError(t, err)
	assert.Equal(t, stream.Schema{Features: []string{"feature.time", "age"}, Target: "target.prediction"}, src.Schema())
	b, _, err := src.Read(context.Background(), 10)
	require.NoError(t, err)
	require.Equal(t, 1, b.Len())
	got := b.Records[0]
	assert.Equal(t, rec.Features, got.Features)
	assert.Equal(t, rec.Target, got.Target, "the target, not the prediction")
	assert.True(t, rec.Time.Equal(got.Time), "time %v, want %v", got.Time, rec.Time)
	assert.Equal(t, "k1", got.Key)
	assert.Equal(t, map[string]string{"attr.time": "noon", "city": "Oslo"}, got.Attrs)
}
