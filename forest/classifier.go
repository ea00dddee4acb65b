package forest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"

	randomforest "github.com/malaschitz/randomForest"

	"github.com/forestream/forestream/stream"
)

// MaxClasses bounds the class labels a Classifier accepts: labels are
// integers in [0, MaxClasses). A Classifier keeps probabilities only for
// the labels that occur, but Probabilities gives one for every label up to
// the largest, and the bound keeps that slice a sane size.
const MaxClasses = 1 << 16

// MaxClassifierDepth bounds ClassifierConfig.MaxDepth: the library grows
// trees by recursion, and a node it cannot split (identical rows with
// different labels) recurses all the way down to MaxDepth.
const MaxClassifierDepth = 1000

// ClassifierConfig holds the settings of a random-forest classifier built
// with github.com/malaschitz/randomForest (Gini splits, bootstrap rows,
// class probabilities averaged over the trees). Trees must be set; for
// every other field the zero value means the default.
//
// The library draws from the global math/rand source and cannot be seeded,
// so training is not reproducible: two fits on the same data give slightly
// different forests. Once trained, a Classifier is fully deterministic.
//
// The library trains its trees on randomforest.NumWorkers goroutines (by
// default the number of CPUs). This package never writes that variable or
// any other package-level state of the library, so any number of
// classifiers may train at once; a program that sets NumWorkers itself must
// do so while no classifier is training.
//
// ClassifierConfig satisfies stream.Trainer for streams whose target is a
// class index.
type ClassifierConfig struct {
	// Trees is the number of trees, in [1, MaxTrees]; DefaultTrees (100) is
	// the usual choice. As in Config, zero is an error, not a default.
	Trees int
	// MaxDepth limits the depth of the trees, counting the root as depth 1
	// as the library does; 0 means the library's default, 10. At most
	// MaxClassifierDepth.
	MaxDepth int
	// LeafSize: a node with at most this many rows becomes a leaf; 0 means
	// the library's default, a twentieth of the rows clamped to [1, 50].
	LeafSize int
	// MaxFeatures is the number of features tried at every split; 0 means
	// the library's default, ⌊√p⌋.
	MaxFeatures int
}

// Classifier is a trained random-forest classifier. Its trees are copied
// out of the library into flat arrays at full precision, so it never
// changes after training or decoding and is safe for concurrent use. It
// satisfies stream.Predictor and stream.BatchPredictor: Predict returns the
// most likely class index as a float64.
//
// The zero value is an empty model whose methods return ErrNotTrained.
type Classifier struct {
	p, k int // features; classes, the largest label plus one
	// labels are the labels that occur in training, ascending. A leaf's
	// probabilities are theirs, in this order, so that memory grows with
	// the labels that occur rather than with the largest.
	labels []int32
	nodes  []node // a leaf points at itself and feat is its leaf number
	probs  []float64
	roots  []int32
	imp    []float64
}

var (
	_ stream.Predictor      = (*Classifier)(nil)
	_ stream.BatchPredictor = (*Classifier)(nil)
	_ stream.Trainer        = ClassifierConfig{}
	_ stream.Validator      = ClassifierConfig{}
	_ stream.TargetChecker  = ClassifierConfig{}
)

// Validate checks the settings that do not depend on the data, as Fit
// does first; it makes ClassifierConfig a stream.Validator, so that a
// Pipeline refuses settings no retrain could use when it starts.
func (c ClassifierConfig) Validate() error { return c.check(math.MaxInt) }

func (c ClassifierConfig) check(p int) error {
	switch {
	case c.Trees < 1:
		return fmt.Errorf("%w: Trees is %d, must be at least 1 (DefaultTrees is %d)", ErrInvalidConfig, c.Trees, DefaultTrees)
	case c.Trees > MaxTrees:
		return fmt.Errorf("%w: Trees is %d, at most MaxTrees (%d)", ErrInvalidConfig, c.Trees, MaxTrees)
	case c.MaxDepth < 0 || c.MaxDepth > MaxClassifierDepth:
		return fmt.Errorf("%w: MaxDepth is %d, must be in [0, %d]", ErrInvalidConfig, c.MaxDepth, MaxClassifierDepth)
	case c.LeafSize < 0:
		return fmt.Errorf("%w: LeafSize is %d, must not be negative", ErrInvalidConfig, c.LeafSize)
	case c.MaxFeatures < 0 || c.MaxFeatures > p:
		return fmt.Errorf("%w: MaxFeatures is %d, must be in [0, %d]", ErrInvalidConfig, c.MaxFeatures, p)
	}
	return nil
}

// Fit trains a Classifier on rows X with class labels in [0, MaxClasses).
// Every input is validated before the library sees it, because the library
// panics on bad input inside its own goroutines, where the panic cannot be
// recovered and ends the process. The number of classes is the largest
// label plus one; labels need not be consecutive, and the model's size
// grows with the number of distinct labels.
//
// The library cannot be interrupted, so Fit trains in rounds of a few trees
// and checks ctx between rounds; it returns ctx.Err() once ctx is cancelled
// and the round in progress has finished.
func (c ClassifierConfig) Fit(ctx context.Context, X [][]float64, labels []int) (*Classifier, error) {
	if len(X) > 0 && len(labels) != len(X) {
		return nil, fmt.Errorf("%w: %d rows, %d labels", ErrTargetCount, len(X), len(labels))
	}
	p, err := validateX(X)
	if err != nil {
		return nil, err
	}
	k := 0
	for i, l := range labels {
		if l < 0 || l >= MaxClasses {
			return nil, fmt.Errorf("%w: label %d is %d, must be in [0, %d)", ErrBadLabel, i, l, MaxClasses)
		}
		k = max(k, l+1)
	}
	if err := c.check(p); err != nil {
		return nil, err
	}
	trees := c.Trees
	// The library allocates per-class arrays at every node for as many
	// classes as the largest label it sees, so it is given the labels'
	// ranks among those that occur. It reads the rows while it trains;
	// the ranks are a new slice, and X, which it only reads, is shared.
	rank := make([]int32, k)
	for _, l := range labels {
		rank[l] = 1
	}
	cl := &Classifier{p: p, k: k, roots: make([]int32, 0, trees)}
	for l, seen := range rank {
		if seen != 0 {
			rank[l] = int32(len(cl.labels))
			cl.labels = append(cl.labels, int32(l))
		}
	}
	dense := make([]int, len(labels))
	for i, l := range labels {
		dense[i] = int(rank[l])
	}
	data := randomforest.ForestData{X: X, Class: dense}
	imp := make([]float64, p)
	round := max(1, runtime.NumCPU())
	for done := 0; done < trees; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nt := min(round, trees-done)
		f := randomforest.Forest{Data: data, MaxDepth: c.MaxDepth, LeafSize: c.LeafSize, MFeatures: c.MaxFeatures}
		f.Train(nt)
		for i := range f.Trees {
			cl.addTree(&f.Trees[i].Root, imp)
		}
		done += nt
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	normalize(imp)
	cl.imp = imp
	return cl, nil
}

// addTree copies one of the library's trees into the flat arrays, children
// side by side, and adds its normalized Gini decreases to imp.
//
// When none of the features the library tried at a node can split it, the
// library still splits, on feature 0 at 0 with a GiniGain of Gini−1. Such a
// split may send every row one way, leaving a leaf of no rows whose class
// probabilities are all zero, and its negative gain would make importances
// negative. So a split with an empty side is replaced by its other side,
// and a split's gain is computed from its children's impurities.
func (cl *Classifier) addTree(root *randomforest.Branch, imp []float64) {
	base := int32(len(cl.nodes))
	cl.roots = append(cl.roots, base)
	timp := make([]float64, cl.p)
	type item struct {
		b  *randomforest.Branch
		id int32
	}
	cl.nodes = append(cl.nodes, node{})
	stack := []item{{root, base}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b := it.b
		for !b.IsLeaf && b.Branch0 != nil && b.Branch1 != nil {
			if b.Branch0.Size == 0 {
				b = b.Branch1
			} else if b.Branch1.Size == 0 {
				b = b.Branch0
			} else {
				break
			}
		}
		if b.IsLeaf || b.Branch0 == nil || b.Branch1 == nil {
			d := len(cl.labels)
			leaf := int32(len(cl.probs) / d)
			cl.probs = append(cl.probs, make([]float64, d)...)
			copy(cl.probs[len(cl.probs)-d:], b.LeafValue)
			cl.nodes[it.id] = node{feat: leaf, left: it.id}
			continue
		}
		l := int32(len(cl.nodes))
		cl.nodes = append(cl.nodes, node{}, node{})
		cl.nodes[it.id] = node{thr: b.Value, feat: int32(b.Attribute), left: l}
		b0, b1 := b.Branch0, b.Branch1
		gain := float64(b.Size)*b.Gini - float64(b0.Size)*b0.Gini - float64(b1.Size)*b1.Gini
		timp[b.Attribute] += max(0, gain) // never below 0, but for rounding
		stack = append(stack, item{b.Branch1, l + 1}, item{b.Branch0, l})
	}
	normalize(timp)
	for f, v := range timp {
		imp[f] += v
	}
}

// normalize scales v to sum to 1; it leaves v alone when the sum is not
// positive (a tree that never split).
func normalize(v []float64) {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	if sum > 0 {
		for i := range v {
			v[i] /= sum
		}
	}
}

// Train fits a Classifier; it makes ClassifierConfig a stream.Trainer. Each
// target must be a class index: an integer in [0, MaxClasses).
func (c ClassifierConfig) Train(ctx context.Context, schema stream.Schema, X [][]float64, y []float64) (stream.Predictor, error) {
	if err := checkSchema(schema, X); err != nil {
		return nil, err
	}
	labels := make([]int, len(y))
	for i, v := range y {
		if err := c.CheckTarget(v); err != nil {
			return nil, fmt.Errorf("target %d: %w", i, err)
		}
		labels[i] = int(v)
	}
	cl, err := c.Fit(ctx, X, labels)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// CheckTarget refuses a target that is not a class index, an integer in
// [0, MaxClasses). It makes ClassifierConfig a stream.TargetChecker, so
// that a Pipeline refuses such a record on arrival, naming it, rather than
// failing every retrain while it is in the window.
func (ClassifierConfig) CheckTarget(y float64) error {
	if !(y >= 0 && y < MaxClasses) || y != math.Trunc(y) {
		return fmt.Errorf("%w: %v, must be an integer in [0, %d)", ErrBadLabel, y, MaxClasses)
	}
	return nil
}

// leafProbs returns the probabilities of cl.labels at the leaf x reaches in
// tree t.
func (cl *Classifier) leafProbs(t int, x []float64) []float64 {
	i := cl.roots[t]
	nd := &cl.nodes[i]
	for !nd.isLeaf(i) {
		i = nd.child(x)
		nd = &cl.nodes[i]
	}
	d := len(cl.labels)
	j := int(nd.feat) * d
	return cl.probs[j : j+d]
}

// Probabilities writes the average over the trees of the class
// probabilities of the leaves x reaches to dst, which it grows to
// NumClasses if it is shorter, and returns it. This is what the library's
// Vote computes, except where the library split a node with every training
// row on one side: the empty side's leaf, whose probabilities are all zero,
// is dropped, so the probabilities always sum to 1, up to rounding.
func (cl *Classifier) Probabilities(x []float64, dst []float64) ([]float64, error) {
	if err := checkRow(x, cl.p); err != nil {
		return nil, err
	}
	if cap(dst) < cl.k {
		dst = make([]float64, cl.k)
	}
	dst = dst[:cl.k]
	clear(dst)
	d := len(cl.labels)
	cl.vote(x, dst[:d])
	// Spread the votes from the labels' ranks to the labels themselves,
	// highest first: labels[j] >= j, so no vote is overwritten before it
	// has moved.
	for j := d - 1; j >= 0; j-- {
		v := dst[j]
		dst[j] = 0
		dst[cl.labels[j]] = v
	}
	return dst, nil
}

// vote writes the average probability of each of cl.labels over the trees
// to dst.
func (cl *Classifier) vote(x []float64, dst []float64) {
	clear(dst)
	for t := range cl.roots {
		for j, v := range cl.leafProbs(t, x) {
			dst[j] += v
		}
	}
	n := float64(len(cl.roots))
	for j := range dst {
		dst[j] /= n
	}
}

// smallClasses is the number of classes for which Predict keeps its
// scratch space on the stack, and so does not allocate.
const smallClasses = 64

// Predict returns the most likely class of x (the lowest index among ties)
// as a float64. It does not allocate when at most 64 labels occurred in
// training.
func (cl *Classifier) Predict(x []float64) (float64, error) {
	if err := checkRow(x, cl.p); err != nil {
		return 0, err
	}
	return cl.predict(x), nil
}

func (cl *Classifier) predict(x []float64) float64 {
	var small [smallClasses]float64
	var votes []float64
	if d := len(cl.labels); d <= smallClasses {
		votes = small[:d]
	} else {
		votes = make([]float64, d)
	}
	cl.vote(x, votes)
	best := 0
	for j, v := range votes {
		if v > votes[best] {
			best = j
		}
	}
	return float64(cl.labels[best])
}

// PredictBatch writes the most likely class of X[i] to out[i], checking
// every row first.
func (cl *Classifier) PredictBatch(X [][]float64, out []float64) error {
	if cl.p == 0 {
		return ErrNotTrained
	}
	if len(out) < len(X) {
		return fmt.Errorf("%w: %d outputs for %d rows", ErrOutputLength, len(out), len(X))
	}
	for i, x := range X {
		if err := checkRow(x, cl.p); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	parallelRows(len(X), runtime.GOMAXPROCS(0), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = cl.predict(X[i])
		}
	})
	return nil
}

// NumFeatures returns the number of features a row must have.
func (cl *Classifier) NumFeatures() int { return cl.p }

// NumClasses returns the number of classes: the largest training label
// plus one.
func (cl *Classifier) NumClasses() int { return cl.k }

// NumTrees returns the number of trees in the forest.
func (cl *Classifier) NumTrees() int { return len(cl.roots) }

// FeatureImportances returns each feature's share of the Gini decrease
// (rows times impurity decrease at its splits, normalized per tree, then
// averaged), summing to 1, or all zero if no split lowered the impurity.
// The slice is a copy.
func (cl *Classifier) FeatureImportances() []float64 {
	return append([]float64(nil), cl.imp...)
}

// MarshalBinary encodes the classifier at full precision in the versioned
// format described in this package's encoding documentation (magic
// "forestCL", CRC-32C checksum). The library's own JSON is not used
// because it rounds thresholds to 5 decimals.
func (cl *Classifier) MarshalBinary() ([]byte, error) {
	if cl.p == 0 {
		return nil, ErrNotTrained
	}
	e := beginEncoding(magicClassifier, 16+4*len(cl.labels)+8*cl.p+4*len(cl.roots)+16*len(cl.nodes)+8*len(cl.probs))
	e.u32(uint32(cl.p))
	e.u32(uint32(cl.k))
	e.u32(uint32(len(cl.labels)))
	for _, l := range cl.labels {
		e.u32(uint32(l))
	}
	e.u32(uint32(len(cl.roots)))
	for _, v := range cl.imp {
		e.f64(v)
	}
	for t, root := range cl.roots {
		end := int32(len(cl.nodes))
		if t+1 < len(cl.roots) {
			end = cl.roots[t+1]
		}
		e.u32(uint32(end - root))
		for i := root; i < end; i++ {
			nd := cl.nodes[i]
			if nd.left == i {
				e.u32(math.MaxUint32)
				e.u32(0)
				e.f64(0)
				d := len(cl.labels)
				j := int(nd.feat) * d
				for _, v := range cl.probs[j : j+d] {
					e.f64(v)
				}
				continue
			}
			e.u32(uint32(nd.feat))
			e.u32(uint32(nd.left - root))
			e.f64(nd.thr)
		}
	}
	return e.finish(), nil
}

// UnmarshalBinary decodes a classifier written by MarshalBinary, replacing
// cl's contents. Truncated, corrupted or foreign input gives an error
// wrapping ErrFormat or ErrVersion, never a panic. Do not call it on a
// Classifier that is in use.
func (cl *Classifier) UnmarshalBinary(data []byte) error {
	body, version, err := openBody(data, magicClassifier)
	if err != nil {
		return err
	}
	d := &decoder{b: body}
	p, k := int(d.u32()), int(d.u32())
	switch {
	case d.err != nil:
		return d.err
	case p < 1 || p > maxFeatures:
		return fmt.Errorf("%w: %d features", ErrFormat, p)
	case k < 1 || k > MaxClasses:
		return fmt.Errorf("%w: %d classes", ErrFormat, k)
	}
	labels, err := d.labels(version, k)
	if err != nil {
		return err
	}
	nt := int(d.u32())
	switch {
	case d.err != nil:
		return d.err
	case nt < 1 || nt > len(d.b)/16:
		return fmt.Errorf("%w: %d trees in %d bytes", ErrFormat, nt, len(d.b))
	case p > len(d.b)/8:
		return fmt.Errorf("%w: %d importances in %d bytes", ErrFormat, p, len(d.b))
	}
	out := Classifier{p: p, k: k, labels: labels, imp: d.importances(p)}
	nl := len(labels)
	if d.err != nil {
		return d.err
	}
	out.roots, out.nodes, err = d.trees(p, nt, func(_ int, v float64, at int32) (node, error) {
		if math.Float64bits(v) != 0 { // canonical: +0 only
			return node{}, errBadLeaf
		}
		raw := d.take(8 * nl)
		if d.err != nil {
			return node{}, d.err
		}
		leaf := len(out.probs) / nl
		if leaf > math.MaxInt32 {
			return node{}, errors.New("too many leaves")
		}
		for j := range nl {
			pr := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*j:]))
			if !(pr >= 0 && pr <= 1) {
				return node{}, fmt.Errorf("probability %v", pr)
			}
			out.probs = append(out.probs, pr)
		}
		return node{feat: int32(leaf), left: at}, nil
	})
	if err != nil {
		return err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last tree", ErrFormat, len(d.b))
	}
	*cl = out
	return nil
}

// labels reads the labels that occur among k classes: listed, ascending,
// the last being k−1, or from a version 1 encoding, which had no list, all
// of them.
func (d *decoder) labels(version uint32, k int) ([]int32, error) {
	if version == 1 {
		labels := make([]int32, k)
		for l := range labels {
			labels[l] = int32(l)
		}
		return labels, nil
	}
	n := int(d.u32())
	switch {
	case d.err != nil:
		return nil, d.err
	case n < 1 || n > k || n > len(d.b)/4:
		return nil, fmt.Errorf("%w: %d labels of %d classes in %d bytes", ErrFormat, n, k, len(d.b))
	}
	labels := make([]int32, n)
	for i := range labels {
		l := d.u32()
		if i > 0 && l <= uint32(labels[i-1]) || l >= uint32(k) || i == n-1 && l != uint32(k-1) {
			return nil, fmt.Errorf("%w: label %d of %d classes is %d", ErrFormat, i, k, l)
		}
		labels[i] = int32(l)
	}
	return labels, nil
}

// WriteTo writes the encoded classifier to w; it makes Classifier an
// io.WriterTo.
func (cl *Classifier) WriteTo(w io.Writer) (int64, error) { return writeModel(w, cl) }

// ReadFrom reads one encoded classifier from r, consuming exactly its
// bytes, and replaces cl's contents; it makes Classifier an io.ReaderFrom.
func (cl *Classifier) ReadFrom(r io.Reader) (int64, error) { return readInto(r, magicClassifier, cl) }
