package source

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

const peopleJSONL = `{"id": 7, "age": 30, "hours": 40, "salary": 50000, "name": "Ann", "admin": true}

{"hours": 35.5, "age": 41, "salary": null, "name": "Bob", "id": "b", "extra": [1]}
{"age": 25, "hours": 20, "name": "Cruz"}
{"age": 1e2, "hours": 0, "salary": ""}
`

func TestJSONLInfersFeatures(t *testing.T) {
	src, err := NewJSONL(strings.NewReader(peopleJSONL), JSONLOptions{
		Columns: Columns{Target: "salary", Key: "id", Attrs: []string{"name", "admin"}},
	})
	require.NoError(t, err)
	assert.Equal(t, stream.Schema{Features: []string{"age", "hours"}, Target: "salary"}, src.Schema())

	recs := readAll(t, src, 3)
	require.Len(t, recs, 4)
	assert.Equal(t, []float64{30, 40}, recs[0].Features)
	assert.Equal(t, 50000.0, recs[0].Target)
	assert.Equal(t, "7", recs[0].Key)
	assert.Equal(t, map[string]string{"name": "Ann", "admin": "true"}, recs[0].Attrs)
	assert.False(t, recs[0].Time.IsZero())

	assert.Equal(t, []float64{41, 35.5}, recs[1].Features, "features by name, whatever the key order")
	assert.Equal(t, "b", recs[1].Key)
	for i, r := range recs[1:] {
		assert.True(t, math.IsNaN(r.Target), "null, missing and empty targets are unlabeled (record %d)", i+1)
	}
	assert.Equal(t, []float64{100, 0}, recs[3].Features)
	assert.Nil(t, recs[3].Attrs)
}

func TestJSONLGivenFeatures(t *testing.T) {
	in := `{"b": 2, "a": 1, "y": 3}` + "\n" + `{"a": 4, "b": 5, "y": 6}`
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Features: []string{"a", "b"}, Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.Equal(t, []float64{1, 2}, recs[0].Features)
	assert.Equal(t, []float64{4, 5}, recs[1].Features, "a last line without a newline is read")
	assert.Equal(t, 6.0, recs[1].Target)
}

const badJSONL = `{"x": 1, "y": 10}
{"x": 2, "y": 20
not json

{"y": 40}
{"x": "5", "y": 50}
[6, 60]
{"x": 7, "y": "seventy"}
{"x": null, "y": 80}
{"x": 9, "y": 90, "name": {"first": "Ann"}}
{"x": 10, "y": 100}
`

func TestJSONLMalformedErrorsNameLineAndField(t *testing.T) {
	want := []struct {
		line       int
		field, msg string
	}{
		{2, "", "unexpected end of JSON input"},
		{3, "", "not a JSON object"},
		{5, "x", "missing"},
		{6, "x", `want a number, got "5"`},
		{7, "", "not a JSON object"},
		{8, "y", `want a number, got "seventy"`},
		{9, "x", "want a number, got null"},
		{10, "name", `want a string or other scalar, got {"first": "Ann"}`},
	}
	lines := strings.Split(badJSONL, "\n")
	for _, w := range want {
		// Each bad line after a good one, at its own line number.
		in := strings.Repeat("\n", w.line-2) + lines[0] + "\n" + lines[w.line-1] + "\n"
		src, err := NewJSONL(strings.NewReader(in), JSONLOptions{
			Features: []string{"x"}, Columns: Columns{Target: "y", Attrs: []string{"name"}},
		})
		require.NoError(t, err)
		b, _, err := src.Read(context.Background(), 10)
		assert.Equal(t, 1, b.Len(), "line %d: the good line is delivered", w.line)
		var le *LineError
		require.ErrorAs(t, err, &le, "line %d", w.line)
		assert.ErrorIs(t, err, ErrMalformed)
		assert.Equal(t, w.line, le.Line)
		assert.Equal(t, w.field, le.Field, "line %d", w.line)
		assert.Contains(t, err.Error(), w.msg, "line %d", w.line)

		_, _, again := src.Read(context.Background(), 10)
		assert.Equal(t, err, again, "a malformed line stops the stream for good")
	}
}

func TestJSONLMalformedSkipped(t *testing.T) {
	// Features are given because the first line has no "name" attribute.
	src, err := NewJSONL(strings.NewReader(badJSONL), JSONLOptions{
		Features: []string{"x"}, Columns: Columns{Target: "y", Attrs: []string{"name"}}, OnError: Skip,
	})
	require.NoError(t, err)
	recs := readAll(t, src, 2)
	require.Len(t, recs, 2)
	assert.Equal(t, []float64{1}, recs[0].Features)
	assert.Equal(t, []float64{10}, recs[1].Features)
	assert.Equal(t, int64(8), src.Skipped())
}

func TestJSONLLineTooLong(t *testing.T) {
	long := `{"x": 1, "pad": "` + strings.Repeat("z", 5000) + `"}`
	in := `{"x": 0}` + "\n" + long + "\n" + `{"x": 2}` + "\n"
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{MaxLineBytes: 100})
	require.NoError(t, err)
	_, _, err = src.Read(context.Background(), 10)
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 2, le.Line)
	assert.Contains(t, err.Error(), "longer than 100 bytes")

	src, err = NewJSONL(strings.NewReader(in), JSONLOptions{MaxLineBytes: 100, OnError: Skip})
	require.NoError(t, err)
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.Equal(t, []float64{2}, recs[1].Features, "reading goes on after the long line")
	assert.Equal(t, int64(1), src.Skipped())
}

func TestJSONLLineLengthIgnoresTheLineEnd(t *testing.T) {
	line := `{"x": 1}` // 8 bytes
	for _, end := range []string{"\n", "\r\n"} {
		src, err := NewJSONL(strings.NewReader(line+end+line+" "+end), JSONLOptions{MaxLineBytes: 8})
		require.NoError(t, err)
		b, _, err := src.Read(context.Background(), 10)
		assert.Equal(t, 1, b.Len(), "a line of exactly MaxLineBytes is read, whatever ends it")
		var le *LineError
		require.ErrorAs(t, err, &le, "one byte more is too long")
		assert.Equal(t, 2, le.Line)
	}
}

func TestJSONLByteOrderMarkAndNullKey(t *testing.T) {
	in := "\uFEFF" + `{"x": 1, "id": "a"}` + "\n" + `{"x": 2, "id": null}` + "\n"
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Columns: Columns{Key: "id"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, src.Schema().Features, "the mark is not part of the first key")
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.Equal(t, "a", recs[0].Key)
	assert.Empty(t, recs[1].Key, "a null key is no key, not the string null")
}

func TestJSONLReaderError(t *testing.T) {
	boom := errors.New("network gone")
	r := io.MultiReader(strings.NewReader(`{"x": 1}`+"\n"), iotest.ErrReader(boom))
	src, err := NewJSONL(r, JSONLOptions{OnError: Skip})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), 10)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrMalformed)
	assert.Equal(t, 1, b.Len())

	_, err = NewJSONL(iotest.ErrReader(boom), JSONLOptions{})
	assert.ErrorIs(t, err, boom)
}

func TestJSONLCancelMidStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{
		first:  strings.NewReader(`{"x": 1}` + "\n" + `{"x": 2}` + "\n"),
		rest:   strings.NewReader(`{"x": 3}` + "\n" + `{"x": 4}` + "\n"),
		cancel: cancel,
	}
	src, err := NewJSONL(r, JSONLOptions{})
	require.NoError(t, err)
	b, _, err := src.Read(ctx, 100)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 3, b.Len())
}

func TestJSONLBadConfig(t *testing.T) {
	tests := map[string]struct {
		in   string
		opts JSONLOptions
		want error
	}{
		"empty input":         {"", JSONLOptions{}, ErrNoHeader},
		"only blank lines":    {"\n  \n", JSONLOptions{}, ErrNoHeader},
		"first line no obj":   {"[1]\n", JSONLOptions{}, ErrMalformed},
		"first line bad json": {"{\"x\": \n", JSONLOptions{}, ErrMalformed},
		"feature is target":   {"", JSONLOptions{Features: []string{"y"}, Columns: Columns{Target: "y"}}, ErrInvalidConfig},
		"duplicate feature":   {"", JSONLOptions{Features: []string{"a", "a"}}, ErrInvalidConfig},
		"no feature left":     {`{"y": 1}`, JSONLOptions{Columns: Columns{Target: "y"}}, ErrInvalidConfig},
		"negative max line":   {"", JSONLOptions{Features: []string{"a"}, MaxLineBytes: -1}, ErrInvalidConfig},
		"two roles":           {"", JSONLOptions{Columns: Columns{Key: "k", Ignore: []string{"k"}}}, ErrInvalidConfig},
		"unknown policy":      {"", JSONLOptions{OnError: -1}, ErrInvalidConfig},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			src, err := NewJSONL(strings.NewReader(tt.in), tt.opts)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, src)
		})
	}
}

// A MaxLineBytes as large as math.MaxInt, "no practical limit", is a limit
// like any other: it must not overflow into one that refuses every line.
func TestJSONLMaxLineBytesAtMaxInt(t *testing.T) {
	src, err := NewJSONL(strings.NewReader(`{"x": 1, "y": 2}`+"\n"), JSONLOptions{MaxLineBytes: math.MaxInt, Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), 10)
	require.NoError(t, err)
	assert.Equal(t, []float64{1}, b.Records[0].Features)
}

func TestJSONLTimeColumn(t *testing.T) {
	in := `{"x":1,"at":"2026-01-02T15:04:05+01:00","y":2}
{"x":3,"at":null,"y":4}
{"x":5,"y":6}
{"x":7,"at":17,"y":8}
`
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Columns: Columns{Target: "y", Time: "at"}})
	require.NoError(t, err)
	read := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	src.now = func() time.Time { return read }
	b, _, err := src.Read(context.Background(), 10)
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 4, le.Line)
	assert.Equal(t, "at", le.Field)
	require.Equal(t, 3, b.Len())
	assert.True(t, b.Records[0].Time.Equal(time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC)), "%v", b.Records[0].Time)
	assert.Equal(t, read, b.Records[1].Time, "null: the time it was read")
	assert.Equal(t, read, b.Records[2].Time, "missing: the time it was read")
}

// When the features are inferred from the first line, a name in Columns
// that is not a key there is a mistake, most likely a misspelling: a
// misspelt target would leave the real one a feature and every record
// unlabeled, and the pipeline would silently never learn. CSV refuses the
// same mistakes against its header.
func TestJSONLInferredColumnsMustBeKeysOfTheFirstLine(t *testing.T) {
	in := "\n" + `{"a":1,"b":2,"salary":3,"id":"x","at":"2026-01-01T00:00:00Z","city":"Oslo","note":"hi"}` + "\n"
	good := Columns{Target: "salary", Key: "id", Time: "at", Attrs: []string{"city"}, Ignore: []string{"note"}}
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Columns: good})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, src.Schema().Features)

	keys := `["a" "b" "salary" "id" "at" "city" "note"]`
	tests := map[string]struct {
		cols  Columns
		field string
		name  string
	}{
		"target": {Columns{Target: "salry", Key: "id", Time: "at", Attrs: []string{"city"}, Ignore: []string{"note"}}, "Target", "salry"},
		"key":    {Columns{Target: "salary", Key: "ID", Time: "at", Attrs: []string{"city"}, Ignore: []string{"note"}}, "Key", "ID"},
		"time":   {Columns{Target: "salary", Key: "id", Time: "time", Attrs: []string{"city"}, Ignore: []string{"note"}}, "Time", "time"},
		"attr":   {Columns{Target: "salary", Key: "id", Time: "at", Attrs: []string{"city", "town"}, Ignore: []string{"note"}}, "Attrs", "town"},
		"ignore": {Columns{Target: "salary", Key: "id", Time: "at", Attrs: []string{"city"}, Ignore: []string{"notes"}}, "Ignore", "notes"},
	}
	for name, tt := range tests {
		src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Columns: tt.cols})
		assert.Nil(t, src, name)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
		assert.EqualError(t, err, `source: jsonl: invalid configuration: `+tt.field+` "`+tt.name+`" is not a key of the first line (line 2), which has `+keys+`; give Features if it may be missing there`, name)
	}

	// The trial's case.
	_, err = NewJSONL(strings.NewReader(`{"a":1,"b":2,"salary":3}`+"\n"), JSONLOptions{Columns: Columns{Target: "salry"}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, `Target "salry"`)
}

// With Features given, the first line is not the schema, so the names in
// Columns need not appear there, or on any particular line: a first record
// may be unlabeled, or lack its key, time or attributes.
func TestJSONLGivenFeaturesNeedNoColumnsOnTheFirstLine(t *testing.T) {
	in := `{"a":1}` + "\n" + `{"a":2,"y":3,"id":"k","at":"2026-01-01T00:00:00Z","city":"Oslo","note":"hi"}` + "\n"
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{
		Features: []string{"a"},
		Columns:  Columns{Target: "y", Key: "id", Time: "at", Attrs: []string{"city"}, Ignore: []string{"note", "never"}},
	})
	require.NoError(t, err)
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.False(t, recs[0].Labeled(), "a first line without the target is unlabeled")
	assert.Equal(t, 3.0, recs[1].Target)
	assert.Equal(t, "k", recs[1].Key)
}

// A first-line key whose value is not a number cannot be a feature, so
// inferring it as one is a configuration error at NewJSONL, named there,
// not a malformed line at the first Read. sink.JSONL's output read without
// Columns was the case in point: its time, key and attributes are strings,
// and its prediction is null before the first model.
func TestJSONLInferredFeaturesMustBeNumbers(t *testing.T) {
	const sinkLine = `{"time":"2026-01-02T15:04:05Z","key":"k1","x1":1,"x2":2.5,"salary":4,"prediction":null,"model_version":0,"city":"Oslo"}`
	const suggest = "; name it in Attrs, Ignore, Key, Time or Target"
	tests := map[string]struct {
		in   string
		cols Columns
		want string
	}{
		"sink output, no columns": {sinkLine, Columns{Target: "salary"},
			`key "time" of the first line (line 1) holds a string, not a number, so it cannot be a feature`},
		"null": {sinkLine, Columns{Target: "salary", Time: "time", Key: "key", Attrs: []string{"city"}},
			`key "prediction" of the first line (line 1) holds null, not a number, so it cannot be a feature`},
		"boolean": {"\n" + `{"x":1,"ok":true}`, Columns{},
			`key "ok" of the first line (line 2) holds a boolean, not a number, so it cannot be a feature`},
		"object": {`{"x":1,"o":{"a":1}}`, Columns{},
			`key "o" of the first line (line 1) holds an object, not a number, so it cannot be a feature`},
		"array": {`{"x":1,"a":[1]}`, Columns{},
			`key "a" of the first line (line 1) holds an array, not a number, so it cannot be a feature`},
	}
	for name, tt := range tests {
		src, err := NewJSONL(strings.NewReader(tt.in+"\n"), JSONLOptions{Columns: tt.cols})
		assert.True(t, src == nil, name)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
		assert.EqualError(t, err, "source: jsonl: invalid configuration: "+tt.want+suggest, name)
	}

	// Named as the sink's doc says, the line reads back, and the line
	// NewJSONL read ahead is still the first record.
	in := sinkLine + "\n" + `{"time":"2026-01-02T15:04:06Z","key":"k2","x1":3,"x2":4,"salary":5,"prediction":4.5,"model_version":1}` + "\n"
	src, err := NewJSONL(strings.NewReader(in), JSONLOptions{Columns: Columns{
		Target: "salary", Key: "key", Time: "time", Attrs: []string{"city"}, Ignore: []string{"prediction", "model_version"},
	}})
	require.NoError(t, err)
	assert.Equal(t, stream.Schema{Features: []string{"x1", "x2"}, Target: "salary"}, src.Schema())
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.Equal(t, "k1", recs[0].Key)
	assert.Equal(t, []float64{1, 2.5}, recs[0].Features)
	assert.Equal(t, map[string]string{"city": "Oslo"}, recs[0].Attrs)
	assert.Equal(t, "k2", recs[1].Key)
}
