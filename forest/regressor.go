package forest

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/forestream/forestream/stream"
)

// groupSize is how many walks go on at once where not all can: trees of a
// model kept as node arrays, in Predict, and rows through one tree, in
// batch scoring. Walking several independent paths together lets the
// processor overlap their cache misses, which one walk at a time
// serializes.
const groupSize = 64

// rowBlock is how many rows pass through one tree before the next tree, in
// batch scoring. It is large because the more rows share a tree while its
// nodes are in cache, the fewer misses each row pays.
const rowBlock = 1 << 16

// Regressor is a trained random-forest regressor: the average of its trees'
// predictions. It never changes after training or decoding and is safe for
// concurrent use. It satisfies stream.Predictor, stream.BatchPredictor and
// stream.HeldOutReporter.
//
// The zero value is an empty model whose methods return ErrNotTrained.
type Regressor struct {
	p int
	// A model of at most codeFeatures features, where useCodeLayout
	// allows, is laid out in codes. Otherwise, with at most
	// blockFeatures features the trees are laid out in blocks and exits
	// holds each tree's root exit; with more, nodes holds the nodes of
	// all trees, one after another, and roots each tree's root. A method
	// that walks codes or blocks keeps owner alive until it is done.
	codes   *codeLayout
	blocks  []block
	owner   *blockOwner
	exits   []uint64
	nodes   []node
	roots   []int32
	sizes   []int32 // each tree's number of nodes
	imp     []float64
	oob     stream.HeldOut
	workers int
}

var (
	_ stream.Predictor       = (*Regressor)(nil)
	_ stream.BatchPredictor  = (*Regressor)(nil)
	_ stream.HeldOutReporter = (*Regressor)(nil)
	_ stream.Trainer         = Config{}
	_ stream.Validator       = Config{}
	_ stream.TargetChecker   = Config{}
)

// Fit trains a Regressor on rows X and targets y. X must be non-empty and
// rectangular, y must hold one target per row, and every value must be
// finite. Fit returns ctx.Err() soon after ctx is cancelled, and leaves no
// goroutine behind. X and y are not modified and are not retained.
func (c Config) Fit(ctx context.Context, X [][]float64, y []float64) (*Regressor, error) {
	p, err := validateXY(X, y)
	if err != nil {
		return nil, err
	}
	ps, err := c.resolve(len(X), p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := newDataset(ctx, X, y, ps.workers)
	if err != nil {
		return nil, err
	}
	trees, err := growAll(ctx, d, ps)
	if err != nil {
		return nil, err
	}
	r, err := assemble(p, trees, ps.workers)
	if err != nil {
		return nil, err
	}
	r.imp = importances(p, trees)
	r.oob = oobError(trees, y)
	return r, nil
}

// assemble lays the trees out for prediction: in codeBlocks if
// useCodeLayout allows, else in blocks if the model has at most
// blockFeatures features, else one node array after another.
func assemble(p int, trees []tree, workers int) (*Regressor, error) {
	r := &Regressor{p: p, workers: workers}
	if useCodeLayout(p) {
		var err error
		r.codes, r.owner, r.sizes, err = layoutCodes(p, len(trees), workers, func(t int) ([]node, int32, int) {
			return trees[t].nodes, 0, len(trees[t].nodes)
		})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if p <= blockFeatures {
		var err error
		r.blocks, r.owner, r.exits, r.sizes, err = layoutBlocks(len(trees), workers, func(t int) ([]node, int32, int) {
			return trees[t].nodes, 0, len(trees[t].nodes)
		})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	total := 0
	for i := range trees {
		total += len(trees[i].nodes)
	}
	r.nodes = make([]node, 0, total)
	r.roots = make([]int32, len(trees))
	r.sizes = make([]int32, len(trees))
	for i := range trees {
		base := int32(len(r.nodes))
		r.roots[i], r.sizes[i] = base, int32(len(trees[i].nodes))
		for _, nd := range relayout(trees[i].nodes) {
			nd.left += base
			r.nodes = append(r.nodes, nd)
		}
	}
	return r, nil
}

// topLevels is how many levels of each tree relayout stores breadth-first.
const topLevels = 10

// relayout reorders a tree's nodes for prediction: the top levels
// breadth-first, so that the part of every tree that each prediction
// visits is dense in the cache, and below them each subtree depth-first, so
// that the rest of a path stays within a few pages. Children stay side by
// side and after their parent.
func relayout(nodes []node) []node {
	type item struct {
		old, new int32
		depth    int
	}
	out := make([]node, 1, len(nodes))
	out[0] = nodes[0]
	// place gives the children of the node at it.new their new places.
	place := func(it item) (l, r item, leaf bool) {
		nd := nodes[it.old]
		if nd.left == it.old {
			out[it.new].left = it.new
			return l, r, true
		}
		at := int32(len(out))
		out = append(out, nodes[nd.left], nodes[nd.left+1])
		out[it.new].left = at
		return item{nd.left, at, it.depth + 1}, item{nd.left + 1, at + 1, it.depth + 1}, false
	}
	queue := make([]item, 1, 2<<topLevels)
	var deep []item
	for q := 0; q < len(queue); q++ {
		it := queue[q]
		if it.depth >= topLevels {
			deep = append(deep, it)
			continue
		}
		if l, r, leaf := place(it); !leaf {
			queue = append(queue, l, r)
		}
	}
	var stack []item
	for _, it := range deep {
		stack = append(stack[:0], it)
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l, r, leaf := place(it); !leaf {
				stack = append(stack, r, l)
			}
		}
	}
	return out
}

// importances averages the trees' normalized impurity decreases and
// normalizes the result to sum to 1, as scikit-learn does.
func importances(p int, trees []tree) []float64 {
	imp := make([]float64, p)
	for i := range trees {
		normalize(trees[i].imp) // the trees are dropped after assembly
		for f, v := range trees[i].imp {
			imp[f] += v
		}
	}
	normalize(imp)
	return imp
}

// oobError combines the trees' out-of-bag predictions: each row is scored
// by the trees that did not see it. Sums run over the trees in order and
// then over the rows in order, so the result is reproducible.
func oobError(trees []tree, y []float64) stream.HeldOut {
	n := len(y)
	pred := make([]float64, n)
	cnt := make([]int32, n)
	for t := range trees {
		tr := &trees[t]
		j := 0
		for r := range n {
			if tr.inbag[r/64]&(1<<(r%64)) == 0 {
				pred[r] += tr.oob[j]
				cnt[r]++
				j++
			}
		}
		tr.oob = nil
	}
	var k int
	var sum float64
	for r := range n {
		if cnt[r] > 0 {
			k++
			sum += y[r]
		}
	}
	if k == 0 {
		return stream.HeldOut{}
	}
	mean := sum / float64(k)
	var sse, sst float64
	for r := range n {
		if cnt[r] > 0 {
			e := y[r] - pred[r]/float64(cnt[r])
			sse += e * e
			dv := y[r] - mean
			sst += dv * dv
		}
	}
	h := stream.HeldOut{N: k, MSE: sse / float64(k)}
	if sst > 0 {
		h.R2 = 1 - sse/sst
	}
	return h
}

// parallelRows calls fn on contiguous ranges covering [0, n) on up to
// workers goroutines and waits for them.
func parallelRows(n, workers int, fn func(lo, hi int)) {
	workers = max(1, min(workers, n/64))
	if workers == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(n, lo+chunk))
	}
	wg.Wait()
}

// Predict returns the forest's prediction for one row. x must have
// NumFeatures values and no NaN. Predict does not allocate.
func (r *Regressor) Predict(x []float64) (float64, error) {
	if err := checkRow(x, r.p); err != nil {
		return 0, err
	}
	if r.codes != nil {
		return r.predictCodes(x), nil
	}
	if r.exits != nil {
		return r.predictBlocks(x), nil
	}
	return r.predictNodes(x), nil
}

// predictCodes codes x and walks the trees in rounds, chunkTrees trees at
// a time, as predictBlocks does, adding the leaf values in tree order.
func (r *Regressor) predictCodes(x []float64) float64 {
	v := r.codes.walkCodes(x, true)
	runtime.KeepAlive(r.owner)
	return v
}

// chunkTrees is how many trees predict scores before adding up their
// values, which it keeps on the stack.
const chunkTrees = 128

// predictBlocks walks the trees in rounds, chunkTrees trees at a time: each
// round moves every tree still walking down by one block. The leaf values
// are added in tree order, which makes Predict and PredictBatch agree to
// the bit.
func (r *Regressor) predictBlocks(x []float64) float64 {
	return r.walkBlocks(x, false)
}

// walkBlocks is predictBlocks, on descendRoundGo if portable, so that
// tests can check it against the assembly.
func (r *Regressor) walkBlocks(x []float64, portable bool) float64 {
	blocks, exits := r.blocks, r.exits
	var vals [chunkTrees]float64
	var cur [chunkTrees]uint64 // each tree's exit into its current block
	var tid [chunkTrees]int32
	sum := 0.0
	for base := 0; base < len(exits); base += chunkTrees {
		chunk := exits[base:min(len(exits), base+chunkTrees)]
		active := 0
		for t, e := range chunk {
			if isChild(e) {
				cur[active], tid[active] = e, int32(t)
				active++
			} else {
				vals[t] = math.Float64frombits(e)
			}
		}
		for active > 0 {
			if portable {
				active = descendRoundGo(blocks, x, cur[:active], tid[:active], vals[:len(chunk)])
			} else {
				active = descendRound(blocks, x, cur[:active], tid[:active], vals[:len(chunk)])
			}
		}
		for _, v := range vals[:len(chunk)] {
			sum += v
		}
	}
	runtime.KeepAlive(r.owner)
	return sum / float64(len(exits))
}

// predictNodes walks groupSize trees at a time, interleaved, so that the
// processor overlaps their cache misses; whenever one reaches its leaf the
// next tree takes its place. It adds the leaf values in tree order, as
// predictBlocks does.
func (r *Regressor) predictNodes(x []float64) float64 {
	nodes, roots := r.nodes, r.roots
	var vals [chunkTrees]float64
	var cur [groupSize]int32
	var tid [groupSize]int32
	sum := 0.0
	for base := 0; base < len(roots); base += chunkTrees {
		end := min(len(roots), base+chunkTrees)
		next, active := base, 0
		for ; active < groupSize && next < end; active++ {
			cur[active], tid[active] = roots[next], int32(next-base)
			next++
		}
		for active > 0 {
			for k := 0; k < active; {
				nd := &nodes[cur[k]]
				if !nd.isLeaf(cur[k]) {
					cur[k] = nd.child(x)
					k++
					continue
				}
				vals[tid[k]] = nd.thr
				if next < end {
					cur[k], tid[k] = roots[next], int32(next-base)
					next++
					k++
					continue
				}
				active--
				cur[k], tid[k] = cur[active], tid[active]
			}
		}
		for _, v := range vals[:end-base] {
			sum += v
		}
	}
	return sum / float64(len(roots))
}

// PredictBatch writes the prediction for X[i] to out[i]; out[i] equals
// Predict(X[i]) exactly. Every row is checked before any is scored, and
// large batches are shared among the workers the model was trained with.
func (r *Regressor) PredictBatch(X [][]float64, out []float64) error {
	if r.p == 0 {
		return ErrNotTrained
	}
	if len(out) < len(X) {
		return fmt.Errorf("%w: %d outputs for %d rows", ErrOutputLength, len(out), len(X))
	}
	for i, x := range X {
		if err := checkRow(x, r.p); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	r.predictBatch(X, out, false)
	return nil
}

// predictBatch is PredictBatch on rows already checked, walking with
// descendCodesGo or descendRowsGo if portable, so that tests can check it
// against the assembly.
func (r *Regressor) predictBatch(X [][]float64, out []float64, portable bool) {
	workers := r.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if r.codes != nil {
		// Each row as Predict walks it: one row's walk already keeps
		// many misses in flight, and its codes serve every tree.
		parallelRows(len(X), workers, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = r.codes.walkCodes(X[i], !portable)
			}
		})
		runtime.KeepAlive(r.owner)
		return
	}
	nt := r.NumTrees()
	parallelRows(len(X), workers, func(lo, hi int) {
		// Trees outside, rows inside: a block of rows passes through one
		// tree while its nodes are in cache. Each row still adds its leaf
		// values in tree order, as Predict does.
		for blo := lo; blo < hi; blo += rowBlock {
			bhi := min(hi, blo+rowBlock)
			acc := out[blo:bhi]
			clear(acc)
			for t := range nt {
				if r.exits != nil {
					r.addBlockTree(r.exits[t], X[blo:bhi], acc, portable)
				} else {
					r.addNodeTree(r.roots[t], X[blo:bhi], acc)
				}
			}
			n := float64(nt)
			for i := range acc {
				acc[i] /= n
			}
		}
	})
	runtime.KeepAlive(r.owner)
}

// addBlockTree adds to acc[i] the value of the leaf X[i] reaches in the
// tree whose root exit is root. It walks groupSize rows at a time in
// rounds, as predictBlocks walks trees; between rounds, new rows take the
// places of those that reached their leaves.
func (r *Regressor) addBlockTree(root uint64, X [][]float64, acc []float64, portable bool) {
	if !isChild(root) {
		v := math.Float64frombits(root)
		for i := range acc {
			acc[i] += v
		}
		return
	}
	blocks := r.blocks
	var cur [groupSize]uint64
	var xs [groupSize][]float64
	var accs [groupSize]*float64
	next, active := 0, 0
	for {
		for ; active < groupSize && next < len(X); active++ {
			cur[active], xs[active], accs[active] = root, X[next], &acc[next]
			next++
		}
		if active == 0 {
			return
		}
		if portable {
			active = descendRowsGo(blocks, xs[:active], cur[:active], accs[:active])
		} else {
			active = descendRows(blocks, xs[:active], cur[:active], accs[:active])
		}
	}
}

// addNodeTree adds to acc[i] the value of the leaf X[i] reaches in the tree
// at root, walking groupSize rows at a time as predictNodes walks trees.
func (r *Regressor) addNodeTree(root int32, X [][]float64, acc []float64) {
	nodes := r.nodes
	var cur, row [groupSize]int32
	next, active := 0, 0
	for ; active < groupSize && next < len(X); active++ {
		cur[active], row[active] = root, int32(next)
		next++
	}
	for active > 0 {
		for k := 0; k < active; {
			nd := &nodes[cur[k]]
			if !nd.isLeaf(cur[k]) {
				cur[k] = nd.child(X[row[k]])
				k++
				continue
			}
			acc[row[k]] += nd.thr
			if next < len(X) {
				cur[k], row[k] = root, int32(next)
				next++
				k++
				continue
			}
			active--
			cur[k], row[k] = cur[active], row[active]
		}
	}
}

// HeldOut returns the out-of-bag error measured while training: each
// training row scored by the trees that did not see it. N is the number of
// rows that were out of bag for at least one tree; it is 0 without bootstrap
// or subsampling, and for a decoded model the value stored with it.
func (r *Regressor) HeldOut() stream.HeldOut { return r.oob }

// OOB returns the out-of-bag mean squared error and R², as HeldOut does.
func (r *Regressor) OOB() (mse, r2 float64) { return r.oob.MSE, r.oob.R2 }

// FeatureImportances returns the impurity-based importance of each
// feature, in the order of the training columns, summing to 1 (all zero if
// no split lowered the error: a tree splits a node of unequal targets even
// when no split helps, as XOR's first does). The slice is a copy.
func (r *Regressor) FeatureImportances() []float64 {
	return append([]float64(nil), r.imp...)
}

// NumFeatures returns the number of features a row must have.
func (r *Regressor) NumFeatures() int { return r.p }

// NumTrees returns the number of trees in the forest.
func (r *Regressor) NumTrees() int { return len(r.sizes) }

// NumNodes returns the total number of nodes of all trees.
func (r *Regressor) NumNodes() int {
	n := 0
	for _, s := range r.sizes {
		n += int(s)
	}
	return n
}

// tree returns the nodes of tree t, root first, with child indices
// relative to the root, in the layout training produces. sc may be nil; if
// not, the result is valid until the next call with sc.
func (r *Regressor) tree(t int, sc *treeScratch) []node {
	if r.codes != nil {
		if sc == nil {
			sc = new(treeScratch)
		}
		nodes := r.codes.codeTree(t, r.p, sc)
		runtime.KeepAlive(r.owner)
		return nodes
	}
	if r.exits != nil {
		if sc == nil {
			sc = new(treeScratch)
		}
		nodes := blockTree(r.blocks, r.exits[t], r.p, sc)
		runtime.KeepAlive(r.owner)
		return nodes
	}
	root := r.roots[t]
	nodes := slices.Clone(r.nodes[root : root+r.sizes[t]])
	for i := range nodes {
		nodes[i].left -= root
	}
	return nodes
}
