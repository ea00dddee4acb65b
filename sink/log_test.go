package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fakeNow is a clock the test moves by hand.
type fakeNow struct{ t time.Time }

func (c *fakeNow) now() time.Time          { return c.t }
func (c *fakeNow) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeNow() *fakeNow                 { return &fakeNow{t: t0} }
func jsonLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}))
}

// lines decodes every JSON log line in buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	buf.Reset()
	return out
}

// scored makes n records with target y and prediction y+err.
func scored(n int, y, err float64, version uint64) stream.ScoredBatch {
	b := stream.ScoredBatch{ModelVersion: version}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, stream.Record{Features: []float64{float64(i)}, Target: y + float64(i%2)})
		b.Predictions = append(b.Predictions, y+float64(i%2)+err)
	}
	return b
}

func TestLogSummaries(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeNow()
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: time.Second, now: clk.now}
	ctx := context.Background()

	require.NoError(t, l.Write(ctx, scored(10, 100, 2, 1)))
	clk.advance(500 * time.Millisecond)
	require.NoError(t, l.Write(ctx, scored(10, 100, -4, 2)))
	assert.Empty(t, lines(t, &buf), "no summary before the interval")

	clk.advance(500 * time.Millisecond)
	require.NoError(t, l.Write(ctx, scored(10, 100, 2, 3)))
	got := lines(t, &buf)
	require.Len(t, got, 1)
	s := got[0]
	assert.Equal(t, "INFO", s["level"])
	assert.Equal(t, "summary", s["msg"])
	assert.EqualValues(t, 30, s["records"])
	assert.EqualValues(t, 20, s["per_sec"], "20 records in the 1 s after the first batch came")
	assert.EqualValues(t, 30, s["total"])
	assert.EqualValues(t, 3, s["model"])
	assert.InDelta(t, (20*2+10*4)/30.0, s["mae"], 1e-3)
	assert.InDelta(t, math.Sqrt((20*4+10*16)/30.0), s["rmse"], 1e-3)
	// Targets 100 and 101 alternate: variance 0.25 against an MSE of 8.
	assert.InDelta(t, 1-8/0.25, s["r2"], 1e-3)

	// The next period starts at the summary.
	clk.advance(500 * time.Millisecond)
	require.NoError(t, l.Write(ctx, scored(20, 100, 1, 3)))
	assert.Empty(t, lines(t, &buf))
	clk.advance(1500 * time.Millisecond)
	require.NoError(t, l.Write(ctx, scored(20, 100, 1, 4)))
	got = lines(t, &buf)
	require.Len(t, got, 1)
	assert.EqualValues(t, 40, got[0]["records"])
	assert.EqualValues(t, 20, got[0]["per_sec"], "40 records in 2 s")
	assert.EqualValues(t, 70, got[0]["total"])
	assert.InDelta(t, 1.0, got[0]["mae"], 1e-9)

	clk.advance(time.Second)
	require.NoError(t, l.Close())
	got = lines(t, &buf)
	require.Len(t, got, 1)
	f := got[0]
	assert.Equal(t, "final summary", f["msg"])
	assert.EqualValues(t, 70, f["records"], "the final summary covers the whole run")
	assert.EqualValues(t, 15, f["per_sec"], "60 records in the 4 s after the first batch came")
	assert.EqualValues(t, 4, f["model"])
	assert.InDelta(t, (20*2+10*4+40*1)/70.0, f["mae"], 1e-3)
	assert.NotContains(t, f, "total")

	assert.NoError(t, l.Close(), "Close twice is harmless")
	assert.Empty(t, lines(t, &buf), "and logs nothing more")
	assert.ErrorIs(t, l.Write(ctx, scored(1, 1, 1, 1)), ErrClosed)
}

func TestLogNoErrorWithoutLabelsOrModel(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeNow()
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: time.Second, now: clk.now}
	b := scored(4, 10, 1, 0)
	b.Predictions = []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()} // no model yet
	require.NoError(t, l.Write(context.Background(), b))
	clk.advance(time.Second)
	u := scored(4, 10, 1, 1)
	for i := range u.Records {
		u.Records[i].Target = math.NaN() // unlabeled
	}
	u.Predictions = u.Predictions[:2] // and a short prediction slice is no panic
	require.NoError(t, l.Write(context.Background(), u))
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.EqualValues(t, 8, got[0]["records"])
	assert.NotContains(t, got[0], "mae")
	assert.NotContains(t, got[0], "rmse")
	assert.NotContains(t, got[0], "r2")
}

func TestLogNegativeIntervalOnlyFinal(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeNow()
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: -1, now: clk.now}
	for i := 0; i < 5; i++ {
		require.NoError(t, l.Write(context.Background(), scored(3, 1, 0, 1)))
		clk.advance(time.Hour)
	}
	require.NoError(t, l.Close())
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.Equal(t, "final summary", got[0]["msg"])
	assert.EqualValues(t, 15, got[0]["records"])
}

// A rate needs two batches: the first one's records were read before the
// clock started.
func TestLogNoRateFromOneBatch(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeNow()
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: time.Second, now: clk.now}
	require.NoError(t, l.Write(context.Background(), scored(10, 1, 0, 1)))
	clk.advance(time.Second)
	require.NoError(t, l.Close())
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.EqualValues(t, 10, got[0]["records"])
	assert.NotContains(t, got[0], "per_sec")
}

func TestLogClassifierSummaries(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeNow()
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: time.Second, Classifier: true, now: clk.now}
	b := stream.ScoredBatch{ModelVersion: 1}
	for i, pair := range [][2]float64{{0, 0}, {1, 2}, {2, 2}, {1, 1}, {math.NaN(), 1}, {2, math.NaN()}} {
		b.Records = append(b.Records, stream.Record{Features: []float64{float64(i)}, Target: pair[0]})
		b.Predictions = append(b.Predictions, pair[1])
	}
	require.NoError(t, l.Write(context.Background(), b))
	clk.advance(time.Second)
	require.NoError(t, l.Write(context.Background(), b))
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.InDelta(t, 0.75, got[0]["correct"], 1e-9, "3 of the 4 labeled and scored records")
	for _, k := range []string{"mae", "rmse", "r2"} {
		assert.NotContains(t, got[0], k, "an error between class indices means nothing")
	}
	require.NoError(t, l.Close())
	got = lines(t, &buf)
	require.Len(t, got, 1)
	assert.InDelta(t, 0.75, got[0]["correct"], 1e-9)

	// Without Classifier, a regressor's summary has no share correct.
	var rbuf bytes.Buffer
	r := &Log{Logger: jsonLogger(&rbuf, slog.LevelInfo), Interval: -1}
	require.NoError(t, r.Write(context.Background(), b))
	require.NoError(t, r.Close())
	got = lines(t, &rbuf)
	require.Len(t, got, 1)
	assert.NotContains(t, got[0], "correct")
	assert.Contains(t, got[0], "mae")
}

func TestLogCloseWithoutWrites(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo)}
	require.NoError(t, l.Close())
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.EqualValues(t, 0, got[0]["records"])
	assert.NotContains(t, got[0], "per_sec")
}

func TestLogDebugRecords(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{
		Logger: jsonLogger(&buf, slog.LevelDebug),
		Schema: stream.Schema{Features: []string{"age", "hours"}, Target: "salary"},
		now:    newFakeNow().now,
	}
	b := stream.ScoredBatch{
		Records: []stream.Record{
			{Key: "p1", Features: []float64{34, 40.123456}, Target: 72000.4, Attrs: map[string]string{"name": "Ann", "city": "Oslo"}},
			{Features: []float64{51, 20, 7}, Target: math.NaN()},
		},
		Predictions:  []float64{70512.6, math.NaN()},
		ModelVersion: 3,
	}
	require.NoError(t, l.Write(context.Background(), b))
	got := lines(t, &buf)
	require.Len(t, got, 2)
	r := got[0]
	assert.Equal(t, "DEBUG", r["level"])
	assert.Equal(t, "record", r["msg"])
	assert.Equal(t, "p1", r["key"])
	assert.EqualValues(t, 34, r["age"])
	assert.EqualValues(t, 40.12, r["hours"], "rounded to four significant digits")
	assert.EqualValues(t, 72000, r["salary"])
	assert.EqualValues(t, 70513, r["prediction"])
	assert.EqualValues(t, 3, r["model"])
	assert.Equal(t, "Ann", r["name"])
	assert.Equal(t, "Oslo", r["city"])

	u := got[1]
	assert.NotContains(t, u, "salary", "an unlabeled target is left out")
	assert.NotContains(t, u, "prediction", "so is a NaN prediction")
	assert.NotContains(t, u, "key")
	assert.EqualValues(t, 7, u["x2"], "a feature beyond the schema gets a generic name")
}

func TestLogDebugWithoutSchema(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelDebug), now: newFakeNow().now}
	require.NoError(t, l.Write(context.Background(), scored(1, 5, 1, 1)))
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.EqualValues(t, 0, got[0]["x0"])
	assert.EqualValues(t, 5, got[0]["target"])
	assert.EqualValues(t, 6, got[0]["prediction"])
}

// countingHandler counts how often the logger asks and writes.
type countingHandler struct {
	mu      sync.Mutex
	enabled int
	handled []slog.Level
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.enabled++
	return l >= slog.LevelInfo
}

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handled = append(h.handled, r.Level)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func TestLogDebugDisabledAsksOncePerBatch(t *testing.T) {
	h := &countingHandler{}
	l := &Log{Logger: slog.New(h), Interval: time.Hour, now: newFakeNow().now}
	for i := 0; i < 3; i++ {
		require.NoError(t, l.Write(context.Background(), scored(100, 1, 0, 1)))
	}
	assert.Equal(t, 3, h.enabled, "one Enabled call per batch, none per record")
	assert.Empty(t, h.handled)
}

func TestLogDefaultLogger(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(jsonLogger(&buf, slog.LevelInfo))
	defer slog.SetDefault(prev)
	l := &Log{}
	require.NoError(t, l.Write(context.Background(), scored(2, 1, 0, 1)))
	require.NoError(t, l.Close())
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.Equal(t, "final summary", got[0]["msg"])
}

func TestRound(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 0},
		{72345.67, 72346},
		{-1234.5, -1235},
		{999.94, 999.9},
		{3.14159, 3.142},
		{0.000123456, 0.0001235},
		{-0.5, -0.5},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, round(tt.in), "round(%v)", tt.in)
	}
	assert.True(t, math.IsNaN(round(math.NaN())))
	assert.True(t, math.IsInf(round(math.Inf(1)), 1))
}

// R² must not depend on where the targets sit: with large targets of small
// spread (timestamps, say), Σy² − n·ȳ² cancels catastrophically.
func TestLogR2WithLargeTargets(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelInfo), Interval: -1, now: newFakeNow().now}
	b := stream.ScoredBatch{ModelVersion: 1}
	var ys, ps []float64
	for i := 0; i < 1000; i++ {
		y := 1.7e9 + float64(i%100)
		p := y + float64(i%7) - 3
		b.Records = append(b.Records, stream.Record{Features: []float64{1}, Target: y})
		b.Predictions = append(b.Predictions, p)
		ys, ps = append(ys, y), append(ps, p)
	}
	require.NoError(t, l.Write(context.Background(), b))
	require.NoError(t, l.Close())
	got := lines(t, &buf)
	require.Len(t, got, 1)
	require.Contains(t, got[0], "r2")
	assert.InDelta(t, stream.Measure(ps, ys).R2, got[0]["r2"], 0.001)
}

func TestRoundTinyValues(t *testing.T) {
	for _, x := range []float64{1e-310, -2.5e-320, math.SmallestNonzeroFloat64} {
		got := round(x)
		assert.False(t, math.IsNaN(got), "round(%g) = NaN", x)
		assert.InEpsilon(t, x, got, 0.001, "round(%g)", x)
	}
}

// A predictor may return ±Inf; the JSON log must still hold it, as a string,
// rather than slog's error text.
func TestLogInfinitePredictions(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelDebug), Interval: -1, now: newFakeNow().now}
	b := stream.ScoredBatch{ModelVersion: 1,
		Records:     []stream.Record{{Features: []float64{1}, Target: 2}, {Features: []float64{1}, Target: 3}},
		Predictions: []float64{math.Inf(1), 3}}
	require.NoError(t, l.Write(context.Background(), b))
	require.NoError(t, l.Close())
	assert.NotContains(t, buf.String(), "!ERROR")
	got := lines(t, &buf)
	require.Len(t, got, 3)
	assert.Equal(t, "+Inf", got[0]["prediction"])
	assert.Equal(t, 3.0, got[1]["prediction"])
	assert.Equal(t, "+Inf", got[2]["mae"])
}

// A record sent to a dead-letter Log may hold NaN features; slog's JSON
// handler would write an error in place of each.
func TestLogLeavesOutNaNFeatures(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelDebug), Schema: stream.Schema{Features: []string{"a", "b"}}}
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{
		Records:     []stream.Record{{Features: []float64{math.NaN(), 2}, Target: 1}},
		Predictions: []float64{math.NaN()},
	}))
	assert.NotContains(t, buf.String(), "!ERROR")
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.NotContains(t, got[0], "a")
	assert.Equal(t, 2.0, got[0]["b"])
}

func TestLogAttributeNamedLikeAField(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: jsonLogger(&buf, slog.LevelDebug), Schema: stream.Schema{Features: []string{"age"}, Target: "y"}}
	attrs := map[string]string{"prediction": "p", "y": "t", "age": "a", "x1": "f", "key": "k", "model": "m", "city": "Oslo"}
	require.NoError(t, l.Write(context.Background(), stream.ScoredBatch{
		Records:      []stream.Record{{Key: "r1", Features: []float64{34, 2}, Target: 3, Attrs: attrs}},
		Predictions:  []float64{42},
		ModelVersion: 7,
	}))
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.Equal(t, 42.0, got[0]["prediction"])
	assert.Equal(t, 3.0, got[0]["y"])
	assert.Equal(t, 34.0, got[0]["age"])
	assert.Equal(t, 2.0, got[0]["x1"])
	assert.Equal(t, "r1", got[0]["key"])
	assert.Equal(t, 7.0, got[0]["model"])
	assert.Equal(t, "Oslo", got[0]["city"])
	for k, v := range attrs {
		if k != "city" {
			assert.Equal(t, v, got[0]["attr."+k], k)
		}
	}
}

// failingHandler is a log destination that cannot be written to.
type failingHandler struct{ slog.Handler }

func (failingHandler) Handle(context.Context, slog.Record) error {
	return errors.New("log volume full")
}

// A Pipeline acknowledges a batch once Write returns nil; lines that were
// not written must not be reported as handled.
func TestLogReturnsHandlerErrors(t *testing.T) {
	h := failingHandler{slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})}
	l := &Log{Logger: slog.New(h)}
	err := l.Write(context.Background(), scored(3, 1, 0, 1))
	require.ErrorContains(t, err, "log volume full")
	assert.ErrorContains(t, err, "sink: log")

	clk := newFakeNow()
	l = &Log{Logger: slog.New(failingHandler{slog.NewJSONHandler(io.Discard, nil)}), now: clk.now}
	require.NoError(t, l.Write(context.Background(), scored(3, 1, 0, 1)), "at Info the records are not logged")
	clk.advance(DefaultInterval)
	assert.ErrorContains(t, l.Write(context.Background(), scored(3, 1, 0, 1)), "log volume full", "the summary failed")
	assert.ErrorContains(t, l.Close(), "log volume full", "the final summary failed")
}
