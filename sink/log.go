package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/forestream/forestream/stream"
)

// DefaultInterval is the time between Log's summaries when Interval is 0.
const DefaultInterval = 5 * time.Second

// Log is the default sink: it reports what the model predicts through
// log/slog. Its zero value logs to slog.Default() every DefaultInterval.
//
// At Info it writes a summary once per Interval: the records since the last
// summary (records) and how many a second (per_sec), the total so far, the
// version of the model scoring them (model, 0 before the first), and the
// live error over the labeled records that a model scored since the last
// summary (mae, rmse, r2; left out while there are none), or for a
// Classifier the share of them predicted exactly (correct). Close writes a
// final summary of the whole run. The rate counts from the first batch's
// arrival the records that came after it, as the first batch's were read
// before; it is left out until a second batch comes.
//
// At Debug it also writes each record: its key, features by name, target
// (under the schema's target name), prediction, model version and attributes
// (sorted by name). No key appears twice, whatever the names, by JSONL's
// rule with Log's own keys: the handler's time, level, msg and source, and
// key, prediction and model keep their names; the schema's features, the
// target and features beyond the schema follow, in that order, and one
// whose name is taken, or starts with "attr.", gets "feature." (the target
// "target.") before it, repeated until the name is free; an attribute named
// like any of those keys, or starting with "attr.", is logged as "attr."
// and its name. Features level and msg, say, are logged as feature.level
// and feature.msg. Keys the Logger adds on its own (logger.With, a
// handler's ReplaceAttr) are unknown to Log and may still repeat one of
// these. When the logger is not enabled for Debug, the per-record path
// costs one Enabled call per batch.
//
// Numbers are rounded to four significant digits (whole numbers from 1,000
// up) to keep lines short in a terminal; use JSONL for full precision. NaN
// values — an unlabeled target, a prediction before the first model, a
// feature of a record sent to a dead-letter Log — are left out, since JSON
// cannot encode them; an infinite value is written as the string "+Inf" or
// "-Inf".
//
// Write and Close return the handler's error when a line cannot be written,
// so that a Pipeline does not acknowledge records that were not logged.
//
// The summary clock is the arrival of batches: a summary is written by the
// first Write at least Interval after the previous one, so Log needs no
// goroutine of its own, and a stalled stream writes no summaries until it
// resumes or closes.
type Log struct {
	// Logger receives the lines; nil means slog.Default().
	Logger *slog.Logger
	// Schema names the features and the target in Debug lines; when it is
	// empty they are x0, x1, … and target. Log reads it at the first Debug
	// line, to settle the keys once.
	Schema stream.Schema
	// Interval is the time between summaries; 0 means DefaultInterval, and a
	// negative value leaves only the final summary.
	Interval time.Duration
	// Classifier says that targets and predictions are class labels:
	// summaries then give the share of predictions equal to their target
	// (correct) in place of mae, rmse and r2, which mean nothing between
	// labels.
	Classifier bool

	now func() time.Time // nil means time.Now; tests set a fake clock

	mu      sync.Mutex
	closed  bool
	started bool
	first   time.Time
	version uint64
	period  tally // since the last summary
	run     tally // since the first batch
	// ref is the first labeled target, subtracted from every target before
	// it is summed: with large targets of small spread, Σy² − n·ȳ² would
	// otherwise cancel away the variance that R² divides by.
	ref    float64
	hasRef bool
	names  []string // the features' keys
	target string   // the target's key
	// fields holds the keys taken before the attributes' in a record's
	// line; nil until the first Debug line.
	fields  map[string]bool
	attrBuf []slog.Attr
	keyBuf  []string
}

// tally accumulates counts and the live error over a span of records.
type tally struct {
	start time.Time
	n     int64   // records
	early int64   // records that came at start, and were read before it
	m     int64   // labeled records a model scored
	hits  int64   // of those, predictions equal to their target
	sumAE float64 // Σ|y − ŷ|
	sumSE float64 // Σ(y − ŷ)²
	sumY  float64 // Σ(y − ref), ref being Log.ref
	sumYY float64 // Σ(y − ref)²
}

func (t *tally) add(o tally) {
	t.n += o.n
	t.early += o.early
	t.m += o.m
	t.hits += o.hits
	t.sumAE += o.sumAE
	t.sumSE += o.sumSE
	t.sumY += o.sumY
	t.sumYY += o.sumYY
}

func (l *Log) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

func (l *Log) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// Write logs b and, when the interval has passed, a summary. It returns
// ErrClosed after Close.
func (l *Log) Write(ctx context.Context, b stream.ScoredBatch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	now := l.clock()
	firstBatch := !l.started
	if firstBatch {
		l.started = true
		l.first = now
		l.period.start = now
	}
	lg := l.logger()
	if lg.Enabled(ctx, slog.LevelDebug) {
		if err := l.logRecords(ctx, lg, b); err != nil {
			return err
		}
	}
	l.version = b.ModelVersion

	var t tally
	t.n = int64(len(b.Records))
	if firstBatch {
		t.early = t.n
	}
	for i, r := range b.Records {
		if i >= len(b.Predictions) {
			break
		}
		p := b.Predictions[i]
		if math.IsNaN(p) || math.IsNaN(r.Target) {
			continue
		}
		if !l.hasRef {
			l.ref, l.hasRef = r.Target, true
		}
		e := r.Target - p
		y := r.Target - l.ref
		t.m++
		if r.Target == p {
			t.hits++
		}
		t.sumAE += math.Abs(e)
		t.sumSE += e * e
		t.sumY += y
		t.sumYY += y * y
	}
	l.period.add(t)
	l.run.add(t)

	interval := l.Interval
	if interval == 0 {
		interval = DefaultInterval
	}
	if interval > 0 && now.Sub(l.period.start) >= interval {
		period := l.period
		l.period = tally{start: now}
		return l.summarize(ctx, lg, "summary", period, now)
	}
	return nil
}

// Close writes the final summary of the run. Only the first call does
// anything.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	run := l.run
	run.start = l.first
	return l.summarize(context.Background(), l.logger(), "final summary", run, l.clock())
}

// emit is lg.LogAttrs that returns the handler's error instead of dropping
// it.
func emit(ctx context.Context, lg *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) error {
	if !lg.Enabled(ctx, level) {
		return nil
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	if err := lg.Handler().Handle(ctx, r); err != nil {
		return fmt.Errorf("sink: log: %w", err)
	}
	return nil
}

func (l *Log) summarize(ctx context.Context, lg *slog.Logger, msg string, t tally, now time.Time) error {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.Int64("records", t.n))
	if d := now.Sub(t.start).Seconds(); d > 0 && t.n > t.early {
		attrs = append(attrs, slog.Int64("per_sec", int64(math.Round(float64(t.n-t.early)/d))))
	}
	if msg == "summary" {
		attrs = append(attrs, slog.Int64("total", l.run.n))
	}
	attrs = append(attrs, slog.Uint64("model", l.version))
	if t.m > 0 && l.Classifier {
		attrs = append(attrs, number("correct", math.Round(float64(t.hits)/float64(t.m)*1000)/1000))
	} else if t.m > 0 {
		m := float64(t.m)
		attrs = append(attrs,
			number("mae", round(t.sumAE/m)),
			number("rmse", round(math.Sqrt(t.sumSE/m))))
		mean := t.sumY / m
		if ss := t.sumYY - m*mean*mean; t.m > 1 && ss > 0 {
			attrs = append(attrs, number("r2", math.Round((1-t.sumSE/ss)*1000)/1000))
		}
	}
	return emit(ctx, lg, slog.LevelInfo, msg, attrs)
}

func (l *Log) logRecords(ctx context.Context, lg *slog.Logger, b stream.ScoredBatch) error {
	if l.fields == nil {
		l.settleNames()
	}
	for i, r := range b.Records {
		attrs := l.attrBuf[:0]
		if r.Key != "" {
			attrs = append(attrs, slog.String("key", r.Key))
		}
		for j, x := range r.Features {
			name := l.featureName(j)
			if !math.IsNaN(x) {
				attrs = append(attrs, number(name, round(x)))
			}
		}
		if !math.IsNaN(r.Target) {
			attrs = append(attrs, number(l.target, round(r.Target)))
		}
		if i < len(b.Predictions) && !math.IsNaN(b.Predictions[i]) {
			attrs = append(attrs, number("prediction", round(b.Predictions[i])))
		}
		attrs = append(attrs, slog.Uint64("model", b.ModelVersion))
		if len(r.Attrs) > 0 {
			keys := l.keyBuf[:0]
			for k := range r.Attrs {
				keys = append(keys, k)
			}
			slices.Sort(keys) // map order would make every line differ
			for _, k := range keys {
				attrs = append(attrs, slog.String(attrName(k, l.fields), r.Attrs[k]))
			}
			l.keyBuf = keys
		}
		l.attrBuf = attrs
		if err := emit(ctx, lg, slog.LevelDebug, "record", attrs); err != nil {
			return err
		}
	}
	return nil
}

// settleNames gives the keys of the handler and of Log's own fields, then
// the schema's features and target theirs, as the doc comment says.
func (l *Log) settleNames() {
	l.fields = map[string]bool{
		slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true,
		"key": true, "prediction": true, "model": true,
	}
	for _, f := range l.Schema.Features {
		l.names = append(l.names, claim(l.fields, f, featurePrefix))
	}
	target := l.Schema.Target
	if target == "" {
		target = "target"
	}
	l.target = claim(l.fields, target, targetPrefix)
}

// featureName is the key of feature j; a feature beyond the schema gets
// one when it first comes.
func (l *Log) featureName(j int) string {
	for len(l.names) <= j {
		l.names = append(l.names, claim(l.fields, "x"+strconv.Itoa(len(l.names)), featurePrefix))
	}
	return l.names[j]
}

// round keeps four significant digits, or the whole number from 1,000 up:
// enough to read a prediction at a glance, few enough to scan a column.
func round(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	if math.Abs(x) >= 1000 {
		return math.Round(x)
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(x))))
	if math.IsInf(p, 0) {
		// Below about 1e-305 the scale overflows and x*p/p would be NaN;
		// such values are too small for four digits to matter.
		return x
	}
	return math.Round(x*p) / p
}

// number is a float attribute. An infinite value, from a predictor that
// returned one, say, goes as the string "+Inf" or "-Inf": JSON has no
// number for it, and slog's JSON handler would write an error instead.
func number(key string, x float64) slog.Attr {
	if math.IsInf(x, 0) {
		return slog.String(key, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return slog.Float64(key, x)
}
