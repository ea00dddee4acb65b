package source

import (
	"context"
	"io"
	"math"
	"math/rand"
	"sync/atomic"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"golang.org/x/time/rate"

	"github.com/forestream/forestream/stream"
)

// FeatureGen generates one numeric feature of a Faker's records.
type FeatureGen struct {
	Name string
	// Gen draws the feature from f. x holds the features of the same record
	// drawn before this one, in Spec order, so that a feature can depend on
	// earlier ones (years employed cannot exceed age − 18). Gen must draw
	// every random number from f, or the stream is not reproducible.
	Gen func(f *gofakeit.Faker, x []float64) float64
}

// AttrGen generates one string attribute of a Faker's records, such as
// (*gofakeit.Faker).City.
type AttrGen struct {
	Name string
	Gen  func(f *gofakeit.Faker) string
}

// Spec defines what a Faker generates: named feature generators, a target
// function and attributes. People is the default; build your own to stream
// any synthetic data with a ground truth you know.
type Spec struct {
	Features []FeatureGen
	// Target names the target in the schema.
	Target string
	// TargetFunc computes a record's target from its features x, drawing any
	// noise from f. When it is nil every record is unlabeled (Target NaN).
	TargetFunc func(f *gofakeit.Faker, x []float64) float64
	Attrs      []AttrGen
}

func (s Spec) isZero() bool {
	return s.Features == nil && s.Target == "" && s.TargetFunc == nil && s.Attrs == nil
}

func (s Spec) schema() stream.Schema {
	names := make([]string, len(s.Features))
	for i, f := range s.Features {
		names[i] = f.Name
	}
	return stream.Schema{Features: names, Target: s.Target}
}

func (s Spec) validate() error {
	if err := s.schema().Validate(); err != nil {
		return invalidSchema("faker", "spec", err)
	}
	for _, f := range s.Features {
		if f.Gen == nil {
			return invalidConfigf("faker", "spec: feature %q has no Gen", f.Name)
		}
	}
	for i, a := range s.Attrs {
		if a.Name == "" {
			return invalidConfigf("faker", "spec: attribute %d has no name", i)
		}
		if a.Gen == nil {
			return invalidConfigf("faker", "spec: attribute %q has no Gen", a.Name)
		}
	}
	return nil
}

// pacedSpan is the most time's worth of records a paced Faker returns in
// one batch.
const pacedSpan = 100 * time.Millisecond

// Faker is the default source: a seeded, optionally paced and limited stream
// of synthetic records made with gofakeit. Its zero value streams People
// endlessly, unpaced, from seed 0.
//
// The same Seed and Spec give the same records, batch size aside: each Faker
// owns its random generator and never touches gofakeit's global one. Seed 0
// is a seed like any other; to vary the data between runs, pass something
// like time.Now().UnixNano().
//
// Set the fields before the first Read and leave them alone afterwards.
// There is no batch size here: Read generates max records (fewer when paced,
// see Rate), and the Pipeline passes its BatchSize as max. Each record's Time is when its batch was
// generated. Faker has nothing to acknowledge, so its AckFunc is nil.
type Faker struct {
	// Seed seeds the generator.
	Seed int64
	// Rate paces the stream in records per second; 0 (or +Inf) means as
	// fast as possible. Pacing is a token bucket (golang.org/x/time/rate)
	// waited on once per batch rather than per record, so that high rates
	// hold exactly on average: a late wake-up leaves tokens for the next
	// batch. A paced batch holds at most a tenth of a second's records (at
	// least one), so that records trickle in at low rates; the bucket holds
	// one batch, so a slow consumer never gets more than one batch early.
	Rate float64
	// Limit ends the stream with io.EOF after this many records; 0 means
	// endless.
	Limit int64
	// Spec is what to generate; the zero Spec means People().
	Spec Spec

	clock clock // nil means the real clock

	started bool
	err     error // a configuration error, returned by every Read
	spec    Spec
	fk      *gofakeit.Faker
	lim     *rate.Limiter
	n       atomic.Int64 // records generated so far; Generated may read it from any goroutine
}

// Schema returns the schema of the Spec (People's when Spec is zero).
func (s *Faker) Schema() stream.Schema {
	if s.Spec.isZero() {
		return People().schema()
	}
	return s.Spec.schema()
}

// Generated returns the number of records generated so far. It is safe to
// call from any goroutine, while a Pipeline reads.
func (s *Faker) Generated() int64 { return s.n.Load() }

func (s *Faker) start() error {
	s.started = true
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.Rate < 0 || math.IsNaN(s.Rate) {
		return invalidConfigf("faker", "rate %v records/s", s.Rate)
	}
	if s.Limit < 0 {
		return invalidConfigf("faker", "limit %d records", s.Limit)
	}
	s.spec = s.Spec
	if s.spec.isZero() {
		s.spec = People()
	}
	if err := s.spec.validate(); err != nil {
		return err
	}
	// An unlocked source is safe here because only the reading goroutine
	// draws from it, and it skips a mutex per random number. NewCustom, unlike
	// gofakeit.New, keeps seed 0 deterministic.
	s.fk = gofakeit.NewCustom(rand.NewSource(s.Seed).(rand.Source64))
	return nil
}

// Read generates up to max records, waiting first if Rate says the batch is
// not due yet. It returns io.EOF once Limit records have been generated, and
// ctx.Err() if ctx is done before or while it waits.
func (s *Faker) Read(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return stream.Batch{}, nil, err
	}
	if !s.started {
		s.err = s.start()
	}
	if s.err != nil {
		return stream.Batch{}, nil, s.err
	}
	if max <= 0 {
		return stream.Batch{}, nil, invalidConfigf("faker", "read of %d records", max)
	}
	n := max
	if paced := s.Rate > 0 && !math.IsInf(s.Rate, 1); paced {
		// A paced batch holds at most what the rate makes in pacedSpan, so
		// that at a low rate records trickle in rather than arriving a
		// whole batch at a time, minutes apart.
		n = min(n, int(math.Max(1, math.Min(s.Rate*pacedSpan.Seconds(), float64(n)))))
	}
	if s.Limit > 0 {
		left := s.Limit - s.n.Load()
		if left <= 0 {
			return stream.Batch{}, nil, io.EOF
		}
		if int64(n) > left {
			n = int(left)
		}
	}
	now := s.clock.Now()
	if s.lim == nil && s.Rate > 0 && !math.IsInf(s.Rate, 1) {
		// Made here because the burst must be at least a batch, and the
		// batch size is only known now. The bucket starts full, so the first
		// batch goes at once.
		s.lim = rate.NewLimiter(rate.Limit(s.Rate), n)
	}
	if s.lim != nil {
		// ReserveN refuses a batch larger than the burst; a burst of one
		// batch also lets the stream catch up after one late wake-up, which
		// is what keeps high rates exact. It shrinks too when the batches
		// do, or a stalled reader would get several small batches early.
		if n != s.lim.Burst() {
			s.lim.SetBurstAt(now, n)
		}
		r := s.lim.ReserveN(now, n)
		if d := r.DelayFrom(now); d > 0 {
			if err := s.clock.Sleep(ctx, d); err != nil {
				// Give the tokens back so a later Read is not charged for a
				// batch that was never generated.
				r.CancelAt(s.clock.Now())
				return stream.Batch{}, nil, err
			}
			now = s.clock.Now()
		}
	}
	return stream.Batch{Records: s.generate(n, now)}, nil, nil
}

func (s *Faker) generate(n int, now time.Time) []stream.Record {
	feats, attrs, target := s.spec.Features, s.spec.Attrs, s.spec.TargetFunc
	nf := len(feats)
	// One backing array per batch instead of one slice per record.
	back := make([]float64, n*nf)
	recs := make([]stream.Record, n)
	for i := range recs {
		x := back[i*nf : (i+1)*nf : (i+1)*nf]
		for j, g := range feats {
			x[j] = g.Gen(s.fk, x[:j])
		}
		y := math.NaN()
		if target != nil {
			y = target(s.fk, x)
		}
		var a map[string]string
		if len(attrs) > 0 {
			a = make(map[string]string, len(attrs))
			for _, g := range attrs {
				a[g.Name] = g.Gen(s.fk)
			}
		}
		recs[i] = stream.Record{Features: x, Target: y, Time: now, Attrs: a}
	}
	s.n.Add(int64(n))
	return recs
}
