package source

import (
	"context"

	"github.com/forestream/forestream/stream"
)

// Func returns a Source with the given schema that reads by calling read,
// for one-off sources. It is stream.SourceFunc, repeated here so that every
// adapter can be found in this package; the two are the same.
func Func(schema stream.Schema, read func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error)) stream.Source {
	return stream.SourceFunc(schema, read)
}
