package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// readAll reads s to the end in batches of max, failing on any other error.
func readAll(t *testing.T, s stream.Source, max int) []stream.Record {
	t.Helper()
	var out []stream.Record
	for {
		b, ack, err := s.Read(context.Background(), max)
		assert.Nil(t, ack)
		out = append(out, b.Records...)
		if errors.Is(err, io.EOF) {
			require.Zero(t, b.Len(), "records come before io.EOF, not with it")
			return out
		}
		require.NoError(t, err)
		require.LessOrEqual(t, b.Len(), max)
	}
}

// cancelReader serves first, then cancels the context and serves rest:
// a cancellation that arrives in the middle of a batch.
type cancelReader struct {
	first, rest io.Reader
	cancel      func()
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.first != nil {
		n, err := r.first.Read(p)
		if errors.Is(err, io.EOF) {
			r.first = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	return r.rest.Read(p)
}

const peopleCSV = `age,name,salary,city,hours
30,Ann,50000,Oslo,40
41,Bob,,Rome,35.5
25,"Cruz, Jr.",42000,Lima,20
`

func TestCSV(t *testing.T) {
	src, err := NewCSV(strings.NewReader(peopleCSV), CSVOptions{
		Columns: Columns{Target: "salary", Attrs: []string{"name", "city"}},
	})
	require.NoError(t, err)
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src.now = func() time.Time { return fixed }
	assert.Equal(t, stream.Schema{Features: []string{"age", "hours"}, Target: "salary"}, src.Schema())

	recs := readAll(t, src, 2)
	require.Len(t, recs, 3)
	assert.Equal(t, []float64{30, 40}, recs[0].Features)
	assert.Equal(t, 50000.0, recs[0].Target)
	assert.Equal(t, map[string]string{"name": "Ann", "city": "Oslo"}, recs[0].Attrs)
	assert.Equal(t, fixed, recs[0].Time)
	assert.Equal(t, []float64{41, 35.5}, recs[1].Features)
	assert.True(t, math.IsNaN(recs[1].Target), "an empty target is unlabeled")
	assert.Equal(t, "Cruz, Jr.", recs[2].Attrs["name"])
	assert.Zero(t, src.Skipped())

	_, _, err = src.Read(context.Background(), 2)
	assert.ErrorIs(t, err, io.EOF, "EOF again after the end")
}

func TestCSVKeyIgnoreCommaAndBOM(t *testing.T) {
	in := "\uFEFFid;x;note;y\nk1;1.5;hello;2\nk2;-3e2;bye;4\n"
	src, err := NewCSV(strings.NewReader(in), CSVOptions{
		Columns: Columns{Target: "y", Key: "id", Ignore: []string{"note"}},
		Comma:   ';',
	})
	require.NoError(t, err)
	assert.Equal(t, stream.Schema{Features: []string{"x"}, Target: "y"}, src.Schema())
	recs := readAll(t, src, 10)
	require.Len(t, recs, 2)
	assert.Equal(t, "k1", recs[0].Key)
	assert.Equal(t, []float64{-300}, recs[1].Features)
	assert.Nil(t, recs[0].Attrs)
}

func TestCSVNoTargetIsUnlabeled(t *testing.T) {
	src, err := NewCSV(strings.NewReader("a,b\n1,2\n"), CSVOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, src.Schema().Features)
	recs := readAll(t, src, 10)
	require.Len(t, recs, 1)
	assert.False(t, recs[0].Labeled())
}

const badCSV = `x,y
1,10
2,20,extra
abc,30
4,4"0
5,50
,60
7,seventy
8,80
`

func TestCSVMalformedFails(t *testing.T) {
	src, err := NewCSV(strings.NewReader(badCSV), CSVOptions{Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), 10)
	require.Error(t, err)
	assert.Len(t, b.Records, 1, "the good line before the bad one is delivered")
	assert.ErrorIs(t, err, ErrMalformed)
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 3, le.Line)
	assert.Contains(t, err.Error(), "line 3")
	assert.Contains(t, err.Error(), "wrong number of fields")

	_, _, again := src.Read(context.Background(), 10)
	assert.Equal(t, err, again, "a malformed line stops the stream for good")
}

func TestCSVMalformedErrorsNameLineAndField(t *testing.T) {
	tests := []struct {
		in, field, msg string
		line           int
	}{
		{"x,y\n1,2\nabc,3\n", "x", `not a number: "abc"`, 3},
		{"x,y\n1,2\n3,4\n,5\n", "x", "empty value", 4},
		{"x,y\n1,two\n", "y", `not a number: "two"`, 2},
		{"x,y\n1,2\n\"3,4\n", "", "extraneous or missing \" in quoted-field", 3},
	}
	for _, tt := range tests {
		src, err := NewCSV(strings.NewReader(tt.in), CSVOptions{Columns: Columns{Target: "y"}})
		require.NoError(t, err)
		_, _, err = src.Read(context.Background(), 10)
		var le *LineError
		require.ErrorAs(t, err, &le, tt.in)
		assert.Equal(t, tt.line, le.Line, tt.in)
		assert.Equal(t, tt.field, le.Field, tt.in)
		assert.Contains(t, err.Error(), tt.msg, tt.in)
	}
}

func TestCSVMalformedSkipped(t *testing.T) {
	src, err := NewCSV(strings.NewReader(badCSV), CSVOptions{Columns: Columns{Target: "y"}, OnError: Skip})
	require.NoError(t, err)
	recs := readAll(t, src, 3)
	var xs []float64
	for _, r := range recs {
		xs = append(xs, r.Features[0])
	}
	assert.Equal(t, []float64{1, 5, 8}, xs)
	assert.Equal(t, int64(5), src.Skipped())
}

func TestCSVReaderErrorIsNotSkipped(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("x,y\n1,2\n"), iotest.ErrReader(boom))
	src, err := NewCSV(r, CSVOptions{Columns: Columns{Target: "y"}, OnError: Skip})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), 10)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrMalformed)
	assert.Equal(t, 1, b.Len())
}

func TestCSVCancelMidStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{
		first:  strings.NewReader("x,y\n1,1\n2,2\n3,3\n"),
		rest:   strings.NewReader("4,4\n5,5\n6,6\n"),
		cancel: cancel,
	}
	src, err := NewCSV(r, CSVOptions{Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	b, _, err := src.Read(ctx, 100)
	assert.ErrorIs(t, err, context.Canceled)
	// Records read before the cancellation was seen are returned with it.
	assert.Equal(t, 4, b.Len())
	_, _, err = src.Read(ctx, 100)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCSVBadConfig(t *testing.T) {
	tests := map[string]struct {
		in   string
		opts CSVOptions
		want error
	}{
		"empty input":        {"", CSVOptions{}, ErrNoHeader},
		"missing target":     {"a,b\n", CSVOptions{Columns: Columns{Target: "c"}}, ErrInvalidConfig},
		"missing attr":       {"a,b\n", CSVOptions{Columns: Columns{Attrs: []string{"z"}}}, ErrInvalidConfig},
		"two roles":          {"a,b\n", CSVOptions{Columns: Columns{Target: "a", Attrs: []string{"a"}}}, ErrInvalidConfig},
		"duplicate header":   {"a,a,b\n", CSVOptions{}, ErrInvalidConfig},
		"no feature left":    {"a,b\n", CSVOptions{Columns: Columns{Target: "a", Key: "b"}}, ErrInvalidConfig},
		"unknown policy":     {"a,b\n", CSVOptions{OnError: Policy(9)}, ErrInvalidConfig},
		"empty column named": {"a,b\n", CSVOptions{Columns: Columns{Attrs: []string{""}}}, ErrInvalidConfig},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			src, err := NewCSV(strings.NewReader(tt.in), tt.opts)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, src)
		})
	}
	src, err := NewCSV(strings.NewReader("a\n1\n"), CSVOptions{})
	require.NoError(t, err)
	_, _, err = src.Read(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

// ParseFloat accepts NaN and Inf, as numpy writes them; a feature that is
// not finite is malformed at its line rather than a bad record later.
func TestCSVNonFiniteValuesAreMalformed(t *testing.T) {
	tests := []struct{ in, field, value string }{
		{"x,y\n1,2\nNaN,3\n", "x", "NaN"},
		{"x,y\n1,2\n-inf,3\n", "x", "-inf"},
		{"x,y\n1,2\n3,+Infinity\n", "y", "+Infinity"},
	}
	for _, tt := range tests {
		src, err := NewCSV(strings.NewReader(tt.in), CSVOptions{Columns: Columns{Target: "y"}})
		require.NoError(t, err)
		b, _, err := src.Read(context.Background(), 10)
		assert.Equal(t, 1, b.Len(), tt.in)
		var le *LineError
		require.ErrorAs(t, err, &le, tt.in)
		assert.Equal(t, 3, le.Line, tt.in)
		assert.Equal(t, tt.field, le.Field, tt.in)
		assert.Contains(t, err.Error(), tt.value, tt.in)
	}

	// A NaN target is unlabeled, like an empty one.
	src, err := NewCSV(strings.NewReader("x,y\n1,nan\n"), CSVOptions{Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	recs := readAll(t, src, 10)
	require.Len(t, recs, 1)
	assert.False(t, recs[0].Labeled())
}

// A bad field is reported on the line it is on, though a quoted field
// before it starts the record on an earlier line.
func TestCSVLineOfBadFieldAfterMultilineField(t *testing.T) {
	src, err := NewCSV(strings.NewReader("note,x\n\"first\nsecond\",abc\n"), CSVOptions{Columns: Columns{Attrs: []string{"note"}}})
	require.NoError(t, err)
	_, _, err = src.Read(context.Background(), 10)
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 3, le.Line, "abc is on line 3: %v", err)
	assert.Equal(t, "x", le.Field)
}

func TestCSVCommaThatCannotSeparate(t *testing.T) {
	for _, comma := range []rune{'"', '\n', '\r', utf8.RuneError, -1} {
		_, err := NewCSV(strings.NewReader("a,b\n1,2\n"), CSVOptions{Comma: comma})
		assert.ErrorIs(t, err, ErrInvalidConfig, "Comma %q", comma)
	}
	src, err := NewCSV(strings.NewReader("a;b\n1;2\n"), CSVOptions{Comma: ';', Columns: Columns{Target: "b"}})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), 10)
	require.NoError(t, err)
	assert.Equal(t, []float64{1}, b.Records[0].Features)
}

// The Source contract allows any positive max; a reader must not allocate
// for max records whatever the input holds, nor overflow computing it.
func TestLineReadersAllocateForWhatTheyRead(t *testing.T) {
	for name, open := range map[string]func() (stream.Source, error){
		"CSV": func() (stream.Source, error) {
			return NewCSV(strings.NewReader("x,y\n1,2\n3,4\n"), CSVOptions{Columns: Columns{Target: "y"}})
		},
		"JSONL": func() (stream.Source, error) {
			return NewJSONL(strings.NewReader("{\"x\":1,\"y\":2}\n{\"x\":3,\"y\":4}\n"), JSONLOptions{Columns: Columns{Target: "y"}})
		},
	} {
		src, err := open()
		require.NoError(t, err)
		b, _, err := src.Read(context.Background(), math.MaxInt)
		require.NoError(t, err, name)
		assert.Equal(t, 2, b.Len(), name)

		src, err = open()
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b, _, err = src.Read(context.Background(), 1<<20)
		runtime.ReadMemStats(&after)
		require.NoError(t, err, name)
		assert.Equal(t, 2, b.Len(), name)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "%s: bytes allocated for a 2-record read of max 1<<20", name)
	}
}

// Past the first chunk a batch's features move to a new allocation; the
// records already read keep theirs.
func TestLineReadersBatchesLargerThanAChunk(t *testing.T) {
	var in strings.Builder
	in.WriteString("x,z,y\n")
	n := 3*firstChunk + 7
	for i := range n {
		fmt.Fprintf(&in, "%d,%d,%d\n", i, -i, 2*i)
	}
	src, err := NewCSV(strings.NewReader(in.String()), CSVOptions{Columns: Columns{Target: "y"}})
	require.NoError(t, err)
	b, _, err := src.Read(context.Background(), n+1)
	require.NoError(t, err)
	require.Equal(t, n, b.Len())
	for i, r := range b.Records {
		require.Equal(t, []float64{float64(i), float64(-i)}, r.Features, "record %d", i)
		require.Equal(t, 2, cap(r.Features), "record %d cannot grow into the next", i)
	}
}

// A time column gives the records their times, as sink.JSONL writes them;
// an empty value leaves the time the record was read.
func TestCSVTimeColumn(t *testing.T) {
	in := "x,at,y\n1,2026-01-02T15:04:05.000000006Z,2\n3,,4\n5,yesterday,6\n"
	src, err := NewCSV(strings.NewReader(in), CSVOptions{Columns: Columns{Target: "y", Time: "at"}})
	require.NoError(t, err)
	read := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	src.now = func() time.Time { return read }
	assert.Equal(t, []string{"x"}, src.Schema().Features)
	b, _, err := src.Read(context.Background(), 10)
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 4, le.Line)
	assert.Equal(t, "at", le.Field)
	assert.ErrorContains(t, err, `not an RFC 3339 time: "yesterday"`)
	require.Equal(t, 2, b.Len())
	assert.True(t, b.Records[0].Time.Equal(time.Date(2026, 1, 2, 15, 4, 5, 6, time.UTC)), "%v", b.Records[0].Time)
	assert.Equal(t, read, b.Records[1].Time)
}

// CSV and JSONL read a time column alike: spaces around a time are
// ignored, and RFC 3339 lets "T" and "Z" be written lowercase (section
// 5.6, NOTE), which time.Parse does not accept.
func TestTimeColumnInCSVAndJSONL(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Time
	}{
		{"spaces", " 2026-01-02T15:04:05Z ", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"lowercase t and z", "2026-01-01t00:00:00.5z", time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC)},
	} {
		csvSrc, err := NewCSV(strings.NewReader("x,at\n1,"+tc.value+"\n"), CSVOptions{Columns: Columns{Time: "at"}})
		require.NoError(t, err, tc.name)
		jsonSrc, err := NewJSONL(strings.NewReader(`{"x":1,"at":"`+tc.value+`"}`+"\n"), JSONLOptions{Columns: Columns{Time: "at"}})
		require.NoError(t, err, tc.name)
		for name, src := range map[string]stream.Source{"CSV": csvSrc, "JSONL": jsonSrc} {
			b, _, err := src.Read(context.Background(), 10)
			require.NoError(t, err, "%s: %s", tc.name, name)
			require.Equal(t, 1, b.Len(), "%s: %s", tc.name, name)
			assert.True(t, tc.want.Equal(b.Records[0].Time), "%s: %s: %v", tc.name, name, b.Records[0].Time)
		}
	}
}

// With several columns missing, the error names the first in Columns'
// order (Target, Key, Time, Attrs, Ignore), the same on every run.
func TestCSVNamesTheFirstMissingColumn(t *testing.T) {
	for range 20 {
		_, err := NewCSV(strings.NewReader("a,b\n1,2\n"), CSVOptions{Columns: Columns{
			Target: "y", Key: "k", Time: "t", Attrs: []string{"p", "q"}, Ignore: []string{"r"}}})
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, `Target "y" is not a column of the header`)
	}
}
