package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/forestream/forestream/stream"
)

// JSONL writes scored records as JSON Lines, one flat object per record:
//
//	{"time":"2026-01-02T15:04:05Z","key":"k1","age":34,"hours":40,"salary":72000,"prediction":70512.3,"model_version":3,"city":"Oslo"}
//
// time and key are left out when empty; then come the features by name, the
// target under its name, prediction, model_version, and the attributes
// sorted by name. No key appears twice, whatever the names: a reader that
// keeps the last of two equal keys would lose the record's time or its
// prediction, say. Keys are given in this order, each its name while that
// is free: time, key, prediction and model_version; the schema's features;
// the target; features beyond the schema, named x0, x1, … by position. A
// feature or the target whose name is taken, or starts with "attr." (kept
// for attributes), gets "feature." (the target "target.") before it,
// repeated until the name is free; an attribute named like any of those
// keys, or starting with "attr.", is written as "attr." and its name. With
// features time and age:
//
//	{"time":"2026-01-02T15:04:05Z","feature.time":1.7e+09,"age":34,…}
//
// Numbers keep full precision; NaN and ±Inf (an unlabeled target, a
// prediction before the first model) are written as null. Flat objects are
// what jq and dataframe readers expect, and source.NewJSONL reads them back
// with Columns that name the target, the key, the time and the attributes
// by the keys written, and ignore prediction and model_version; a renamed
// feature comes back under its key. Since time, key and attributes are
// left out where empty, give source.JSONLOptions.Features too when the
// first record may lack one of them.
//
// Each Write hands its records to the writer before it returns, in as few
// calls as its 64 KiB buffer allows, so a nil error means the writer has
// them: a Pipeline acknowledges a batch only after that. JSONL does not
// close the writer.
type JSONL struct {
	mu     sync.Mutex
	w      *bufio.Writer
	keys   [][]byte // `"name":` for each feature
	target []byte   // `"salary":`
	buf    []byte
	attrs  []string
	// fields holds the keys taken before the attributes': time, key,
	// prediction, model_version, and those of the features and the target.
	fields map[string]bool
	closed bool
	err    error
}

// NewJSONL returns a JSONL sink writing to w. The schema names the features
// and target; when it is empty they are x0, x1, … and target.
func NewJSONL(w io.Writer, schema stream.Schema) *JSONL {
	j := &JSONL{fields: map[string]bool{"time": true, "key": true, "prediction": true, "model_version": true}}
	if w != nil {
		j.w = bufio.NewWriterSize(w, 64<<10)
	}
	for _, f := range schema.Features {
		j.keys = append(j.keys, appendKey(nil, claim(j.fields, f, featurePrefix)))
	}
	t := schema.Target
	if t == "" {
		t = "target"
	}
	j.target = appendKey(nil, claim(j.fields, t, targetPrefix))
	return j
}

func appendKey(b []byte, k string) []byte {
	b = appendString(b, k)
	return append(b, ':')
}

func (j *JSONL) key(i int) []byte {
	for len(j.keys) <= i {
		name := claim(j.fields, "x"+strconv.Itoa(len(j.keys)), featurePrefix)
		j.keys = append(j.keys, appendKey(nil, name))
	}
	return j.keys[i]
}

// Write encodes b's records and hands them to the writer. It returns the
// writer's error, wrapped, if writing fails; that error sticks, as bufio's
// does. It returns ErrClosed after Close, and an error if JSONL was not
// made by NewJSONL with a writer.
func (j *JSONL) Write(_ context.Context, b stream.ScoredBatch) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if j.w == nil {
		return errNoWriter
	}
	if j.err != nil {
		return j.err
	}
	for i, r := range b.Records {
		buf := append(j.buf[:0], '{')
		if !r.Time.IsZero() {
			buf = append(buf, `"time":"`...)
			buf = r.Time.AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, `",`...)
		}
		if r.Key != "" {
			buf = append(buf, `"key":`...)
			buf = appendString(buf, r.Key)
			buf = append(buf, ',')
		}
		for k, x := range r.Features {
			buf = append(buf, j.key(k)...)
			buf = appendFloat(buf, x)
			buf = append(buf, ',')
		}
		buf = append(buf, j.target...)
		buf = appendFloat(buf, r.Target)
		buf = append(buf, `,"prediction":`...)
		p := math.NaN()
		if i < len(b.Predictions) {
			p = b.Predictions[i]
		}
		buf = appendFloat(buf, p)
		buf = append(buf, `,"model_version":`...)
		buf = strconv.AppendUint(buf, b.ModelVersion, 10)
		if len(r.Attrs) > 0 {
			names := j.attrs[:0]
			for k := range r.Attrs {
				names = append(names, k)
			}
			slices.Sort(names) // map order would make identical records differ
			for _, k := range names {
				buf = append(buf, ',')
				buf = appendString(buf, attrName(k, j.fields))
				buf = append(buf, ':')
				buf = appendString(buf, r.Attrs[k])
			}
			j.attrs = names
		}
		buf = append(buf, '}', '\n')
		j.buf = buf
		if _, err := j.w.Write(buf); err != nil {
			j.err = writeError(err)
			return j.err
		}
	}
	if err := j.w.Flush(); err != nil {
		j.err = writeError(err)
		return j.err
	}
	return nil
}

// writeError wraps the writer's error. os and net already name the
// operation ("write /path: file already closed"), so JSONL says "write"
// only when the error does not.
func writeError(err error) error {
	if strings.HasPrefix(err.Error(), "write ") {
		return fmt.Errorf("sink: jsonl: %w", err)
	}
	return fmt.Errorf("sink: jsonl: write: %w", err)
}

// errNoWriter is what a JSONL without a writer returns.
var errNoWriter = errors.New("sink: jsonl: no writer: make JSONL with NewJSONL and a non-nil io.Writer")

// Close makes later Writes return ErrClosed. Every Write has already handed
// its records to the writer, so there is nothing to flush; the writer itself
// is left open.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	return nil
}

func appendFloat(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. strconv.Quote would not do: its
// \x escapes are not JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
