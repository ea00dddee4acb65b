package source

import (
	"errors"
	"fmt"
	"strings"

	"github.com/forestream/forestream/stream"
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

// sourceError is an error of one source, worded in its own terms, that
// wraps errs for errors.Is and errors.As. fmt.Errorf("%w: csv: %w",
// ErrInvalidConfig, err) would name the source after the kind of error and
// put err's package prefix mid-sentence: "source: invalid configuration:
// csv: stream: invalid schema: no features".
type sourceError struct {
	msg  string
	errs []error
}

func (e *sourceError) Error() string   { return e.msg }
func (e *sourceError) Unwrap() []error { return e.errs }

// invalidConfigf returns an error wrapping ErrInvalidConfig, worded
// "source: <src>: invalid configuration: <detail>", where src names the
// source ("csv", "faker") and detail is format's text.
func invalidConfigf(src, format string, args ...any) error {
	return &sourceError{
		msg:  "source: " + src + ": invalid configuration: " + fmt.Sprintf(format, args...),
		errs: []error{ErrInvalidConfig},
	}
}

// invalidSchema returns an error wrapping ErrInvalidConfig and err, a
// stream.ErrInvalidSchema from Schema.Validate, worded like invalidConfigf's:
// "source: csv: invalid configuration: no features". err's own
// "stream: invalid schema: " would only repeat that. in, when not empty,
// names the setting the schema came from, as "spec" for Faker.
func invalidSchema(src, in string, err error) error {
	detail := strings.TrimPrefix(err.Error(), stream.ErrInvalidSchema.Error()+": ")
	if in != "" {
		detail = in + ": " + detail
	}
	return &sourceError{
		msg:  "source: " + src + ": invalid configuration: " + detail,
		errs: []error{ErrInvalidConfig, err},
	}
}

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
