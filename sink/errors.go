package sink

import (
	"errors"
	"strconv"
	"strings"
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

// Error names the failing sink's index and its error. An error of this
// package already starts with "sink: ", which Error leaves out, so that
// the package is named once: "sink: multi: sink 1: jsonl: write: …", not
// "sink: multi: sink 1: sink: jsonl: write: …".
func (e *MultiError) Error() string {
	prefix := "sink: multi: sink " + strconv.Itoa(e.Index) + ": "
	if e.Err == nil {
		return prefix + "failed"
	}
	msg := e.Err.Error()
	if rest, ok := strings.CutPrefix(msg, "sink: "); ok {
		msg = rest
	}
	return prefix + msg
}

// Unwrap returns the sink's own error.
func (e *MultiError) Unwrap() error { return e.Err }
