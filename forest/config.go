package forest

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"github.com/forestream/forestream/stream"
)

// DefaultTrees is the usual number of trees, scikit-learn's default.
const DefaultTrees = 100

// MaxTrees bounds the number of trees of a Config or ClassifierConfig: a
// stray huge count would otherwise exhaust memory, which ends the process,
// before the first tree is grown.
const MaxTrees = 1 << 20

// Config holds the settings of a random-forest regressor. Trees must be
// set; for every other field the zero value means the documented default,
// and the defaults match scikit-learn's RandomForestRegressor except for
// the features tried per split, where the default is Breiman's one third
// for regression:
//
//	forest.Config{Trees: forest.DefaultTrees, Seed: 1}
//
// Config satisfies stream.Trainer, so a Pipeline can use it directly.
type Config struct {
	// Trees is the number of trees, in [1, MaxTrees]; DefaultTrees (100) is
	// the usual choice. Zero is an error rather than a default because a
	// forest of no trees is always a mistake, such as a count left unset.
	Trees int
	// MaxFeatures is the number of features tried at every split. At most
	// one of MaxFeatures and FeatureFraction may be set; with neither, a
	// third of the features (at least 1) are tried.
	MaxFeatures int
	// FeatureFraction, in (0, 1], sets the features tried at every split as
	// a fraction of all features: max(1, ⌊FeatureFraction·p⌋). 1 tries all
	// of them, as scikit-learn does by default.
	FeatureFraction float64
	// MinLeaf is the minimum number of distinct training rows in a leaf;
	// 0 means 1.
	MinLeaf int
	// MaxDepth limits the depth of every tree (the root has depth 0);
	// 0 means unlimited.
	MaxDepth int
	// NoBootstrap turns bootstrap sampling off. By default (false) each tree
	// is grown on rows drawn with replacement; with NoBootstrap, rows are
	// drawn without replacement, so with SampleFraction 1 every tree sees
	// every row once and there is no out-of-bag error.
	NoBootstrap bool
	// SampleFraction, in (0, 1], is the number of rows drawn for each tree
	// as a fraction of the training rows (at least 1 row); 0 means 1.
	SampleFraction float64
	// Seed drives every random choice. The same Seed and data give a
	// bit-identical model whatever the number of Workers.
	Seed uint64
	// Workers is the number of goroutines that grow trees and score
	// batches; 0 means runtime.GOMAXPROCS(0).
	Workers int
}

// Validate checks the settings that do not depend on the data, as Fit
// does first; it makes Config a stream.Validator, so that a Pipeline
// refuses a Config no retrain could use when it starts. MaxFeatures is
// checked against the rows' width only by Fit.
func (c Config) Validate() error {
	_, err := c.resolve(1, math.MaxInt) // no MaxFeatures exceeds the width
	return err
}

// params are a Config's settings resolved for a data set of p features.
type params struct {
	trees, mtry, minLeaf, maxDepth, workers int
	bootstrap                               bool
	sampleFraction                          float64
	seed                                    uint64
}

func (c Config) resolve(n, p int) (params, error) {
	var ps params
	switch {
	case c.Trees < 1:
		return ps, fmt.Errorf("%w: Trees is %d, must be at least 1 (DefaultTrees is %d)", ErrInvalidConfig, c.Trees, DefaultTrees)
	case c.Trees > MaxTrees:
		return ps, fmt.Errorf("%w: Trees is %d, at most MaxTrees (%d)", ErrInvalidConfig, c.Trees, MaxTrees)
	case c.MaxFeatures < 0:
		return ps, fmt.Errorf("%w: MaxFeatures is %d, must not be negative", ErrInvalidConfig, c.MaxFeatures)
	case c.MaxFeatures > p:
		return ps, fmt.Errorf("%w: MaxFeatures is %d but the rows have %d features", ErrInvalidConfig, c.MaxFeatures, p)
	case math.IsNaN(c.FeatureFraction) || c.FeatureFraction < 0 || c.FeatureFraction > 1:
		return ps, fmt.Errorf("%w: FeatureFraction is %v, must be in (0, 1]", ErrInvalidConfig, c.FeatureFraction)
	case c.MaxFeatures > 0 && c.FeatureFraction > 0:
		return ps, fmt.Errorf("%w: both MaxFeatures and FeatureFraction are set", ErrInvalidConfig)
	case c.MinLeaf < 0:
		return ps, fmt.Errorf("%w: MinLeaf is %d, must not be negative", ErrInvalidConfig, c.MinLeaf)
	case c.MaxDepth < 0:
		return ps, fmt.Errorf("%w: MaxDepth is %d, must not be negative (0 means unlimited)", ErrInvalidConfig, c.MaxDepth)
	case math.IsNaN(c.SampleFraction) || c.SampleFraction < 0 || c.SampleFraction > 1:
		return ps, fmt.Errorf("%w: SampleFraction is %v, must be in (0, 1]", ErrInvalidConfig, c.SampleFraction)
	case c.Workers < 0:
		return ps, fmt.Errorf("%w: Workers is %d, must not be negative", ErrInvalidConfig, c.Workers)
	}
	ps.trees = c.Trees
	switch {
	case c.MaxFeatures > 0:
		ps.mtry = c.MaxFeatures
	case c.FeatureFraction > 0:
		ps.mtry = int(c.FeatureFraction * float64(p))
	default:
		ps.mtry = p / 3
	}
	ps.mtry = max(1, min(ps.mtry, p))
	ps.minLeaf = max(1, c.MinLeaf)
	ps.maxDepth = c.MaxDepth
	ps.bootstrap = !c.NoBootstrap
	ps.sampleFraction = c.SampleFraction
	if ps.sampleFraction == 0 {
		ps.sampleFraction = 1
	}
	ps.seed = c.Seed
	ps.workers = c.Workers
	if ps.workers == 0 {
		ps.workers = runtime.GOMAXPROCS(0)
	}
	return ps, nil
}

// sampleSize is the number of rows drawn for each tree.
func (ps params) sampleSize(n int) int {
	return max(1, min(n, int(math.Round(ps.sampleFraction*float64(n)))))
}

// Train fits a Regressor to X and y; it makes Config a stream.Trainer. If the
// schema names features, their number must match the rows'.
func (c Config) Train(ctx context.Context, schema stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	if err := checkSchema(schema, X); err != nil {
		return nil, err
	}
	r, err := c.Fit(ctx, X, y)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CheckTarget refuses a target no retrain could use: NaN, infinite, or of
// magnitude 1e140 or more, past which a window's squared sums could
// overflow (see ErrTargetRange). It makes Config a stream.TargetChecker, so
// that a Pipeline refuses such a record on arrival, naming it, rather than
// failing every retrain while it is in the window.
func (Config) CheckTarget(y float64) error {
	switch {
	case math.IsNaN(y) || math.IsInf(y, 0):
		return fmt.Errorf("%w: target is %v", ErrNonFinite, y)
	case math.Abs(y) >= maxTarget:
		return fmt.Errorf("%w: target %g; |target| must be below %g", ErrTargetRange, y, maxTarget)
	}
	return nil
}

func checkSchema(schema stream.Schema, X [][]float64) error {
	if n := schema.NumFeatures(); n > 0 && len(X) > 0 && len(X[0]) != n {
		return fmt.Errorf("%w: schema names %d features, rows have %d", ErrFeatureCount, n, len(X[0]))
	}
	return nil
}
