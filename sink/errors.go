package sink

import (
	"errors"
	"strconv"
)

// Errors returned by this package. Check them with errors.Is.
var (
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("sink: closed")
)

// MultiError is the error of one of a Multi's sinks, with its index in the
// order NewMulti was given them. Unwrap gives the sink's own error, so
// errors.Is and errors.As see through it.
type MultiError struct {
	Index int
	Err   error
}

// Error names the failing sink's index and its error.
func (e *MultiError) Error() string {
	return "sink: multi: sink " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

// Unwrap returns the sink's own error.
func (e *MultiError) Unwrap() error { return e.Err }
