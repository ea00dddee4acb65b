package source

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Check them with errors.Is.
var (
	// ErrInvalidConfig is returned when a source's settings cannot work: a
	// negative rate, an unknown column, a generator without a function.
	ErrInvalidConfig = errors.New("source: invalid configuration")
	// ErrNoHeader is returned by NewCSV and NewJSONL when the input ends
	// before the header (CSV) or the first line (JSON Lines) it needs for the
	// schema.
	ErrNoHeader = errors.New("source: input has no header")
	// ErrMalformed is wrapped by every LineError.
	ErrMalformed = errors.New("source: malformed input")
)

// LineError describes a malformed line of CSV or JSON Lines input. Line
// counts from 1 and includes the CSV header, so it is the number an editor
// shows. Field names the column or key at fault, when there is one.
type LineError struct {
	Line  int
	Field string
	Err   error
}

// Error reports the line, the field if any, and what was wrong.
func (e *LineError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("source: malformed input: line %d: field %q: %v", e.Line, e.Field, e.Err)
	}
	return fmt.Sprintf("source: malformed input: line %d: %v", e.Line, e.Err)
}

// Unwrap returns the underlying parse error.
func (e *LineError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true for every LineError.
func (e *LineError) Is(target error) bool { return target == ErrMalformed }

// Policy says what CSV and JSONL do with a malformed line.
type Policy int

const (
	// Fail stops the stream: Read returns the records parsed before the bad
	// line together with a *LineError. It is the zero value, because silently
	// losing data should be a choice.
	Fail Policy = iota
	// Skip drops the malformed line, counts it (see Skipped) and reads on.
	Skip
)

// String returns "fail" or "skip".
func (p Policy) String() string {
	switch p {
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}
