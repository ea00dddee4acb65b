package source

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/forestream/forestream/stream"
)

// CSVOptions configures a CSV source.
type CSVOptions struct {
	Columns
	// Comma is the field delimiter; 0 means ','.
	Comma rune
	// OnError says what to do with a malformed line; the zero value is Fail.
	OnError Policy
}

// CSV reads records from comma-separated values whose first line is a header.
// The header names the columns; Columns picks the target, attributes, key,
// time and ignored columns, and every other column is a feature, in header
// order.
//
// A line is malformed when it has the wrong number of fields, bad quoting, or
// a feature or target that is not a finite number (an empty or NaN feature
// included; an empty or NaN target makes the record unlabeled). Under
// Fail, Read returns the records before it together with a *LineError naming
// the line, and the same error from then on; under Skip the line is dropped
// and counted by Skipped.
//
// Records take their times from the time column, if Columns names one, and
// are otherwise stamped with the time their batch was read. CSV does not
// close the reader it was given.
type CSV struct {
	lineReader
	r      *csv.Reader
	schema stream.Schema
	header []string
	feats  []int // column of each feature
	target int   // -1 when there is none
	key    int   // -1 when there is none
	// timeCol is the column of the records' times, -1 when there is none.
	timeCol int
	attrs   []int
}

// NewCSV reads the header from r and returns a CSV source over the rest. It
// returns ErrNoHeader if r is empty, and ErrInvalidConfig if a column named
// in opts is missing from the header, the header repeats a name, or no
// column is left to be a feature.
func NewCSV(r io.Reader, opts CSVOptions) (*CSV, error) {
	roles, err := opts.roles("csv")
	if err != nil {
		return nil, err
	}
	if opts.OnError != Fail && opts.OnError != Skip {
		return nil, invalidConfigf("csv", "unknown error policy %v", opts.OnError)
	}
	cr := csv.NewReader(r)
	if c := opts.Comma; c != 0 {
		if c == '"' || c == '\r' || c == '\n' || c == utf8.RuneError || !utf8.ValidRune(c) {
			return nil, invalidConfigf("csv", "%q cannot separate fields", c)
		}
		cr.Comma = c
	}
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &sourceError{msg: "source: csv: input has no header", errs: []error{ErrNoHeader}}
	}
	if err != nil {
		return nil, fmt.Errorf("source: csv: header: %w", err)
	}
	header = append([]string(nil), header...) // ReuseRecord would overwrite it
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF") // spreadsheets write a byte-order mark
	}
	c := &CSV{lineReader: lineReader{format: "csv", onError: opts.OnError, now: time.Now}, r: cr, header: header, target: -1, key: -1, timeCol: -1}
	seen := make(map[string]int, len(header))
	var names []string
	for i, h := range header {
		if j, dup := seen[h]; dup {
			return nil, invalidConfigf("csv", "columns %d and %d are both named %q", j+1, i+1, h)
		}
		seen[h] = i
		switch roles[h] {
		case "target":
			c.target = i
		case "key":
			c.key = i
		case "time":
			c.timeCol = i
		case "attribute", "ignored":
		default:
			c.feats = append(c.feats, i)
			names = append(names, h)
		}
	}
	for _, n := range opts.named() { // in a fixed order, unlike roles
		if _, ok := seen[n.name]; !ok {
			return nil, invalidConfigf("csv", "%s %q is not a column of the header %q", n.field, n.name, header)
		}
	}
	for _, a := range opts.Attrs {
		c.attrs = append(c.attrs, seen[a])
	}
	c.schema = stream.Schema{Features: names, Target: opts.Target}
	if err := c.schema.Validate(); err != nil {
		return nil, invalidSchema("csv", "", err)
	}
	return c, nil
}

// Schema returns the features (header order) and target the options chose.
func (c *CSV) Schema() stream.Schema { return c.schema }

// Skipped returns the number of malformed lines dropped under Skip. It is
// safe to call from any goroutine.
func (c *CSV) Skipped() int64 { return c.skipped.Load() }

// Read parses up to max records. It returns io.EOF after the last record and
// ctx.Err() once ctx is done, with any records parsed before. A Read blocked
// inside the underlying reader cannot be interrupted: close that reader to
// unblock it.
func (c *CSV) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	return c.read(ctx, max, len(c.feats), c.next)
}

// next reads and parses one line, in the terms lineReader.read asks for.
func (c *CSV) next(dst []float64) (stream.Record, error) {
	fields, err := c.r.Read()
	switch {
	case err == nil:
		return c.parse(fields, dst)
	case errors.Is(err, io.EOF):
		return stream.Record{}, io.EOF
	}
	if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
		return stream.Record{}, &LineError{Line: pe.Line, Err: pe.Err}
	}
	return stream.Record{}, fmt.Errorf("source: csv: %w", err)
}

// lineError is err in the field of column col, on the line the field
// starts on: a quoted field before it may span lines.
func (c *CSV) lineError(col int, err error) *LineError {
	line, _ := c.r.FieldPos(col)
	return &LineError{Line: line, Field: c.header[col], Err: err}
}

// parse turns one line's fields into a record, appending the features to
// dst, which has room for them.
func (c *CSV) parse(fields []string, dst []float64) (stream.Record, error) {
	for _, col := range c.feats {
		v, err := parseFeature(fields[col])
		if err != nil {
			return stream.Record{}, c.lineError(col, err)
		}
		dst = append(dst, v)
	}
	rec := stream.Record{Features: dst[:len(dst):len(dst)]}
	rec.Target = nan
	if c.target >= 0 {
		v, err := parseTarget(fields[c.target])
		if err != nil {
			return stream.Record{}, c.lineError(c.target, err)
		}
		rec.Target = v
	}
	if c.key >= 0 {
		rec.Key = fields[c.key]
	}
	if c.timeCol >= 0 {
		t, err := parseTime(fields[c.timeCol])
		if err != nil {
			return stream.Record{}, c.lineError(c.timeCol, err)
		}
		rec.Time = t
	}
	if len(c.attrs) > 0 {
		rec.Attrs = make(map[string]string, len(c.attrs))
		for _, col := range c.attrs {
			rec.Attrs[c.header[col]] = fields[col]
		}
	}
	return rec, nil
}
