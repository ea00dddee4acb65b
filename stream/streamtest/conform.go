package streamtest

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"testing"

	"github.com/forestream/forestream/stream"
)

// TestSource checks that a finite Source keeps the stream.Source contract:
// batches no larger than asked for, records that match the schema, io.EOF at
// the end, an AckFunc that accepts its one call, and a Read with a cancelled
// context answered with context.Canceled (records returned with it are
// allowed, as stream.Source allows them with any error; a Read that blocks
// instead hangs the test until go test's -timeout). newSource must return a
// fresh source over the same finite data each time.
func TestSource(t testing.TB, newSource func() stream.Source) {
	t.Helper()
	src := newSource()
	schema := src.Schema()
	if err := schema.Validate(); err != nil {
		t.Fatalf("streamtest: Schema: %v", err)
	}
	ctx := context.Background()
	const max = 7
	total := 0
	for reads := 0; ; reads++ {
		if reads > 1_000_000 {
			t.Fatalf("streamtest: no io.EOF after a million reads")
		}
		var (
			b   stream.Batch
			ack stream.AckFunc
			err error
		)
		if perr := safely("Read", func() error { b, ack, err = src.Read(ctx, max); return nil }); perr != nil {
			t.Fatal(perr)
		}
		if b.Len() > max {
			t.Fatalf("streamtest: Read(ctx, %d) returned %d records", max, b.Len())
		}
		for i, r := range b.Records {
			if len(r.Features) != schema.NumFeatures() {
				t.Fatalf("streamtest: record %d of read %d has %d features, schema names %d", i, reads, len(r.Features), schema.NumFeatures())
			}
		}
		total += b.Len()
		if ack != nil {
			if aerr := safely("AckFunc", func() error { return ack(ctx, nil) }); aerr != nil {
				t.Fatalf("streamtest: acknowledging read %d: %v", reads, aerr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("streamtest: Read %d: %v", reads, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var err error
	var b stream.Batch
	if perr := safely("Read", func() error { b, _, err = newSource().Read(cancelled, max); return nil }); perr != nil {
		t.Fatal(perr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("streamtest: Read with a cancelled context returned %d records and error %v, want context.Canceled", b.Len(), err)
	}
}

// TestSink checks that a Sink keeps the stream.Sink contract: it takes
// batches, including an empty one and one before any model (NaN
// predictions), never panics, and, if it is an io.Closer, may be closed twice.
func TestSink(t testing.TB, sink stream.Sink, schema stream.Schema) {
	t.Helper()
	ctx := context.Background()
	recs := sampleRecords(schema, 5)
	preds := make([]float64, len(recs))
	for i := range preds {
		preds[i] = math.NaN()
	}
	batches := []stream.ScoredBatch{
		{},
		{Records: recs, Predictions: preds},
		{Records: recs, Predictions: []float64{1, 2, 3, 4, 5}, ModelVersion: 3},
	}
	for i, b := range batches {
		if err := safely("Write", func() error { return sink.Write(ctx, b) }); err != nil {
			t.Fatalf("streamtest: Write of batch %d: %v", i, err)
		}
	}
	if c, ok := sink.(io.Closer); ok {
		for i := 0; i < 2; i++ {
			if err := safely("Close", c.Close); err != nil {
				t.Fatalf("streamtest: Close call %d: %v", i+1, err)
			}
		}
	}
}

// TestTransformer checks that a Transformer keeps the stream.Transformer
// contract on a sample batch: many goroutines transforming copies at once get
// the same result as one, and a row with a feature too many does not make it
// panic. (A Pipeline and a Model check every row's length before any
// Transformer sees it, so an error there is welcome but not required.) For
// a Fitter it also checks that a frozen copy does not change when the Fitter
// goes on learning. Only -race reliably finds a Transformer that is not
// safe for concurrent use.
func TestTransformer(t testing.TB, tr stream.Transformer, sample stream.Batch) {
	t.Helper()
	ctx := context.Background()
	if f, ok := tr.(stream.Fitter); ok {
		if err := safely("Fit", func() error { return f.Fit(ctx, sample) }); err != nil {
			t.Fatalf("streamtest: Fit: %v", err)
		}
		frozen := f.Freeze()
		before := transformed(t, frozen, sample)
		shifted := cloneBatch(sample)
		for i := range shifted.Records {
			for j := range shifted.Records[i].Features {
				shifted.Records[i].Features[j] = shifted.Records[i].Features[j]*3 + 100
			}
		}
		if err := safely("Fit", func() error { return f.Fit(ctx, shifted) }); err != nil {
			t.Fatalf("streamtest: Fit: %v", err)
		}
		if after := transformed(t, frozen, sample); !sameFeatures(before, after) {
			t.Fatalf("streamtest: a frozen transformer changed after its Fitter learned more")
		}
		tr = frozen
	}
	want := transformed(t, tr, sample)
	var wg sync.WaitGroup
	results := make([]stream.Batch, 8)
	errs := make([]error, len(results))
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := cloneBatch(sample)
			errs[g] = safely("Transform", func() error { return tr.Transform(ctx, &b) })
			results[g] = b
		}()
	}
	wg.Wait()
	for g := range results {
		if errs[g] != nil {
			t.Fatalf("streamtest: concurrent Transform %d: %v", g, errs[g])
		}
		if !sameFeatures(want, results[g]) {
			t.Fatalf("streamtest: concurrent Transform %d gave a different result", g)
		}
	}
	if sample.Len() > 0 {
		bad := cloneBatch(sample)
		bad.Records[0].Features = append(bad.Records[0].Features, 1)
		err := safely("Transform", func() error { return tr.Transform(ctx, &bad) })
		if pe := (*panicError)(nil); errors.As(err, &pe) {
			t.Fatal(pe)
		}
	}
}

// TestTrainer checks that a Trainer keeps the stream.Trainer contract on
// sample data: a cancelled context gives an error; the Predictor gives finite
// scores, the same from many goroutines as from one, the same from
// PredictBatch (if it has one) as from Predict, and an error, not a panic,
// for a row of the wrong length.
func TestTrainer(t testing.TB, trainer stream.Trainer, schema stream.Schema, X [][]float64, y []float64) {
	t.Helper()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := safely("Train", func() error {
		_, err := trainer.Train(cancelled, schema, X, y)
		if err == nil {
			return errorf("Train with a cancelled context returned no error")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var p stream.Predictor
	if err := safely("Train", func() error {
		var err error
		p, err = trainer.Train(context.Background(), schema, X, y)
		return err
	}); err != nil {
		t.Fatalf("streamtest: Train: %v", err)
	}
	want := make([]float64, len(X))
	for i, x := range X {
		var err error
		if perr := safely("Predict", func() error { want[i], err = p.Predict(x); return err }); perr != nil {
			t.Fatalf("streamtest: Predict row %d: %v", i, perr)
		}
		if math.IsNaN(want[i]) || math.IsInf(want[i], 0) {
			t.Fatalf("streamtest: Predict row %d = %v", i, want[i])
		}
	}
	var wg sync.WaitGroup
	mismatch := make([]int, 4)
	for g := range mismatch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, x := range X {
				if v, err := p.Predict(x); err != nil || v != want[i] {
					mismatch[g]++
				}
			}
		}()
	}
	wg.Wait()
	for g, n := range mismatch {
		if n > 0 {
			t.Fatalf("streamtest: concurrent Predict in goroutine %d differed from sequential on %d rows", g, n)
		}
	}
	if bp, ok := p.(stream.BatchPredictor); ok {
		got := make([]float64, len(X))
		if err := safely("PredictBatch", func() error { return bp.PredictBatch(X, got) }); err != nil {
			t.Fatalf("streamtest: PredictBatch: %v", err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("streamtest: PredictBatch row %d = %v, Predict gave %v", i, got[i], want[i])
			}
		}
	}
	if len(X) > 0 {
		long := append(append([]float64(nil), X[0]...), 0)
		var err error
		if perr := safely("Predict", func() error { _, err = p.Predict(long); return nil }); perr != nil {
			t.Fatal(perr)
		}
		if err == nil {
			t.Fatalf("streamtest: Predict took a row of %d features, trained on %d, without an error", len(long), len(X[0]))
		}
	}
}

func transformed(t testing.TB, tr stream.Transformer, b stream.Batch) stream.Batch {
	t.Helper()
	c := cloneBatch(b)
	if err := safely("Transform", func() error { return tr.Transform(context.Background(), &c) }); err != nil {
		t.Fatalf("streamtest: Transform: %v", err)
	}
	return c
}

func cloneBatch(b stream.Batch) stream.Batch {
	c := stream.Batch{Records: make([]stream.Record, b.Len())}
	for i, r := range b.Records {
		c.Records[i] = r.Clone()
	}
	return c
}

func sameFeatures(a, b stream.Batch) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Records {
		fa, fb := a.Records[i].Features, b.Records[i].Features
		if len(fa) != len(fb) {
			return false
		}
		for j := range fa {
			if fa[j] != fb[j] && !(math.IsNaN(fa[j]) && math.IsNaN(fb[j])) {
				return false
			}
		}
	}
	return true
}

func sampleRecords(schema stream.Schema, n int) []stream.Record {
	recs := make([]stream.Record, n)
	for i := range recs {
		f := make([]float64, schema.NumFeatures())
		for j := range f {
			f[j] = float64(i*len(f) + j)
		}
		recs[i] = stream.Record{Features: f, Target: float64(i), Key: "k", Attrs: map[string]string{"i": "x"}}
	}
	recs[n-1].Target = math.NaN()
	return recs
}

// TestModelEncoding checks that m, a Model whose parts are registered with
// stream.RegisterPart (your own among them, say), survives saving and
// loading: it encodes, decodes, encodes again to the same bytes, and the
// decoded model scores every row of rows bit for bit as m does. It returns
// the decoded model, for further checks.
func TestModelEncoding(t testing.TB, m *stream.Model, rows [][]float64) *stream.Model {
	t.Helper()
	var data []byte
	if err := safely("MarshalBinary", func() error { var err error; data, err = m.MarshalBinary(); return err }); err != nil {
		t.Fatalf("streamtest: MarshalBinary: %v", err)
	}
	back := new(stream.Model)
	if err := safely("UnmarshalBinary", func() error { return back.UnmarshalBinary(data) }); err != nil {
		t.Fatalf("streamtest: UnmarshalBinary of MarshalBinary's output: %v", err)
	}
	again, err := back.MarshalBinary()
	if err != nil {
		t.Fatalf("streamtest: MarshalBinary of the decoded model: %v", err)
	}
	if string(again) != string(data) {
		t.Fatalf("streamtest: the decoded model encodes to %d bytes that differ from the %d it was decoded from", len(again), len(data))
	}
	for i, x := range rows {
		want, werr := m.Predict(x)
		got, gerr := back.Predict(x)
		if (werr == nil) != (gerr == nil) || math.Float64bits(want) != math.Float64bits(got) {
			t.Fatalf("streamtest: row %d: the model gives %v (%v), the decoded one %v (%v)", i, want, werr, got, gerr)
		}
	}
	return back
}
