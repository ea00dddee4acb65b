package scaler_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/stream"
)

// TestFrozenServesWhileLiveLearns is the pipeline's situation: goroutines
// serving a model version transform with its frozen scaler while the live
// scaler goes on fitting and freezing new versions. Under -race this also
// checks that a frozen copy shares no memory a Fit writes.
func TestFrozenServesWhileLiveLearns(t *testing.T) {
	const (
		readers    = 8
		perReader  = 200
		fitBatches = 300
	)
	r := rand.New(rand.NewPCG(7, 8))
	probe := ordinaryRows(r, 32)

	for _, live := range []stream.Fitter{scaler.NewStandard(), &scaler.MinMax{}} {
		feed(t, live, ordinaryRows(r, 500), func() int { return 50 })
		frozen := live.Freeze()
		want := apply(t, frozen, probe...)

		// Batches for the fitter are made before the goroutines start, so
		// that the test's generator is used from one goroutine only.
		batches := make([]stream.Batch, fitBatches)
		for i := range batches {
			rows := ordinaryRows(r, 64)
			for _, row := range rows {
				row[0] += float64(i) // drift, so that the statistics keep moving
			}
			batches[i] = batchOf(rows...)
		}

		var wg sync.WaitGroup
		mismatches := make([]int, readers)
		errs := make([]error, readers)
		for g := 0; g < readers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < perReader; k++ {
					b := batchOf(probe...)
					if err := frozen.Transform(ctx, &b); err != nil {
						errs[g] = err
						return
					}
					for i, row := range rowsOf(b) {
						for j, v := range row {
							if v != want[i][j] && !(v != v && want[i][j] != want[i][j]) {
								mismatches[g]++
							}
						}
					}
				}
			}()
		}
		var fitErr error
		var versions []stream.Transformer
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, b := range batches {
				if fitErr = live.Fit(ctx, b); fitErr != nil {
					return
				}
				if i%50 == 0 {
					versions = append(versions, live.Freeze())
				}
			}
		}()
		wg.Wait()

		require.NoError(t, fitErr)
		for g := range errs {
			assert.NoError(t, errs[g], "reader %d", g)
			assert.Zero(t, mismatches[g], "reader %d saw a frozen scaler change", g)
		}
		require.Len(t, versions, fitBatches/50)
		atMeans := []float64{5, -300, 1.5e4, 0.02, 70, 1}
		assert.NotEqual(t, apply(t, frozen, atMeans)[0][0], apply(t, versions[len(versions)-1], atMeans)[0][0],
			"later versions learned the drift")
	}
}

// TestLiveTransformIsSafeForConcurrentReaders checks the documented
// guarantee that, with no Fit running, a live scaler may be read and
// transformed with from many goroutines.
func TestLiveTransformIsSafeForConcurrentReaders(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	s := scaler.NewStandard()
	feed(t, s, ordinaryRows(r, 1000), func() int { return 100 })
	probe := ordinaryRows(r, 16)
	want := apply(t, s, probe...)
	wantMean := s.Mean()

	var wg sync.WaitGroup
	ok := make([]bool, 8)
	for g := range ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			same := true
			for k := 0; k < 100; k++ {
				b := batchOf(probe...)
				if err := s.Transform(ctx, &b); err != nil {
					same = false
					break
				}
				for i, row := range rowsOf(b) {
					for j, v := range row {
						same = same && (v == want[i][j] || (v != v && want[i][j] != want[i][j]))
					}
				}
				m := s.Mean()
				same = same && m[0] == wantMean[0]
			}
			ok[g] = same
		}()
	}
	wg.Wait()
	for g := range ok {
		assert.True(t, ok[g], "reader %d", g)
	}
}

// TestSteadyStateDoesNotAllocate: once the scaler knows its width, Fit and
// Transform of a batch allocate nothing, per record or per call.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	b := benchBatch(256, 10)
	s := scaler.NewStandard()
	require.NoError(t, s.Fit(ctx, b))
	frozen := s.Freeze()
	m := &scaler.MinMax{}
	require.NoError(t, m.Fit(ctx, b))
	for name, op := range map[string]func() error{
		"Standard.Fit":             func() error { return s.Fit(ctx, b) },
		"Standard.Transform":       func() error { return s.Transform(ctx, &b) },
		"FrozenStandard.Transform": func() error { return frozen.Transform(ctx, &b) },
		"Standard.Inverse":         func() error { return s.Inverse(ctx, &b) },
		"MinMax.Fit":               func() error { return m.Fit(ctx, b) },
		"MinMax.Transform":         func() error { return m.Transform(ctx, &b) },
	} {
		var err error
		allocs := testing.AllocsPerRun(20, func() {
			if e := op(); e != nil {
				err = e
			}
		})
		require.NoError(t, err, name)
		assert.Zero(t, allocs, "%s allocates", name)
	}
}
