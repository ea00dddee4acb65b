package stream

import (
	"fmt"
	"math"
	"time"
)

// Record is one observation of the stream.
//
// Features are in the order the Schema names them. Target is the label; NaN
// means the label is unknown, so the record is scored but never trained on.
type Record struct {
	Features []float64
	Target   float64
	// Time is when the record happened or was read, as its Source says;
	// zero if unknown. The pipeline passes it through to the Sink.
	Time time.Time
	// Key identifies the record to the rest of the system (a message key,
	// an id column); empty if none. The pipeline passes it through.
	Key string
	// Attrs are the record's other fields, carried to the Sink untouched:
	// names, categories, anything not used as a feature.
	Attrs map[string]string
}

// Labeled reports whether the record carries a target to learn from.
func (r Record) Labeled() bool { return !math.IsNaN(r.Target) }

// Clone returns a deep copy of r, so the copy can be changed without
// touching r's features or attributes.
func (r Record) Clone() Record {
	c := r
	c.Features = append([]float64(nil), r.Features...)
	if r.Attrs != nil {
		c.Attrs = make(map[string]string, len(r.Attrs))
		for k, v := range r.Attrs {
			c.Attrs[k] = v
		}
	}
	return c
}

// Schema names the features and the target of a stream. A Source declares it.
type Schema struct {
	Features []string
	Target   string
}

// NumFeatures returns the number of features each record must carry.
func (s Schema) NumFeatures() int { return len(s.Features) }

// Validate reports whether the schema can describe a stream: at least one
// feature, and no empty or repeated names.
func (s Schema) Validate() error {
	if len(s.Features) == 0 {
		return fmt.Errorf("%w: no features", ErrInvalidSchema)
	}
	seen := make(map[string]int, len(s.Features))
	for i, name := range s.Features {
		if name == "" {
			return fmt.Errorf("%w: feature %d has no name", ErrInvalidSchema, i)
		}
		if j, dup := seen[name]; dup {
			return fmt.Errorf("%w: features %d and %d are both named %q", ErrInvalidSchema, j, i, name)
		}
		seen[name] = i
	}
	return nil
}

// Batch is the unit that moves between stages. Batching is what keeps the
// per-record cost low: one channel hand-off, one allocation and one lock per
// batch rather than per record.
type Batch struct {
	Records []Record
}

// Len returns the number of records in the batch.
func (b Batch) Len() int { return len(b.Records) }

// ScoredBatch is a batch after scoring, as a Sink receives it. Records hold
// the raw features as the Source read them (the model's preprocessing is
// applied to a copy), so a Sink sees values in their original units.
type ScoredBatch struct {
	Records []Record
	// Predictions[i] is the score of Records[i]; NaN before the first model.
	Predictions []float64
	// ModelVersion is the version of the model that scored the batch; 0 when
	// there was none yet.
	ModelVersion uint64
}

// Len returns the number of records in the batch.
func (b ScoredBatch) Len() int { return len(b.Records) }
