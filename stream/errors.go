package stream

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by this package. Check them with errors.Is.
var (
	// ErrNoSource is returned by Run when the Pipeline has no Source.
	ErrNoSource = errors.New("stream: pipeline has no source")
	// ErrInvalidConfig is returned by Run when a Pipeline setting is out of range.
	ErrInvalidConfig = errors.New("stream: invalid pipeline setting")
	// ErrInvalidSchema is returned when a Schema cannot describe a stream.
	ErrInvalidSchema = errors.New("stream: invalid schema")
	// ErrAlreadyRun is returned by Run on a Pipeline that is running or has run.
	ErrAlreadyRun = errors.New("stream: pipeline already started")
	// ErrBadRecord is wrapped by every RecordError.
	ErrBadRecord = errors.New("stream: bad record")
	// ErrPanic matches, under errors.Is, the *PanicError a recovered panic
	// in a stage becomes.
	ErrPanic = errors.New("stream: panic in stage")
	// ErrFeatureCount is returned by Model.Predict for a row of the wrong length.
	ErrFeatureCount = errors.New("stream: wrong number of features")
)

// StageError is an error that stopped a run, with the name of the stage it
// came from ("source", "transform[0]", "predict", "sink", ...). Unwrap gives
// the stage's own error, so errors.Is and errors.As see through it.
type StageError struct {
	Stage string
	Err   error
}

// Error names the stage, then gives its error. An error that already
// starts with "stream: " or the stage's name, as a package's errors start
// with the package's, says it once: "stream: source: malformed input", not
// "stream: source: source: malformed input".
func (e *StageError) Error() string {
	if e.Err == nil {
		return "stream: " + e.Stage + ": failed"
	}
	msg := strings.TrimPrefix(e.Err.Error(), "stream: ")
	if rest, ok := strings.CutPrefix(msg, e.Stage+": "); ok {
		msg = rest
	}
	return "stream: " + e.Stage + ": " + msg
}

// Unwrap returns the stage's own error.
func (e *StageError) Unwrap() error { return e.Err }

// PanicError is a panic recovered in a stage: the value it was called with
// and the stack of the goroutine that panicked, kept apart so that the
// error's message stays one short line. errors.Is(err, ErrPanic) is true
// for it. It does not unwrap to Value, even when Value is an error: a panic
// carrying io.EOF is a failure, not the end of a stream.
type PanicError struct {
	Value any
	Stack []byte
}

// Error gives the panic's value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true for every PanicError.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// RejectReason says why a record was rejected.
type RejectReason string

// The reasons a record can be rejected.
const (
	RejectFeatureCount RejectReason = "feature_count" // not as many features as the schema names
	RejectNaNFeature   RejectReason = "nan_feature"   // a feature is NaN
	RejectInfFeature   RejectReason = "inf_feature"   // a feature is +Inf or -Inf
	RejectBadTarget    RejectReason = "bad_target"    // a labeled record's target is ±Inf, or one the Trainer's CheckTarget refuses
)

// RecordError describes a rejected record: its position in the stream
// (counting from 0 over every record read), its key, and the reason.
type RecordError struct {
	Offset uint64
	Key    string
	Reason RejectReason
	Detail string
}

// Error names the record by offset and key, with the reason.
func (e *RecordError) Error() string {
	key := ""
	if e.Key != "" {
		key = fmt.Sprintf(" (key %q)", e.Key)
	}
	return fmt.Sprintf("stream: bad record %d%s: %s: %s", e.Offset, key, e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrBadRecord) true for every RecordError.
func (e *RecordError) Is(target error) bool { return target == ErrBadRecord }
