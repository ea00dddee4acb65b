package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Model is one trained version of the pipeline's model: the predictor
// together with the exact preprocessing it was trained with. A Model never
// changes after it is made and is safe for concurrent use; its fields are
// exported to be read, and a pipeline may be scoring with it, so do not
// change them.
//
// Predict applies the frozen transformer states of the moment the model was
// trained, not the live ones, so a model scores a raw record the same way
// whenever it is asked: there is no skew between training and serving.
type Model struct {
	// Schema of the raw records the model takes.
	Schema Schema
	// Transformers are the frozen preprocessing steps, in order.
	Transformers []Transformer
	// Predictor scores a transformed row.
	Predictor Predictor
	// Version counts the models a pipeline has made, from 1.
	Version uint64
	// TrainedAt is when training finished.
	TrainedAt time.Time
	// TrainedOn is the number of records in the training window.
	TrainedOn int
	// TrainDuration is how long preprocessing and training took.
	TrainDuration time.Duration
	// HeldOut is the predictor's own held-out error, if it reports one.
	HeldOut HeldOut
}

// Predict scores one record's raw features, in schema order. It gives the
// score a pipeline gave the same record, as a BatchPredictor's scores equal
// its Predict's.
func (m *Model) Predict(raw []float64) (float64, error) {
	if m.Predictor == nil {
		return math.NaN(), errNoPredictor
	}
	x := raw
	if len(m.Transformers) > 0 {
		var err error
		if x, err = m.Transform(raw); err != nil {
			return math.NaN(), err
		}
	} else if len(raw) != m.Schema.NumFeatures() {
		return math.NaN(), fmt.Errorf("%w: got %d, model takes %d", ErrFeatureCount, len(raw), m.Schema.NumFeatures())
	}
	y, err := m.Predictor.Predict(x)
	if err != nil {
		return math.NaN(), fmt.Errorf("stream: model v%d: %w", m.Version, err)
	}
	return y, nil
}

var errNoPredictor = errors.New("stream: Model has no Predictor")

// Transform returns raw's features as the Predictor sees them: a copy, put
// through the model's frozen Transformers. It is for asking the Predictor
// for more than a score, such as a classifier's probabilities, without
// skew between that answer and Predict's.
func (m *Model) Transform(raw []float64) ([]float64, error) {
	if len(raw) != m.Schema.NumFeatures() {
		return nil, fmt.Errorf("%w: got %d, model takes %d", ErrFeatureCount, len(raw), m.Schema.NumFeatures())
	}
	b := Batch{Records: []Record{{Features: append([]float64(nil), raw...), Target: math.NaN()}}}
	for i, t := range m.Transformers {
		if err := t.Transform(context.Background(), &b); err != nil {
			return nil, fmt.Errorf("stream: model v%d transform[%d]: %w", m.Version, i, err)
		}
		if b.Len() != 1 {
			return nil, fmt.Errorf("stream: model v%d transform[%d]: made %d records of 1", m.Version, i, b.Len())
		}
	}
	return b.Records[0].Features, nil
}

// PredictBatch scores every record of b by its raw features, writing out[i]
// for b.Records[i]. b is not changed: the preprocessing works on a copy.
func (m *Model) PredictBatch(ctx context.Context, b Batch, out []float64) error {
	return m.predictBatch(ctx, b, out, &scratch{})
}

// scratch holds the buffers one scoring goroutine reuses from batch to
// batch, so that scoring does not allocate per batch.
type scratch struct {
	flat []float64
	work Batch
	rows [][]float64
}

func (m *Model) predictBatch(ctx context.Context, b Batch, out []float64, s *scratch) error {
	if m.Predictor == nil {
		return errNoPredictor
	}
	if len(out) < len(b.Records) {
		return fmt.Errorf("stream: PredictBatch: %d outputs for %d records", len(out), len(b.Records))
	}
	d := m.Schema.NumFeatures()
	for i := range b.Records {
		if len(b.Records[i].Features) != d {
			return fmt.Errorf("%w: record %d has %d, model takes %d", ErrFeatureCount, i, len(b.Records[i].Features), d)
		}
	}
	rows := s.rows[:0]
	if len(m.Transformers) == 0 {
		// Nothing changes the features, so the predictor may read the
		// records' own.
		for i := range b.Records {
			rows = append(rows, b.Records[i].Features)
		}
	} else {
		s.copyFeatures(b, d)
		for i, t := range m.Transformers {
			if err := t.Transform(ctx, &s.work); err != nil {
				return fmt.Errorf("stream: model v%d transform[%d]: %w", m.Version, i, err)
			}
			// Scores would land on other records.
			if s.work.Len() != len(b.Records) {
				return fmt.Errorf("stream: model v%d transform[%d]: made %d records of %d", m.Version, i, s.work.Len(), len(b.Records))
			}
		}
		for i := range s.work.Records {
			rows = append(rows, s.work.Records[i].Features)
		}
	}
	s.rows = rows[:0]
	if bp, ok := m.Predictor.(BatchPredictor); ok {
		if err := bp.PredictBatch(rows, out[:len(rows)]); err != nil {
			return fmt.Errorf("stream: model v%d: %w", m.Version, err)
		}
		return nil
	}
	for i, x := range rows {
		y, err := m.Predictor.Predict(x)
		if err != nil {
			return fmt.Errorf("stream: model v%d: record %d: %w", m.Version, i, err)
		}
		out[i] = y
	}
	return nil
}

// copyFeatures fills s.work with records that share b's targets, times, keys
// and attributes but own a copy of the features, all d long.
func (s *scratch) copyFeatures(b Batch, d int) {
	n := len(b.Records)
	if cap(s.flat) < n*d {
		s.flat = make([]float64, n*d)
	}
	if cap(s.work.Records) < n {
		s.work.Records = make([]Record, n)
	}
	flat, recs := s.flat[:n*d], s.work.Records[:n]
	for i := range b.Records {
		f := flat[i*d : (i+1)*d : (i+1)*d]
		copy(f, b.Records[i].Features)
		recs[i] = b.Records[i]
		recs[i].Features = f
	}
	s.work.Records = recs
}
