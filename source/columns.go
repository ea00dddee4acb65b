package source

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Columns says which columns (CSV) or keys (JSON Lines) of tabular input play
// which part in a record. A column named nowhere here is a feature.
type Columns struct {
	// Target names the target column. A missing or empty value there makes
	// the record unlabeled (Target NaN). Empty means no column is the target
	// and every record is unlabeled.
	Target string
	// Attrs name columns carried along as string attributes.
	Attrs []string
	// Key names the column that becomes Record.Key.
	Key string
	// Time names a column of RFC 3339 times, as sink.JSONL writes them, that
	// becomes Record.Time; spaces around a time are ignored, and "t" and "z"
	// may be lowercase, as RFC 3339 allows. A record whose value is empty,
	// missing or the zero time.Time (year 1), like every record without
	// this column, gets the time it was read.
	Time string
	// Ignore names columns that are dropped.
	Ignore []string
}

// roles maps each column named in c to its part, and checks that no column
// has two. src names the source, for errors.
func (c Columns) roles(src string) (map[string]string, error) {
	m := make(map[string]string)
	add := func(name, role string) error {
		if name == "" {
			return invalidConfigf(src, "an empty column name among the %s columns", role)
		}
		if prev, ok := m[name]; ok {
			return invalidConfigf(src, "column %q is both %s and %s", name, prev, role)
		}
		m[name] = role
		return nil
	}
	if c.Target != "" {
		if err := add(c.Target, "target"); err != nil {
			return nil, err
		}
	}
	if c.Key != "" {
		if err := add(c.Key, "key"); err != nil {
			return nil, err
		}
	}
	if c.Time != "" {
		if err := add(c.Time, "time"); err != nil {
			return nil, err
		}
	}
	for _, a := range c.Attrs {
		if err := add(a, "attribute"); err != nil {
			return nil, err
		}
	}
	for _, a := range c.Ignore {
		if err := add(a, "ignored"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// namedColumn is a name Columns gives, with the field it is given in.
type namedColumn struct{ field, name string }

// named lists the names c gives in the order of its fields, each with its
// field, so that an error about a name can point at the setting to fix.
func (c Columns) named() []namedColumn {
	var out []namedColumn
	for _, n := range []namedColumn{{"Target", c.Target}, {"Key", c.Key}, {"Time", c.Time}} {
		if n.name != "" {
			out = append(out, n)
		}
	}
	for _, a := range c.Attrs {
		out = append(out, namedColumn{"Attrs", a})
	}
	for _, a := range c.Ignore {
		out = append(out, namedColumn{"Ignore", a})
	}
	return out
}

// parseTime parses a time column's value; empty means none.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	// RFC 3339 allows a lowercase "t" and "z" (section 5.6, NOTE) but
	// time.Parse wants them uppercase. Upper-casing leaves the digits,
	// signs, colons and dots of a valid time as they are.
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	return t, nil
}

// parseFeature parses a feature value. Empty, NaN and ±Inf (which
// ParseFloat accepts) are errors: such a feature would only be rejected
// later, further from its line.
func parseFeature(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty value")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a finite number: %q", s)
	}
	return v, nil
}

// parseTarget parses a target value: empty (or NaN) means unlabeled, and
// ±Inf is an error for the same reason as in parseFeature.
func parseTarget(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	if math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a finite number: %q", s)
	}
	return v, nil
}

var nan = math.NaN()
