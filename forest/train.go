package forest

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// How training works, and why.
//
// Each feature is sorted once per Fit, and every value is replaced by its
// rank among the feature's distinct values. A tree then keeps, for every
// feature, the list of its in-bag rows in sorted order, and every node owns
// the same range [s, e) of each list. Finding the best split on a feature is
// one linear scan of the node's range (no sorting at any node), which gives
// the exact squared-error splits of scikit-learn. After a split the lists are
// stably partitioned, which keeps both children sorted. An entry of a list
// packs the row and its rank into one integer, of 32 bits where the data
// allows (see key). Bootstrap samples are integer counts per row used as
// weights, never copied rows. All buffers belong to a worker and are reused
// from tree to tree.

// entry is one row in a feature's sorted list of the whole data: the row
// and the rank of its value, so that a scan never needs to look the value
// itself up.
type entry struct {
	row, rank int32
}

// key is an entry of a tree's lists, packed into one integer: the rank of
// the value in the upper half and the row's number among the in-bag rows in
// the lower half. Data of at most 2^16 rows (so at most 2^16 in-bag rows and
// distinct values per feature) packs into a uint32, twice as many entries
// per cache line as a uint64: the lists of a 10,000-row tree then fit in a
// core's L2 cache, and the partitions and scans, which are bound by memory,
// move half the bytes. Larger data uses a uint64.
type key interface{ ~uint32 | ~uint64 }

// keyBits returns the number of bits of each half of a key of type E and
// the mask of the lower half, which has the row. Functions call it once, not
// per key: a call to a generic function inside a loop looks its
// instantiation up at every iteration, and the loop runs slower.
func keyBits[E key]() (uint, E) {
	var k E
	h := uint(unsafe.Sizeof(k)) * 4
	return h, 1<<h - 1
}

// compactMax is the most rows the uint32 keys can hold.
const compactMax = 1 << 16

// rowStat holds a row's weighted target and its bootstrap weight, a whole
// number kept as an integer: the split scan sums weights as integers, which
// are exact as float64 sums of whole numbers are, and indexes inv with them
// without converting from float64.
type rowStat struct {
	wy float64
	w  int
}

// dataset is the training data, sorted once per Fit and shared read-only by
// the workers.
type dataset struct {
	n, p int
	X    [][]float64
	// y is the targets less their mean, yMean: a tree is grown on the
	// deviations and adds yMean back at the leaves. Targets sharing a
	// large offset (a timestamp, a price level) would otherwise lose the
	// low digits of every sum to rounding.
	y     []float64
	yMean float64
	order []entry     // p lists of n entries, each sorted by value then row
	inv   []float64   // inv[k] = 1/k: bootstrap weights are whole numbers
	uniq  [][]float64 // the distinct values of each feature, ascending
}

func newDataset(ctx context.Context, X [][]float64, y []float64, workers int) (*dataset, error) {
	n, p := len(X), len(X[0])
	d := &dataset{n: n, p: p, X: X, y: make([]float64, n), order: make([]entry, n*p), uniq: make([][]float64, p), inv: make([]float64, n+1)}
	for k := 1; k <= n; k++ {
		d.inv[k] = 1 / float64(k)
	}
	for _, v := range y {
		d.yMean += v / float64(n) // divided first: a sum of large targets could overflow
	}
	var resid float64
	for _, v := range y {
		resid += v - d.yMean
	}
	d.yMean += resid / float64(n) // a second pass takes back the first's rounding
	for i, v := range y {
		d.y[i] = v - d.yMean
	}
	type pair struct {
		v   float64
		row int32
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, p) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]pair, n)
			for {
				f := int(next.Add(1) - 1)
				if f >= p || ctx.Err() != nil {
					return
				}
				for r := range buf {
					buf[r] = pair{X[r][f], int32(r)}
				}
				slices.SortFunc(buf, func(a, b pair) int {
					if c := cmp.Compare(a.v, b.v); c != 0 {
						return c
					}
					return cmp.Compare(a.row, b.row)
				})
				list := d.order[f*n : (f+1)*n]
				uniq := make([]float64, 0, 16)
				for i, pr := range buf {
					if i == 0 || pr.v != buf[i-1].v {
						uniq = append(uniq, pr.v)
					}
					list[i] = entry{row: pr.row, rank: int32(len(uniq) - 1)}
				}
				d.uniq[f] = slices.Clip(uniq)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d, nil
}

// node is one node of a tree in a flat array. Children are stored side by
// side, so a node needs one index: the right child is left+1. A leaf points
// at itself, keeps its value in thr, and has feature p, one past the last.
type node struct {
	thr  float64
	feat int32
	left int32
}

func (nd node) isLeaf(self int32) bool { return nd.left == self }

// child returns the index of the child x goes to from split nd: rows with
// x[feat] <= thr go left.
func (nd *node) child(x []float64) int32 {
	if x[nd.feat] > nd.thr {
		return nd.left + 1
	}
	return nd.left
}

// tree is one grown tree.
type tree struct {
	nodes []node
	imp   []float64 // squared-error decrease per feature
	inbag []uint64  // bitset of the rows the tree was grown on
	oob   []float64 // the tree's prediction for each row not in inbag, in row order
}

// leaf returns the index of the leaf x falls into.
func (t *tree) leaf(x []float64) int32 {
	i := int32(0)
	for nd := &t.nodes[0]; !nd.isLeaf(i); nd = &t.nodes[i] {
		i = nd.child(x)
	}
	return i
}

type frame struct {
	id, s, e, depth int
	W, S            float64 // sums of the weights and weighted targets
}

// worker owns the buffers for growing one tree at a time.
type worker struct {
	d     *dataset
	ps    params
	count []float64 // bootstrap count of each training row
	in    []uint8   // 1 for in-bag rows
	// In-bag rows are renumbered 0..m-1 in row order, so that the arrays
	// the split scans look up at random are as small as the sample: cid
	// maps a training row to its number (-1 out of bag), and rows holds the
	// weight and weighted target by number.
	cid   []int32
	rows  []rowStat
	ys    []float64 // target by number, for the test of a pure node
	seg32 []uint32  // p sorted lists of the current tree's m in-bag rows, for n <= compactMax
	seg64 []uint64  // the same for larger data
	tmp32 []uint32  // the partition's buffer, of the type of the lists
	tmp64 []uint64
	side  []uint8  // by number, 1 for the rows of the node being split that go left, for n <= compactMax
	left  []uint64 // the same as a bitset, for larger data
	feats []int
	perm  []int32
	stack []frame
	nodes []node
	ranks [][3]int32 // per split: node, and the ranks of the values either side of it
}

func newWorker(d *dataset, ps params) *worker {
	w := &worker{
		d: d, ps: ps,
		count: make([]float64, d.n),
		in:    make([]uint8, d.n),
		cid:   make([]int32, d.n),
		rows:  make([]rowStat, d.n),
		ys:    make([]float64, d.n),
		feats: make([]int, d.p),
	}
	if d.n <= compactMax {
		w.seg32, w.tmp32 = make([]uint32, d.n*d.p), make([]uint32, d.n)
		w.side = make([]uint8, d.n)
	} else {
		w.seg64, w.tmp64 = make([]uint64, d.n*d.p), make([]uint64, d.n)
		w.left = make([]uint64, (d.n+63)/64)
	}
	return w
}

// treeRNG gives tree t its own random stream, a function of the master seed
// and t only.
func treeRNG(seed uint64, t int) *rand.Rand {
	s1 := splitmix64(seed ^ splitmix64(uint64(t)))
	return rand.New(rand.NewPCG(s1, splitmix64(s1)))
}

// sample draws the tree's rows, numbers the in-bag ones, and returns the
// in-bag bitset and the number m of in-bag rows.
func (w *worker) sample(rng *rand.Rand) ([]uint64, int) {
	n := w.d.n
	k := w.ps.sampleSize(n)
	clear(w.count)
	switch {
	case w.ps.bootstrap:
		for range k {
			w.count[rng.IntN(n)]++
		}
	case k == n:
		for r := range w.count {
			w.count[r] = 1
		}
	default:
		if w.perm == nil {
			w.perm = make([]int32, n)
		}
		for i := range w.perm {
			w.perm[i] = int32(i)
		}
		for i := range k {
			j := i + rng.IntN(n-i)
			w.perm[i], w.perm[j] = w.perm[j], w.perm[i]
			w.count[w.perm[i]] = 1
		}
	}
	inbag := make([]uint64, (n+63)/64)
	m := 0
	for r, c := range w.count {
		w.in[r] = b2u(c > 0)
		w.cid[r] = -1
		if c > 0 {
			w.cid[r] = int32(m)
			w.rows[m] = rowStat{wy: c * w.d.y[r], w: int(c)}
			w.ys[m] = w.d.y[r]
			m++
			inbag[r/64] |= 1 << (r % 64)
		}
	}
	return inbag, m
}

// grow grows tree t. It checks ctx every so many nodes so that a cancelled
// Fit returns promptly even while a large tree is growing.
func (w *worker) grow(ctx context.Context, t int) (tree, error) {
	if w.seg32 != nil {
		return grow(ctx, w, t, w.seg32, w.tmp32)
	}
	return grow(ctx, w, t, w.seg64, w.tmp64)
}

func grow[E key](ctx context.Context, w *worker, t int, seg, tmp []E) (tree, error) {
	d, ps := w.d, w.ps
	sh, mask := keyBits[E]()
	n, p := d.n, d.p
	rng := treeRNG(ps.seed, t)
	inbag, m := w.sample(rng)

	// Branch-free filtering: an out-of-bag entry is written and then
	// overwritten. The write after a feature's last in-bag entry lands at
	// the start of the next feature's list, which is filled afterwards; when
	// every row is in bag there is no such write.
	for f := range p {
		j := f * m
		for _, en := range d.order[f*n : (f+1)*n] {
			c := w.cid[en.row]
			seg[j] = E(en.rank)<<sh | E(uint32(c))
			j += int(1 + c>>31) // 1 in bag, 0 out of bag
		}
	}

	// The feature permutation carries over from node to node, so it must
	// start afresh with every tree for the tree not to depend on which
	// trees this worker grew before.
	for i := range w.feats {
		w.feats[i] = i
	}
	imp := make([]float64, p)
	w.nodes = append(w.nodes[:0], node{})
	w.ranks = w.ranks[:0]
	root := frame{id: 0, s: 0, e: m}
	for _, k := range seg[:m] {
		root.W += float64(w.rows[int(k&mask)].w)
		root.S += w.rows[int(k&mask)].wy
	}
	w.stack = append(w.stack[:0], root)
	for count := 0; len(w.stack) > 0; count++ {
		if count&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return tree{}, err
			}
		}
		fr := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]

		size := fr.e - fr.s
		if size < 2*ps.minLeaf || size < 2 || (ps.maxDepth > 0 && fr.depth >= ps.maxDepth) {
			setLeaf(w, fr, seg)
			continue
		}
		// A node whose targets are all equal is a leaf; any other is split,
		// even where no split lowers the error (XOR, say), as long as some
		// feature varies. Deciding by the gain would stop at a zero-gain
		// split that deeper ones make worthwhile, and the gain's rounding
		// scales with the node's mean. scikit-learn stops at an impurity
		// below float64's epsilon instead, which also stops nodes of tiny
		// but real spread (targets of order 1e-9).
		if pure(w, seg[fr.s:fr.e]) {
			setLeaf(w, fr, seg)
			continue
		}
		// A node's sums come from its parent's split scan, which saves a
		// pass over every inner node; leaves recompute theirs exactly.
		W, S := fr.W, fr.S
		bf, bpos, gain, wl, sl := bestSplit(w, rng, seg, m, fr.s, fr.e, W, S)
		if bf < 0 {
			setLeaf(w, fr, seg)
			continue
		}
		sg := seg[bf*m+fr.s : bf*m+fr.e]
		l := int32(len(w.nodes))
		w.nodes = append(w.nodes, node{}, node{})
		// The threshold is looked up after the tree is grown: the lookup
		// misses the cache, and a pass of independent lookups overlaps
		// them where one per node would stall.
		w.nodes[fr.id] = node{feat: int32(bf), left: l}
		w.ranks = append(w.ranks, [3]int32{int32(fr.id), int32(sg[bpos] >> sh), int32(sg[bpos+1] >> sh)})
		imp[bf] += max(gain, 0) // a split that gains nothing may round below 0
		nl := bpos + 1
		partition(w, seg, tmp, m, fr.s, fr.e, bf, nl)
		w.stack = append(w.stack,
			frame{id: int(l) + 1, s: fr.s + nl, e: fr.e, depth: fr.depth + 1, W: W - wl, S: S - sl},
			frame{id: int(l), s: fr.s, e: fr.s + nl, depth: fr.depth + 1, W: wl, S: sl})
	}
	for _, rk := range w.ranks {
		nd := &w.nodes[rk[0]]
		u := d.uniq[nd.feat]
		lo, hi := u[rk[1]], u[rk[2]]
		// The midpoint, as scikit-learn does, unless rounding pushes it onto
		// the upper value.
		nd.thr = lo/2 + hi/2
		if nd.thr >= hi || math.IsInf(nd.thr, 0) {
			nd.thr = lo
		}
	}
	tr := tree{
		nodes: slices.Clone(w.nodes),
		imp:   imp,
		inbag: inbag,
	}
	// Out-of-bag rows are scored now, while the tree is still in cache;
	// the sums over trees are made later, in tree order.
	tr.oob = make([]float64, 0, n-m)
	for r, b := range w.in {
		if b == 0 {
			tr.oob = append(tr.oob, tr.nodes[tr.leaf(d.X[r])].thr)
		}
	}
	return tr, nil
}

func setLeaf[E key](w *worker, fr frame, seg []E) {
	_, mask := keyBits[E]()
	var W, S float64
	for _, k := range seg[fr.s:fr.e] {
		rs := &w.rows[int(k&mask)]
		W += float64(rs.w)
		S += rs.wy
	}
	w.nodes[fr.id] = node{thr: S/W + w.d.yMean, feat: int32(w.d.p), left: int32(fr.id)}
}

// pure reports whether the rows of a node, given as its entries in any
// feature's sorted list, all have the same target.
func pure[E key](w *worker, node []E) bool {
	_, mask := keyBits[E]()
	y := w.ys[int(node[0]&mask)]
	for _, k := range node[1:] {
		if w.ys[int(k&mask)] != y {
			return false
		}
	}
	return true
}

// bestSplit draws features without replacement, mtry of them or, while all
// it drew are constant in the node, more (as scikit-learn does: a constant
// feature counts as tried), and returns the feature, the position in its
// sorted range of the last row that goes left, and the decrease in the
// weighted sum of squared errors. bf is -1 when no split is possible.
func bestSplit[E key](w *worker, rng *rand.Rand, seg []E, m, s, e int, W, S float64) (bf, bpos int, gain, bwl, bsl float64) {
	p, minLeaf, inv := w.d.p, w.ps.minLeaf, w.d.inv
	sh, _ := keyBits[E]()
	Wn := int(W) // exact: the weights are whole numbers
	bf = -1
	best := math.Inf(-1)
	found := 0
	for visited := 0; visited < p && (visited < w.ps.mtry || found == 0); visited++ {
		j := visited + rng.IntN(p-visited)
		w.feats[visited], w.feats[j] = w.feats[j], w.feats[visited]
		f := w.feats[visited]
		sg := seg[f*m+s : f*m+e]
		if sg[0]>>sh == sg[len(sg)-1]>>sh {
			continue
		}
		found++
		if b, pos, wl, sl := scanSplits(sg, w.rows, inv, minLeaf, Wn, S, best); pos >= 0 {
			best, bf, bpos, bwl, bsl = b, f, pos, float64(wl), sl
		}
	}
	if bf < 0 {
		return -1, 0, 0, 0, 0
	}
	return bf, bpos, best - S*S/W, bwl, bsl
}

// splitBySide stably moves the keys of sg whose rows have side 1 to the
// front of sg, and the others after them, using tmp (as long as sg). It is
// a function of its own so that its loop has registers to itself; inlined
// into partition's loop over the features, it spilled and reloaded five of
// them at every key.
//
//go:noinline
func splitBySide[E key](sg, tmp []E, side []uint8) {
	_, mask := keyBits[E]()
	// Branch-free: which side a row goes to is a coin toss near the root,
	// and mispredicted branches would cost more than the stores.
	a, b := 0, 0
	for _, k := range sg {
		l := int(side[int(k&mask)])
		sg[a] = k
		tmp[b] = k
		a += l
		b += 1 - l
	}
	copy(sg[a:], tmp[:b])
}

// scanSplits scans a node's range sg of a feature's list for the split
// whose proxy (the decrease in squared error, less a constant) beats best,
// and returns the best proxy, the position of the split's last left row
// (-1 if none beat best), and the sums of the weights and weighted targets
// left of it. It is a function of its own (not inlined) so that its loop
// has the registers to itself.
//
//go:noinline
func scanSplits[E key](sg []E, rows []rowStat, inv []float64, minLeaf, Wn int, S, best float64) (bb float64, bpos, bwl int, bsl float64) {
	sh, mask := keyBits[E]()
	bb, bpos = best, -1
	var wl int
	var sl float64
	last := len(sg) - minLeaf // the left side may end at index last-1 at most
	for i := 0; i < last; i++ {
		k := sg[i]
		rs := &rows[int(k&mask)]
		wl += rs.w
		sl += rs.wy
		if i+1 < minLeaf || sg[i+1]>>sh == k>>sh {
			continue
		}
		// Multiplying by a tabulated reciprocal instead of dividing makes
		// the scan markedly faster; weights are whole numbers not above
		// n, so the table covers every case.
		sr := S - sl
		proxy := sl*sl*inv[wl] + sr*sr*inv[Wn-wl]
		if proxy > bb {
			bb, bpos, bwl, bsl = proxy, i, wl, sl
		}
	}
	return bb, bpos, bwl, bsl
}

// partition splits every feature's range [s, e) into the nl rows that go
// left and the rest, keeping both parts in sorted order.
func partition[E key](w *worker, seg, tmp []E, m, s, e, bf, nl int) {
	sh, mask := keyBits[E]()
	tmp = tmp[:e-s]
	if sh == 16 {
		// A byte per row says which side it goes to. The at most 2^16
		// bytes of the in-bag rows stay in the L1 or L2 cache, and a byte
		// is found with fewer instructions and registers than a bit.
		side := w.side
		for i, k := range seg[bf*m+s : bf*m+e] {
			side[int(k&mask)] = b2u(i < nl)
		}
		for f := range w.d.p {
			if f == bf {
				continue
			}
			splitBySide(seg[f*m+s:f*m+e], tmp, side)
		}
		return
	}
	// Larger data has a bitset rather than a byte per row: it stays in
	// the L1 cache, and the partition below looks a row up for every entry
	// of every feature.
	left := w.left
	for i, k := range seg[bf*m+s : bf*m+e] {
		r := int(k & mask)
		bit := uint64(1) << (r & 63)
		if i < nl {
			left[r>>6] |= bit
		} else {
			left[r>>6] &^= bit
		}
	}
	for f := range w.d.p {
		if f == bf {
			continue
		}
		splitByBits(seg[f*m+s:f*m+e], tmp, left)
	}
}

// splitByBits is splitBySide with the sides in a bitset, for larger data;
// it is not inlined for the same reason.
//
//go:noinline
func splitByBits[E key](sg, tmp []E, left []uint64) {
	_, mask := keyBits[E]()
	a, b := 0, 0
	for _, k := range sg {
		r := int(k & mask)
		l := int(left[r>>6] >> (r & 63) & 1)
		sg[a] = k
		tmp[b] = k
		a += l
		b += 1 - l
	}
	copy(sg[a:], tmp[:b])
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// afterTree, if set, is called by a worker after it grows each tree; tests
// use it to cancel a Fit part way through without timing.
var afterTree func(t int)

// growAll grows ps.trees trees on ps.workers goroutines. Tree t depends only
// on the data, the settings and t, so the result does not depend on the
// number of workers or on scheduling.
func growAll(ctx context.Context, d *dataset, ps params) ([]tree, error) {
	trees := make([]tree, ps.trees)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range min(ps.workers, ps.trees) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(d, ps)
			for {
				t := int(next.Add(1) - 1)
				if t >= ps.trees || ctx.Err() != nil {
					return
				}
				tr, err := w.grow(ctx, t)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				trees[t] = tr
				if afterTree != nil {
					afterTree(t)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return trees, nil
}
