package source

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/forestream/forestream/stream"
)

// lineReader is what the CSV and JSON Lines sources share: reading batches
// of records one line at a time, under the policy for malformed lines.
type lineReader struct {
	format  string // "csv" or "jsonl", for errors
	onError Policy
	skipped atomic.Int64
	eof     bool
	err     error // a failure, returned by every later Read
	now     func() time.Time
}

// firstChunk is how many records' features a read allocates room for
// before it has seen how many the input holds.
const firstChunk = 1024

// read parses up to max records of nf features each. next reads one line:
// it appends the line's features to dst, which has room for them, and
// returns its record; or io.EOF at the end; or a *LineError for a malformed
// line, which the policy skips or returns; or any other error, which stops
// the source. Records parsed before an error are returned with it.
func (l *lineReader) read(ctx context.Context, max, nf int, next func(dst []float64) (stream.Record, error)) (stream.Batch, stream.AckFunc, error) {
	if l.err != nil {
		return stream.Batch{}, nil, l.err
	}
	if l.eof {
		return stream.Batch{}, nil, io.EOF
	}
	if max <= 0 {
		return stream.Batch{}, nil, invalidConfigf(l.format, "read of %d records", max)
	}
	now := l.now()
	// The batch's features share few allocations: one for up to
	// firstChunk records, then one as large as the batch so far. Sizing
	// by max alone would allocate for a huge max however short the input.
	chunk := min(max, firstChunk)
	back := make([]float64, 0, chunk*nf)
	recs := make([]stream.Record, 0, chunk)
	for len(recs) < max {
		if err := ctx.Err(); err != nil {
			return stream.Batch{Records: recs}, nil, err
		}
		if cap(back)-len(back) < nf {
			back = make([]float64, 0, min(max-len(recs), len(recs))*nf)
		}
		rec, err := next(back[len(back):len(back):cap(back)])
		if errors.Is(err, io.EOF) {
			l.eof = true
			break
		}
		if err != nil {
			var le *LineError
			if errors.As(err, &le) && l.onError == Skip {
				l.skipped.Add(1)
				continue
			}
			l.err = err
			return stream.Batch{Records: recs}, nil, err
		}
		back = back[:len(back)+nf]
		if rec.Time.IsZero() { // no time column, or no value in it
			rec.Time = now
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 && l.eof {
		return stream.Batch{}, nil, io.EOF
	}
	return stream.Batch{Records: recs}, nil, nil
}
