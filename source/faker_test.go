package source

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/stream"
)

// fakeClock moves only when Faker sleeps on it, so pacing is exact and
// instant in tests.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
	// onSleep, when set, runs before the sleep and may cancel the context.
	onSleep func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func readN(t *testing.T, s stream.Source, batch, total int) []stream.Record {
	t.Helper()
	var out []stream.Record
	for len(out) < total {
		b, ack, err := s.Read(context.Background(), batch)
		require.NoError(t, err)
		require.Nil(t, ack)
		require.LessOrEqual(t, b.Len(), batch)
		out = append(out, b.Records...)
	}
	return out[:total]
}

func TestFakerDefaultSchema(t *testing.T) {
	s := &Faker{}
	assert.Equal(t, stream.Schema{
		Features: []string{"age", "years_employed", "weekly_hours", "education_years"},
		Target:   "salary",
	}, s.Schema())
	assert.NoError(t, s.Schema().Validate())
}

func TestFakerPeopleValues(t *testing.T) {
	s := &Faker{Seed: 7, clock: newFakeClock()}
	recs := readN(t, s, 128, 2000)
	for _, r := range recs {
		require.Len(t, r.Features, 4)
		age, years, hours, edu := r.Features[0], r.Features[1], r.Features[2], r.Features[3]
		assert.True(t, age >= 18 && age <= 67, "age %v", age)
		assert.True(t, years >= 0 && years <= age-18, "years %v at age %v", years, age)
		assert.True(t, hours >= 10 && hours <= 60, "hours %v", hours)
		assert.True(t, edu >= 8 && edu <= 22, "education %v", edu)
		assert.True(t, r.Labeled())
		assert.Equal(t, math.Round(r.Target), r.Target, "salary is rounded to the dollar")
		assert.NotEmpty(t, r.Attrs["name"])
		assert.NotEmpty(t, r.Attrs["city"])
		assert.NotEmpty(t, r.Attrs["job"])
		assert.Equal(t, newFakeClock().Now(), r.Time)
	}
	assert.Equal(t, int64(2048), s.Generated(), "the last batch was generated whole")
}

func TestFakerReproducible(t *testing.T) {
	a := readN(t, &Faker{Seed: 42, clock: newFakeClock()}, 100, 1000)
	b := readN(t, &Faker{Seed: 42, clock: newFakeClock()}, 7, 1000)
	assert.Equal(t, a, b, "same seed, same records, whatever the batch size")

	c := readN(t, &Faker{Seed: 43, clock: newFakeClock()}, 100, 1000)
	assert.NotEqual(t, a[0].Features, c[0].Features)

	// Seed 0 is deterministic too, unlike gofakeit.New(0).
	z1 := readN(t, &Faker{clock: newFakeClock()}, 10, 10)
	z2 := readN(t, &Faker{clock: newFakeClock()}, 10, 10)
	assert.Equal(t, z1, z2)
}

// TestPeopleCeiling checks the R² ceiling that People documents: the share of
// the salary's variance that is not noise.
func TestPeopleCeiling(t *testing.T) {
	const n = 200_000
	recs := readN(t, &Faker{Seed: 1, clock: newFakeClock()}, 1000, n)
	var sy, syy, se, see float64
	for _, r := range recs {
		e := r.Target - PeopleSalary(r.Features)
		sy += r.Target
		syy += r.Target * r.Target
		se += e
		see += e * e
	}
	varY := syy/n - (sy/n)*(sy/n)
	varE := see/n - (se/n)*(se/n)
	ceiling := 1 - varE/varY
	t.Logf("target sd %.0f, noise sd %.0f, R² ceiling %.4f", math.Sqrt(varY), math.Sqrt(varE), ceiling)
	assert.InDelta(t, 0.95, ceiling, 0.01)
	assert.InDelta(t, PeopleNoise, math.Sqrt(varE), PeopleNoise*0.02)
	assert.InDelta(t, 0, se/n, 200, "the noise is centred")
}

func TestFakerLimit(t *testing.T) {
	s := &Faker{Limit: 250, clock: newFakeClock()}
	var sizes []int
	for {
		b, _, err := s.Read(context.Background(), 100)
		if errors.Is(err, io.EOF) {
			assert.Zero(t, b.Len())
			break
		}
		require.NoError(t, err)
		sizes = append(sizes, b.Len())
	}
	assert.Equal(t, []int{100, 100, 50}, sizes)
	_, _, err := s.Read(context.Background(), 100)
	assert.ErrorIs(t, err, io.EOF, "EOF again after the end")
	assert.Equal(t, int64(250), s.Generated())
}

func TestFakerPacing(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		batch     int
		wantSize  int
		wantSleep time.Duration
	}{
		{"1k/s in batches of 100", 1000, 100, 100, 100 * time.Millisecond},
		{"1M/s in batches of 1000", 1e6, 1000, 1000, time.Millisecond},
		// A batch holds at most a tenth of a second's records, so a slow
		// rate trickles instead of arriving 100 records every 10 s.
		{"10/s asked for batches of 100", 10, 100, 1, 100 * time.Millisecond},
		{"50/s asked for batches of 100", 50, 100, 5, 100 * time.Millisecond},
		{"3/s in batches of 1", 3, 1, 1, time.Second / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			start := clk.Now()
			s := &Faker{Rate: tt.rate, clock: clk}
			const batches = 10
			for i := 0; i < batches; i++ {
				b, _, err := s.Read(context.Background(), tt.batch)
				require.NoError(t, err)
				require.Equal(t, tt.wantSize, b.Len())
				assert.Equal(t, clk.Now(), b.Records[0].Time, "records are stamped after the wait")
			}
			// The first batch is the bucket's initial burst; every later one
			// waits exactly its own share of the rate.
			require.Len(t, clk.slept, batches-1)
			for _, d := range clk.slept {
				assert.InDelta(t, tt.wantSleep, d, float64(time.Microsecond))
			}
			assert.InDelta(t, (batches-1)*tt.wantSleep, clk.Now().Sub(start), float64(10*time.Microsecond))
		})
	}
}

func TestFakerPacingCatchesUp(t *testing.T) {
	// A consumer that took longer than the rate's share leaves tokens in the
	// bucket, so the next batch goes without waiting: the average holds.
	clk := newFakeClock()
	s := &Faker{Rate: 1000, clock: clk}
	_, _, err := s.Read(context.Background(), 100)
	require.NoError(t, err)
	clk.now = clk.now.Add(250 * time.Millisecond)
	_, _, err = s.Read(context.Background(), 100)
	require.NoError(t, err)
	assert.Empty(t, clk.slept)
}

func TestFakerCancelWhileWaiting(t *testing.T) {
	clk := newFakeClock()
	s := &Faker{Rate: 1000, clock: clk}
	_, _, err := s.Read(context.Background(), 100)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	clk.onSleep = cancel
	b, ack, err := s.Read(ctx, 100)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, b.Len())
	assert.Nil(t, ack)
	assert.Equal(t, int64(100), s.Generated())

	// The cancelled batch's tokens were given back: the next one waits one
	// batch's share, not two.
	clk.onSleep = nil
	_, _, err = s.Read(context.Background(), 100)
	require.NoError(t, err)
	require.Len(t, clk.slept, 1)
	assert.InDelta(t, 100*time.Millisecond, clk.slept[0], float64(time.Microsecond))
}

func TestFakerCancelledBeforeRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Faker{}
	_, _, err := s.Read(ctx, 10)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, s.Generated())
}

func TestRealClockSleepRespectsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- realClock{}.Sleep(ctx, time.Hour) }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.NoError(t, realClock{}.Sleep(context.Background(), time.Nanosecond))
}

func TestFakerRealClockPaced(t *testing.T) {
	// A rate high enough that the real clock's waits are microseconds.
	s := &Faker{Rate: 1e7, Limit: 300}
	recs := readN(t, s, 100, 300)
	assert.Len(t, recs, 300)
	assert.False(t, recs[0].Time.IsZero())
}

func TestFakerCustomSpec(t *testing.T) {
	spec := Spec{
		Features: []FeatureGen{
			{Name: "x", Gen: func(f *gofakeit.Faker, _ []float64) float64 { return f.Float64Range(0, 1) }},
			{Name: "twice_x", Gen: func(_ *gofakeit.Faker, x []float64) float64 { return 2 * x[0] }},
		},
		Target:     "y",
		TargetFunc: func(_ *gofakeit.Faker, x []float64) float64 { return x[0] + x[1] },
		Attrs:      []AttrGen{{Name: "colour", Gen: (*gofakeit.Faker).Color}},
	}
	s := &Faker{Seed: 3, Spec: spec, clock: newFakeClock()}
	assert.Equal(t, stream.Schema{Features: []string{"x", "twice_x"}, Target: "y"}, s.Schema())
	for _, r := range readN(t, s, 50, 200) {
		require.Len(t, r.Features, 2)
		assert.Equal(t, 2*r.Features[0], r.Features[1])
		assert.InDelta(t, 3*r.Features[0], r.Target, 1e-12)
		assert.NotEmpty(t, r.Attrs["colour"])
	}

	// Without a target function the stream is unlabeled.
	spec.TargetFunc = nil
	spec.Target = ""
	for _, r := range readN(t, &Faker{Spec: spec, clock: newFakeClock()}, 10, 10) {
		assert.False(t, r.Labeled())
	}
}

func TestFakerInvalidConfig(t *testing.T) {
	gen := func(*gofakeit.Faker, []float64) float64 { return 1 }
	tests := map[string]*Faker{
		"negative rate":    {Rate: -1},
		"NaN rate":         {Rate: math.NaN()},
		"negative limit":   {Limit: -5},
		"no features":      {Spec: Spec{Target: "y"}},
		"duplicate names":  {Spec: Spec{Features: []FeatureGen{{"a", gen}, {"a", gen}}}},
		"nil generator":    {Spec: Spec{Features: []FeatureGen{{"a", nil}}}},
		"unnamed attr":     {Spec: Spec{Features: []FeatureGen{{"a", gen}}, Attrs: []AttrGen{{Gen: (*gofakeit.Faker).City}}}},
		"attr without gen": {Spec: Spec{Features: []FeatureGen{{"a", gen}}, Attrs: []AttrGen{{Name: "c"}}}},
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Read(context.Background(), 10)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			_, _, err = s.Read(context.Background(), 10)
			assert.ErrorIs(t, err, ErrInvalidConfig, "the error sticks")
		})
	}
	_, _, err := (&Faker{}).Read(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidConfig, "max must be positive")
}

func BenchmarkFaker(b *testing.B) {
	s := &Faker{Seed: 1}
	ctx := context.Background()
	const batch = 1000
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		bt, _, err := s.Read(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		n += bt.Len()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}

func TestPeopleAttrsMatchGofakeit(t *testing.T) {
	a, b := gofakeit.New(5), gofakeit.New(5)
	for i := 0; i < 100; i++ {
		require.Equal(t, a.Name(), fakeName(b))
		require.Equal(t, a.City(), fakeCity(b))
		require.Equal(t, a.JobTitle(), fakeJob(b))
	}
}

// The bucket holds one batch of the current size: after a stall, a reader
// that now asks for smaller batches gets one early, not a big batch's worth.
func TestFakerBurstFollowsTheBatchSize(t *testing.T) {
	clk := newFakeClock()
	s := &Faker{Rate: 1000, clock: clk}
	_, _, err := s.Read(context.Background(), 100)
	require.NoError(t, err)
	clk.now = clk.now.Add(10 * time.Second) // a slow consumer
	for i := 0; i < 2; i++ {
		b, _, err := s.Read(context.Background(), 10)
		require.NoError(t, err)
		require.Equal(t, 10, b.Len())
	}
	require.Len(t, clk.slept, 1, "only the first small batch goes without waiting")
	assert.InDelta(t, 10*time.Millisecond, clk.slept[0], float64(time.Microsecond))
}

// Generated may be read while a Pipeline's goroutine reads; -race checks
// that it is safe.
func TestFakerGeneratedWhileReading(t *testing.T) {
	s := &Faker{Limit: 5000}
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			if _, _, err := s.Read(context.Background(), 100); err != nil {
				return
			}
		}
	}()
	last := int64(0)
	for done := false; !done; {
		select {
		case <-read:
			done = true
		default:
		}
		n := s.Generated()
		require.GreaterOrEqual(t, n, last, "the count only grows")
		last = n
	}
	assert.Equal(t, int64(5000), s.Generated())
}
