package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/forestream/forestream/stream"
)

// DefaultMaxLineBytes is the longest JSON Lines line read when
// JSONLOptions.MaxLineBytes is 0.
const DefaultMaxLineBytes = 1 << 20

// JSONLOptions configures a JSON Lines source.
type JSONLOptions struct {
	Columns
	// Features names the features in schema order. When it is nil they are
	// the keys of the first line, in the order written there, less the keys
	// Columns names. Each of those keys must hold a number there: a string,
	// say, needs naming in Columns as what it is. And every key Columns
	// names must be on that line, so that a misspelt name is an error
	// rather than a feature: a first line without the target (an unlabeled
	// first record), the key, the time or an attribute needs Features
	// given. Later lines may still lack them. When Features is given, the
	// names in Columns need not be on any particular line.
	Features []string
	// OnError says what to do with a malformed line; the zero value is Fail.
	OnError Policy
	// MaxLineBytes bounds a line's length, so that input without newlines
	// cannot exhaust memory; a longer line is malformed. 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
}

// JSONL reads records from JSON Lines: one JSON object per line. Features
// and the target must be JSON numbers; a null, empty-string or missing target
// makes the record unlabeled, though when the features are inferred the
// first line must have the target key (see JSONLOptions.Features).
// Attribute and key values may be strings or any other scalar, kept as
// written; a null one is left out. A time value must be a string in RFC
// 3339. Keys the schema does not name are ignored, and blank lines and a
// byte-order mark at the start are skipped. MaxLineBytes does not count a
// line's "\n" or "\r\n".
//
// A line is malformed when it is not a JSON object, lacks a feature, or holds
// a value of the wrong kind. Under Fail, Read returns the records before it
// together with a *LineError naming the line, and the same error from then
// on; under Skip the line is dropped and counted by Skipped.
//
// Records take their times from the time key, if Columns names one, and
// are otherwise stamped with the time their batch was read. JSONL does not
// close the reader it was given.
type JSONL struct {
	lineReader
	r       *bufio.Reader
	max     int
	schema  stream.Schema
	cols    Columns
	line    int    // number of the last line read
	pending []byte // a line read ahead by NewJSONL, not yet parsed
	buf     []byte
	obj     map[string]json.RawMessage
}

// NewJSONL returns a JSON Lines source over r. When opts.Features is nil it
// reads the first non-blank line to learn the features, and returns
// ErrNoHeader if there is none, and ErrInvalidConfig if a key Columns names
// is not on it or a key it would make a feature does not hold a number
// (see JSONLOptions.Features). That line is still the first record Read
// returns. It returns ErrInvalidConfig when a name is repeated or given two
// parts.
func NewJSONL(r io.Reader, opts JSONLOptions) (*JSONL, error) {
	roles, err := opts.roles("jsonl")
	if err != nil {
		return nil, err
	}
	if opts.OnError != Fail && opts.OnError != Skip {
		return nil, invalidConfigf("jsonl", "unknown error policy %v", opts.OnError)
	}
	if opts.MaxLineBytes < 0 {
		return nil, invalidConfigf("jsonl", "MaxLineBytes %d", opts.MaxLineBytes)
	}
	j := &JSONL{
		lineReader: lineReader{format: "jsonl", onError: opts.OnError, now: time.Now},
		r:          bufio.NewReader(r),
		max:        opts.MaxLineBytes,
		cols:       opts.Columns,
	}
	if j.max == 0 {
		j.max = DefaultMaxLineBytes
	}
	names := opts.Features
	if names == nil {
		line, err := j.nextLine()
		if errors.Is(err, io.EOF) {
			return nil, &sourceError{msg: "source: jsonl: input has no line to take the features from", errs: []error{ErrNoHeader}}
		}
		if err != nil {
			return nil, err
		}
		keys, vals, err := objectKeys(line)
		if err != nil {
			return nil, &LineError{Line: j.line, Err: err}
		}
		// A name the first line lacks is most likely misspelt, and a
		// misspelt target would go unnoticed: the real one would become a
		// feature and every record be unlabeled. CSV checks its header the
		// same way.
		for _, n := range opts.named() {
			if _, ok := vals[n.name]; !ok {
				return nil, invalidConfigf("jsonl", "%s %q is not a key of the first line (line %d), which has %q; give Features if it may be missing there",
					n.field, n.name, j.line, keys)
			}
		}
		for _, k := range keys {
			if _, named := roles[k]; named {
				continue
			}
			// A feature that is not a number here would fail the first
			// Read with a malformed line; the mistake is the options', and
			// is clearer said here.
			if kind := jsonKind(vals[k]); kind != "" {
				return nil, invalidConfigf("jsonl", "key %q of the first line (line %d) holds %s, not a number, so it cannot be a feature; name it in Attrs, Ignore, Key, Time or Target",
					k, j.line, kind)
			}
			names = append(names, k)
		}
		j.pending = line // the first record, for the first Read
	} else {
		names = append([]string(nil), names...)
		for _, f := range names {
			if role, ok := roles[f]; ok {
				return nil, invalidConfigf("jsonl", "%q is both a feature and %s", f, role)
			}
		}
	}
	j.schema = stream.Schema{Features: names, Target: opts.Target}
	if err := j.schema.Validate(); err != nil {
		return nil, invalidSchema("jsonl", "", err)
	}
	return j, nil
}

// Schema returns the features and target of the stream.
func (j *JSONL) Schema() stream.Schema { return j.schema }

// Skipped returns the number of malformed lines dropped under Skip. It is
// safe to call from any goroutine.
func (j *JSONL) Skipped() int64 { return j.skipped.Load() }

// nextLine returns the next non-blank line, or io.EOF. A line longer than
// j.max is consumed and reported as a *LineError. The line is only valid
// until the next call.
func (j *JSONL) nextLine() ([]byte, error) {
	for {
		j.buf = j.buf[:0]
		tooLong := false
		var err error
		for {
			var frag []byte
			frag, err = j.r.ReadSlice('\n')
			if !tooLong {
				j.buf = append(j.buf, frag...)
				if len(j.buf)-2 > j.max { // room for a "\r\n", which does not count
					tooLong = true
					j.buf = j.buf[:0]
				}
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("source: jsonl: %w", err)
		}
		if errors.Is(err, io.EOF) && len(j.buf) == 0 && !tooLong {
			return nil, io.EOF
		}
		j.line++
		if tooLong || len(bytes.TrimSuffix(bytes.TrimSuffix(j.buf, []byte("\n")), []byte("\r"))) > j.max {
			return nil, &LineError{Line: j.line, Err: fmt.Errorf("longer than %d bytes", j.max)}
		}
		line := bytes.TrimSpace(j.buf)
		if j.line == 1 {
			// Some Windows tools start a UTF-8 file with a byte-order mark.
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) > 0 {
			return line, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
	}
}

// Read parses up to max records. It returns io.EOF after the last record and
// ctx.Err() once ctx is done, with any records parsed before. A Read blocked
// inside the underlying reader cannot be interrupted: close that reader to
// unblock it.
func (j *JSONL) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	return j.read(ctx, max, len(j.schema.Features), j.next)
}

// next reads and parses one line, in the terms lineReader.read asks for.
func (j *JSONL) next(dst []float64) (stream.Record, error) {
	line := j.pending
	if line != nil {
		j.pending = nil
	} else {
		var err error
		if line, err = j.nextLine(); err != nil {
			return stream.Record{}, err
		}
	}
	return j.parse(line, dst)
}

func (j *JSONL) parse(line []byte, dst []float64) (stream.Record, error) {
	clear(j.obj)
	if j.obj == nil {
		j.obj = make(map[string]json.RawMessage, len(j.schema.Features)+4)
	}
	if len(line) == 0 || line[0] != '{' {
		return stream.Record{}, &LineError{Line: j.line, Err: errors.New("not a JSON object")}
	}
	if err := json.Unmarshal(line, &j.obj); err != nil {
		return stream.Record{}, &LineError{Line: j.line, Err: err}
	}
	for _, name := range j.schema.Features {
		raw, ok := j.obj[name]
		if !ok {
			return stream.Record{}, &LineError{Line: j.line, Field: name, Err: errors.New("missing")}
		}
		v, err := jsonNumber(raw)
		if err != nil {
			return stream.Record{}, &LineError{Line: j.line, Field: name, Err: err}
		}
		dst = append(dst, v)
	}
	rec := stream.Record{Features: dst[:len(dst):len(dst)], Target: nan}
	if t := j.cols.Target; t != "" {
		if raw, ok := j.obj[t]; ok && !isNullOrEmpty(raw) {
			v, err := jsonNumber(raw)
			if err != nil {
				return stream.Record{}, &LineError{Line: j.line, Field: t, Err: err}
			}
			rec.Target = v
		}
	}
	if k := j.cols.Key; k != "" {
		if raw, ok := j.obj[k]; ok && string(raw) != "null" { // no key, as for attributes
			s, err := jsonScalar(raw)
			if err != nil {
				return stream.Record{}, &LineError{Line: j.line, Field: k, Err: err}
			}
			rec.Key = s
		}
	}
	if tc := j.cols.Time; tc != "" {
		if raw, ok := j.obj[tc]; ok && string(raw) != "null" {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return stream.Record{}, &LineError{Line: j.line, Field: tc, Err: fmt.Errorf("want an RFC 3339 time, got %s", raw)}
			}
			t, err := parseTime(s)
			if err != nil {
				return stream.Record{}, &LineError{Line: j.line, Field: tc, Err: err}
			}
			rec.Time = t
		}
	}
	for _, a := range j.cols.Attrs {
		raw, ok := j.obj[a]
		if !ok || string(raw) == "null" {
			continue
		}
		s, err := jsonScalar(raw)
		if err != nil {
			return stream.Record{}, &LineError{Line: j.line, Field: a, Err: err}
		}
		if rec.Attrs == nil {
			rec.Attrs = make(map[string]string, len(j.cols.Attrs))
		}
		rec.Attrs[a] = s
	}
	return rec, nil
}

func isNullOrEmpty(raw json.RawMessage) bool {
	s := string(raw)
	return s == "null" || s == `""`
}

func jsonNumber(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, fmt.Errorf("want a number, got %s", raw)
	}
	// Unmarshal has checked the syntax, and JSON's numbers are a subset of
	// ParseFloat's; the only error left is overflow.
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, fmt.Errorf("number out of range: %s", raw)
	}
	return v, nil
}

func jsonScalar(raw json.RawMessage) (string, error) {
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", fmt.Errorf("want a string or other scalar, got %s", raw)
	}
	return string(raw), nil
}

// jsonKind returns "" for a JSON number, and otherwise what raw is, for
// an error: "a string", "null", "a boolean", "an object" or "an array".
// raw is one whole JSON value, as a decoder returns it, so its first byte
// tells its kind.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "" // '-' or a digit
}

// objectKeys returns the keys of the JSON object in line, in order, and
// their values: the last one of a repeated key, as Read takes it.
func objectKeys(line []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	vals := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("want a key, got %v", tok)
		}
		if _, seen := vals[k]; !seen {
			keys = append(keys, k)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		vals[k] = v
	}
	return keys, vals, nil
}
