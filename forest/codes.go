package forest

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"unsafe"
)

// codeBlock holds four levels of one tree in one 64-byte cache line: 15
// splits breadth-first (split s has children 2s+1 and 2s+2) and 16 exits
// below them. It is the layout of models of at most codeFeatures features
// on processors that have the instructions its walk needs (see
// useCodeLayout); other models keep the three-level blocks of block.
//
// A threshold takes 16 bits instead of 64: each feature has up to
// maxPivots pivots p_0 < p_1 < ... among the forest's distinct thresholds
// of that feature, and a value v is coded as
//
//	code(v) = 2·#{pivots < v} + [v is a pivot],
//
// which keeps the order of values. A row is coded once a prediction, and a
// split "x <= t" compares code(x) with code(t). That is exact when t is a
// pivot; when it is not, a row whose code equals t's lies between the same
// two pivots as t and only the threshold itself can decide. Such splits
// are marked in exactMask and keep their threshold in the forest's side
// array, which the walk reads only for a row that ties. A padding split
// below a leaf has code padCode, above every row's, so that every row goes
// left to the exit that holds the leaf. Leaf values sit in an array of
// their own, and a block's children follow one another from childBase.
//
// On the 100-tree forest grown on 50,000 rows of the package's benchmark
// (278,815 to 314,352 distinct thresholds per feature, so 32,767 pivots
// each) a row ties 0.14 times a prediction, at most 4 times among the 10,000
// test rows. The walk keeps the three-level walk's pattern, rounds over all
// trees with each tree's next block prefetched as soon as it is known, but
// waits for one line per four levels instead of two per three:
// BenchmarkPredict took 5.6 to 8.6 µs (median 7.0) against 9.3 to 14.4 µs
// (median 10.4) for the three-level blocks, in 26 runs of each alternating,
// 0.49 to 0.90 of their time run by run (median 0.66). Coding a row took 310
// to 420 ns alone, rows cycling over the 10,000 (140 to 160 ns for one row
// again and again: the pivots' last levels miss the cache). Only picking the
// row's codes with PSHUFB, which needs them in two registers and so at most
// 16 features, gave that gain in a prototype: loading the 15 codes one by
// one, gathering them with AVX2, or walking the four levels one after
// another were all slower than the three-level walk; two pairs of registers
// for up to 32 features measured 0.65 to 0.88, not kept. A portable walk in
// Go took 1.13 to 1.29 times the three-level portable walk's time, so other
// architectures and the purego build keep the three-level blocks. Building
// the layout costs about what building the three-level one does: decoding
// the benchmark model took 396 to 614 ms against 379 to 686 ms in 16 runs of
// each. Encoding it takes about 1.35 times as long (medians 130 and 95 ms),
// its nodes rebuilt from blocks, leaf values, pivots and exact thresholds
// instead of from blocks alone.
//
// The forest takes 101.3 MB instead of 88.4 MB: 50.6 MB of blocks, 25.3 MB
// of leaf values, 22.5 MB of exact thresholds (in the Go heap: the walk
// reads them only on ties) and 3.0 MB of pivots. Blocks shared between
// shallow subtrees, as the three-level layout does, saved a quarter of the
// blocks in a prototype but lost most of the gain: rows seldom visit those
// blocks, and every visit pays for the longer address arithmetic. So did
// keeping subtrees of one or two levels out of the blocks, and loading the
// leaf value in the walk: a load that misses stalls the walk where a
// prefetch does not.
type codeBlock struct {
	codes     [15]uint16 // code(threshold) ^ codeBias, so that signed comparisons order codes
	feat      [15]uint8
	_         uint8
	childMask uint16 // exits that lead to a child block
	childBase uint32 // exit e's child is block childBase + #{child exits below e}
	leafBase  uint32 // exit e's leaf value is leaves[leafBase + #{leaf exits below e}]
	leafMask  uint16 // exits that hold a leaf
	exactMask uint16 // splits whose exact threshold is in side
	sideBase  uint32 // split s's threshold is side[sideBase + #{exact splits below s}]
}

const (
	// codeFeatures is the most features the code layout's walk takes: it
	// holds a row's codes in two 16-byte registers.
	codeFeatures = 16
	// codeBias flips a code's top bit, so that signed 16-bit comparisons
	// order codes as unsigned ones.
	codeBias = 0x8000
	// padCode is the code of a padding split: above every row's code,
	// 2·maxPivots at most.
	padCode = 0xFFFF
	// noBlock marks a tree that is a single leaf.
	noBlock = math.MaxUint32
)

// maxPivots is the most pivots a feature gets, at most 32,767 so that
// every code fits in 16 bits below padCode. Tests lower it to make ties
// frequent.
var maxPivots = 32767

// forceBlockLayout makes models keep the three-level blocks whatever the
// processor, so that tests cover both layouts on one machine.
var forceBlockLayout = false

// codeLayout is a forest laid out in codeBlocks.
type codeLayout struct {
	blocks   []codeBlock
	leaves   []float64
	side     []float64
	roots    []uint32  // each tree's root block, or noBlock
	rootLeaf []float64 // the value of a tree that is a single leaf
	// keys holds every feature's pivots as a static search tree of
	// keyLen keys, one after another: see buildKeys. The last level,
	// from keyLevels[len-1], is the pivots in order, padded with +Inf.
	keys      []float64
	keyLen    int
	keyLevels []int
	npiv      []int32 // each feature's number of pivots
}

// pivots returns feature f's pivots.
func (cl *codeLayout) pivots(f int) []float64 {
	at := f*cl.keyLen + cl.keyLevels[len(cl.keyLevels)-1]
	return cl.keys[at : at+int(cl.npiv[f])]
}

// code returns v's code for feature f, without the bias.
func (cl *codeLayout) code(f int, v float64) uint16 {
	piv := cl.pivots(f)
	k, found := slices.BinarySearch(piv, v) // k = #{pivots < v}
	return uint16(2*k + b2i(found))
}

// threshold returns the exact threshold of split s of b.
func (cl *codeLayout) threshold(b *codeBlock, s int) float64 {
	if b.exactMask>>s&1 != 0 {
		return cl.side[b.sideBase+uint32(bits.OnesCount16(b.exactMask&(1<<s-1)))]
	}
	return cl.pivots(int(b.feat[s]))[(b.codes[s]^codeBias)>>1]
}

// codeBuilder is one worker's buffers for laying out trees.
type codeBuilder struct {
	queue []int32
}

// layoutCodes lays out nt trees in codeBlocks on up to workers goroutines
// and returns the layout with the owner of its mapped memory (see
// newBlocks) and each tree's number of nodes. tree(t) gives tree t as
// nodes[base:base+n], root first and parents before children, every node
// but the root the child of exactly one split.
func layoutCodes(p, nt, workers int, tree func(t int) (nodes []node, base int32, n int)) (*codeLayout, *blockOwner, []int32, error) {
	workers = max(1, min(workers, nt))
	// Count each tree's blocks, leaves and splits of each feature: a block
	// starts at every split four levels below another's start.
	type counts struct {
		blocks, leaves int
		splits         [codeFeatures]int
	}
	cnt := make([]counts, nt+1)
	sizes := make([]int32, nt)
	depths := make([][]uint8, workers)
	forEachTree(nt, workers, func(w, t int) {
		nodes, base, n := tree(t)
		sizes[t] = int32(n)
		c := &cnt[t+1]
		if nodes[base].isLeaf(base) {
			return
		}
		if cap(depths[w]) < n {
			depths[w] = make([]uint8, n)
		}
		depth := depths[w][:n] // depth modulo 4
		depth[0] = 0
		for i := range n {
			at := base + int32(i)
			nd := nodes[at]
			if nd.isLeaf(at) {
				c.leaves++
				continue
			}
			c.splits[nd.feat]++
			if depth[i] == 0 {
				c.blocks++
			}
			l := nd.left - base
			depth[l] = (depth[i] + 1) & 3
			depth[l+1] = depth[l]
		}
	})
	for t := range nt {
		c, prev := &cnt[t+1], &cnt[t]
		c.blocks += prev.blocks
		c.leaves += prev.leaves
		for f := range p {
			c.splits[f] += prev.splits[f]
		}
	}
	nodeOff := make([]int, nt+1) // where each tree's nodes start among all
	for t := range nt {
		nodeOff[t+1] = nodeOff[t] + int(sizes[t])
	}
	total := cnt[nt]
	if uint64(total.blocks) >= noBlock || uint64(nodeOff[nt]) > math.MaxUint32 {
		return nil, nil, nil, fmt.Errorf("%d blocks and %d nodes, at most %d of each supported", total.blocks, nodeOff[nt], uint32(noBlock-1))
	}

	// Every feature's thresholds as ordered keys (see orderedKey), each
	// with the place of its split among all nodes, sorted so that one
	// pass over each feature finds its distinct thresholds, takes the
	// pivots among them and gives every split its code.
	keys := make([][]placedKey, p)
	for f := range p {
		keys[f] = make([]placedKey, total.splits[f])
	}
	forEachTree(nt, workers, func(_, t int) {
		nodes, base, n := tree(t)
		j := cnt[t].splits
		for i := range n {
			nd := nodes[base+int32(i)]
			if !nd.isLeaf(base + int32(i)) {
				keys[nd.feat][j[nd.feat]] = placedKey{orderedKey(nd.thr), uint32(nodeOff[t] + i)}
				j[nd.feat]++
			}
		}
	})
	codes := make([]uint16, nodeOff[nt]) // each split's code
	pivots := make([][]float64, p)
	sorters := make([][]placedKey, workers)
	forEachTree(p, workers, func(w, f int) {
		var k []placedKey
		k, sorters[w] = radixSort(keys[f], sorters[w])
		pivots[f] = pickPivots(k, codes)
	})
	keys, sorters = nil, nil
	cl := &codeLayout{npiv: make([]int32, p)}
	pad := 8 // a power of 8 above every count, so that each ends in +Inf
	for f := range p {
		cl.npiv[f] = int32(len(pivots[f]))
		for pad <= len(pivots[f]) {
			pad *= 8
		}
	}
	for n := 8; n <= pad; n *= 8 {
		cl.keyLevels = append(cl.keyLevels, cl.keyLen)
		cl.keyLen += n
	}

	// One mapping for the blocks and then the leaves and keys, which
	// every prediction reads too.
	const perBlock = int(unsafe.Sizeof(codeBlock{}) / 8)
	nfloat := total.leaves + p*cl.keyLen
	mem, owner := newMapped[codeBlock](total.blocks + (nfloat+perBlock-1)/perBlock)
	cl.blocks = mem[:total.blocks]
	floats := unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(mem[total.blocks:]))), nfloat)
	cl.leaves, cl.keys = floats[:total.leaves], floats[total.leaves:]
	// Pages are mapped on first write: written in order, a part for each
	// worker, they map much faster than in the order the trees fill them
	// (see layoutBlocks).
	const chunk = 2 << 20 / int(unsafe.Sizeof(codeBlock{}))
	forEachTree((len(mem)+chunk-1)/chunk, workers, func(_, c int) {
		for i := c * chunk; i < min(len(mem), (c+1)*chunk); i += 4096 / int(unsafe.Sizeof(codeBlock{})) {
			mem[i].feat[0] = 0
		}
	})
	forEachTree(p, workers, func(_, f int) {
		cl.buildKeys(f, pivots[f])
	})
	pivots = nil

	cl.roots = make([]uint32, nt)
	cl.rootLeaf = make([]float64, nt)
	// Every tree's thresholds that need exact decisions go to the part of
	// side as long as its splits, and then move up behind the previous
	// tree's.
	splitOff := make([]int, nt+1)
	for t := range nt {
		splitOff[t+1] = splitOff[t]
		for f := range p {
			splitOff[t+1] += cnt[t+1].splits[f] - cnt[t].splits[f]
		}
	}
	builders := make([]codeBuilder, workers)
	nside := make([]int, nt)
	errs := make([]error, nt)
	cl.side = make([]float64, splitOff[nt])
	forEachTree(nt, workers, func(w, t int) {
		nodes, base, _ := tree(t)
		if nodes[base].isLeaf(base) {
			cl.roots[t], cl.rootLeaf[t] = noBlock, nodes[base].thr
			return
		}
		cl.roots[t] = uint32(cnt[t].blocks)
		nside[t], errs[t] = cl.layTree(&builders[w], nodes, base, codes[nodeOff[t]-int(base):], cnt[t].blocks, cnt[t+1].blocks,
			cnt[t].leaves, cnt[t+1].leaves, cl.side[splitOff[t]:splitOff[t+1]])
	})
	for t, err := range errs {
		if err != nil {
			return nil, nil, nil, fmt.Errorf("tree %d: %w", t, err)
		}
	}
	n := 0
	for t := range nt {
		if nside[t] == 0 {
			continue
		}
		copy(cl.side[n:], cl.side[splitOff[t]:splitOff[t]+nside[t]])
		for i := cnt[t].blocks; i < cnt[t+1].blocks; i++ {
			cl.blocks[i].sideBase += uint32(n)
		}
		n += nside[t]
	}
	// Each tree's part was as long as its splits; most are exact, and
	// the rest is dropped.
	cl.side = slices.Clone(cl.side[:n])
	return cl, owner, sizes, nil
}

// orderedKey maps a value that is not NaN to a key whose unsigned order is
// the values' order, -0 coming right before +0.
func orderedKey(v float64) uint64 {
	b := math.Float64bits(v)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// fromOrderedKey inverts orderedKey.
func fromOrderedKey(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// placedKey is a threshold's orderedKey and the place of its split among
// all the forest's nodes.
type placedKey struct {
	key uint64
	at  uint32
}

// pickPivots takes a feature's pivots among its thresholds, sorted by key:
// all the distinct ones if there are at most maxPivots, else maxPivots
// evenly spaced among them. It sets codes[k.at] to each split's code and
// returns the pivots, in keys' memory.
func pickPivots(keys []placedKey, codes []uint16) []float64 {
	distinct := 0
	for j, k := range keys {
		if j == 0 || fromOrderedKey(k.key) != fromOrderedKey(keys[j-1].key) {
			distinct++
		}
	}
	m := min(distinct, maxPivots)
	// Distinct value d is pivot k when k*distinct/m == d, the k-th of m
	// spaced evenly. A threshold that is distinct value d has code
	// 2*#{pivots < d} + [d is a pivot].
	pivotAt := func(k int) int { return int(int64(k) * int64(distinct) / int64(m)) }
	// The distinct values overwrite the keys' first words as they are
	// read.
	vals := keys
	d, k := -1, 0 // the current distinct value, #{pivots below it}
	var code uint16
	for _, key := range keys {
		if v := fromOrderedKey(key.key); d < 0 || v != math.Float64frombits(vals[d].key) {
			d++
			vals[d].key = math.Float64bits(v) // d <= j
			for k < m && pivotAt(k) < d {
				k++
			}
			code = uint16(2 * k)
			if k < m && pivotAt(k) == d {
				code++
			}
		}
		codes[key.at] = code
	}
	piv := make([]float64, m)
	for i := range piv {
		piv[i] = math.Float64frombits(vals[pivotAt(i)].key)
	}
	return piv
}

// radixSort sorts keys by least significant byte first, skipping the
// bytes all keys share, with buf (grown if short) as the other buffer. It
// returns the sorted keys, in keys' or buf's memory, and the other one as
// the buffer for the next sort.
func radixSort(keys, buf []placedKey) (sorted, spare []placedKey) {
	n := len(keys)
	if cap(buf) < n {
		buf = make([]placedKey, n)
	}
	tmp := buf[:n]
	var count [8][256]int32
	for _, k := range keys {
		for b := range 8 {
			count[b][byte(k.key>>(8*b))]++
		}
	}
	for b := range 8 {
		c := &count[b]
		if n == 0 || int(c[byte(keys[0].key>>(8*b))]) == n {
			continue
		}
		var sum int32
		for i, v := range c {
			c[i] = sum
			sum += v
		}
		for _, k := range keys {
			d := byte(k.key >> (8 * b))
			tmp[c[d]] = k
			c[d]++
		}
		keys, tmp = tmp, keys
	}
	return keys, tmp
}

// buildKeys lays out feature f's pivots as a static 8-ary search tree: level
// 0 has 8 keys, level l has 8^(l+1), and the last level is the pivots
// padded with +Inf. Each key above the last is the largest of the 8 below
// it, so that a search counts, level by level, the keys of one line below
// the value sought.
func (cl *codeLayout) buildKeys(f int, pivots []float64) {
	k := cl.keys[f*cl.keyLen : (f+1)*cl.keyLen]
	last := len(cl.keyLevels) - 1
	n := copy(k[cl.keyLevels[last]:], pivots)
	for i := cl.keyLevels[last] + n; i < len(k); i++ {
		k[i] = math.Inf(1)
	}
	for l := last - 1; l >= 0; l-- {
		below := k[cl.keyLevels[l+1]:]
		for j := range 8 << (3 * l) {
			k[cl.keyLevels[l]+j] = below[8*j+7]
		}
	}
}

// layTree lays out the tree rooted at nodes[base] breadth-first by blocks
// in blocks [first, end), its leaf values in leaves [leaf, leafEnd), and
// the thresholds that need exact decisions in side, sideBase counting from
// its start; it returns how many of those there are. codes[i] is the code
// of split nodes[i].
func (cl *codeLayout) layTree(cb *codeBuilder, nodes []node, base int32, codes []uint16, first, end, leaf, leafEnd int, side []float64) (int, error) {
	cb.queue = append(cb.queue[:0], base)
	next, nside, leafStart := first+1, 0, leaf
	for qi := 0; qi < len(cb.queue); qi++ {
		b := &cl.blocks[first+qi]
		b.codes = padCodes
		// The block's nodes depth-first, each with its slot; a node at
		// an exit's slot, 15 to 30, ends the block's part of its path.
		type at struct {
			slot int
			node int32
		}
		var stack [16]at
		stack[0] = at{0, cb.queue[qi]}
		var exits [16]int32
		var exact [15]float64
		for top := 1; top > 0; {
			top--
			s, i := stack[top].slot, stack[top].node
			nd := nodes[i]
			if s >= 15 || nd.isLeaf(i) {
				for s < 15 { // a leaf above the bottom: its value at the leftmost exit
					s = 2*s + 1
				}
				e := s - 15
				exits[e] = i
				if nd.isLeaf(i) {
					b.leafMask |= 1 << e
				} else {
					b.childMask |= 1 << e
				}
				continue
			}
			c := codes[i]
			b.codes[s], b.feat[s] = c^codeBias, uint8(nd.feat)
			// A threshold that is not a pivot, or is one only as
			// -0 equals +0, is decided exactly on a tie.
			if c&1 == 0 || nd.thr == 0 && math.Float64bits(cl.pivots(int(nd.feat))[c>>1]) != math.Float64bits(nd.thr) {
				b.exactMask |= 1 << s
				exact[s] = nd.thr
			}
			stack[top], stack[top+1] = at{2*s + 2, nd.left + 1}, at{2*s + 1, nd.left}
			top += 2
		}
		b.sideBase = uint32(nside)
		for m := b.exactMask; m != 0; m &= m - 1 {
			if nside == len(side) {
				return 0, fmt.Errorf("more splits than counted")
			}
			side[nside] = exact[bits.TrailingZeros16(m)]
			nside++
		}
		b.childBase, b.leafBase = uint32(next), uint32(leaf)
		for m := b.leafMask; m != 0; m &= m - 1 {
			if leaf == leafEnd {
				return 0, fmt.Errorf("more leaves than counted")
			}
			cl.leaves[leaf] = nodes[exits[bits.TrailingZeros16(m)]].thr
			leaf++
		}
		for m := b.childMask; m != 0; m &= m - 1 {
			if next == end {
				return 0, fmt.Errorf("more blocks than counted")
			}
			cb.queue = append(cb.queue, exits[bits.TrailingZeros16(m)])
			next++
		}
	}
	if next != end || leaf != leafEnd {
		return 0, fmt.Errorf("%d blocks and %d leaves, counted %d and %d", next-first, leaf-leafStart, end-first, leafEnd-leafStart)
	}
	return nside, nil
}

// padCodes are a block's codes before its splits are placed.
var padCodes = func() (c [15]uint16) {
	for s := range c {
		c[s] = padCode ^ codeBias
	}
	return c
}()

// codeTree rebuilds tree t's nodes as blockTree does: root first, each
// pair of children side by side, breadth-first, leaves testing feature p.
func (cl *codeLayout) codeTree(t, p int, sc *treeScratch) []node {
	nodes := append(sc.nodes[:0], node{})
	if cl.roots[t] == noBlock {
		nodes[0] = node{thr: cl.rootLeaf[t], feat: int32(p)}
		sc.nodes = nodes
		return nodes
	}
	// The queue holds block<<4 | slot for a split, and leafRef | its
	// index in leaves for a leaf.
	const leafRef = 1 << 63
	queue := append(sc.refs[:0], uint64(cl.roots[t])<<4)
	// child returns the reference of the node at slot s of block bi, s > 0.
	child := func(bi uint32, s int) uint64 {
		b := &cl.blocks[bi]
		if s < 15 && b.codes[s] != padCode^codeBias {
			return uint64(bi)<<4 | uint64(s)
		}
		for s < 15 { // a padded leaf: its value is at the leftmost exit
			s = 2*s + 1
		}
		below := uint16(1)<<(s-15) - 1
		if b.childMask>>(s-15)&1 != 0 {
			return uint64(b.childBase+uint32(bits.OnesCount16(b.childMask&below))) << 4
		}
		return leafRef | uint64(b.leafBase+uint32(bits.OnesCount16(b.leafMask&below)))
	}
	for i := 0; i < len(queue); i++ {
		rf := queue[i]
		if rf&leafRef != 0 {
			nodes[i] = node{thr: cl.leaves[uint32(rf)], feat: int32(p), left: int32(i)}
			continue
		}
		bi, s := uint32(rf>>4), int(rf&15)
		b := &cl.blocks[bi]
		l := int32(len(nodes))
		nodes[i] = node{thr: cl.threshold(b, s), feat: int32(b.feat[s]), left: l}
		nodes = append(nodes, node{}, node{})
		queue = append(queue, child(bi, 2*s+1), child(bi, 2*s+2))
	}
	sc.nodes, sc.refs = nodes, queue
	return nodes
}

// convertGo writes the biased codes of x to xc: the portable version of
// convert, and the reference it is tested against.
func (cl *codeLayout) convertGo(x []float64, xc []uint16) {
	for f, v := range x {
		xc[f] = cl.code(f, v) ^ codeBias
	}
}

// walkCodes is predictCodes: with the assembly if fast, else with the
// portable convertGo and descendCodesGo.
func (cl *codeLayout) walkCodes(x []float64, fast bool) float64 {
	var xc [codeFeatures]uint16
	var planes [32]uint8
	if fast {
		cl.convert(x, xc[:len(x)])
		for f, c := range xc[:len(x)] {
			planes[f], planes[16+f] = uint8(c), uint8(c>>8)
		}
	} else {
		cl.convertGo(x, xc[:len(x)])
	}
	var leaf [chunkTrees]uint32 // each tree's leaf index
	var cur [chunkTrees]uint32  // each tree's current block
	var tid [chunkTrees]int32
	sum := 0.0
	for base := 0; base < len(cl.roots); base += chunkTrees {
		chunk := cl.roots[base:min(len(cl.roots), base+chunkTrees)]
		active := 0
		for t, b := range chunk {
			if b != noBlock {
				cur[active], tid[active] = b, int32(t)
				active++
			}
		}
		for active > 0 {
			if fast {
				active = descendCodes(cl, x, xc[:len(x)], &planes, cur[:active], tid[:active], leaf[:len(chunk)])
			} else {
				active = descendCodesGo(cl, x, xc[:len(x)], cur[:active], tid[:active], leaf[:len(chunk)])
			}
		}
		for t, b := range chunk {
			if b == noBlock {
				sum += cl.rootLeaf[base+t]
			} else {
				sum += cl.leaves[leaf[t]]
			}
		}
	}
	return sum / float64(len(cl.roots))
}

// descendCodesGo moves every tree in cur down by one block: cur[k] is the
// block tree tid[k] is in. A tree that reaches a leaf has the leaf's index
// stored in leaf[tid[k]] and leaves cur, the last tree taking its place.
// It returns how many trees still walk. This is the portable version of
// descendCodes, and the reference the assembly is tested against.
func descendCodesGo(cl *codeLayout, x []float64, xc []uint16, cur []uint32, tid []int32, leaf []uint32) int {
	// Touch every tree's block first, so that their misses overlap.
	var touch uint16
	for _, bi := range cur {
		touch ^= cl.blocks[bi].codes[0]
	}
	runtime.KeepAlive(touch)
	n := len(cur)
	for k := 0; k < n; {
		b := &cl.blocks[cur[k]]
		s := 0
		for s < 15 {
			c, t := int16(xc[b.feat[s]]), int16(b.codes[s])
			right := c > t
			if c == t && b.exactMask>>s&1 != 0 {
				right = x[b.feat[s]] > cl.side[b.sideBase+uint32(bits.OnesCount16(b.exactMask&(1<<s-1)))]
			}
			s = 2*s + 1 + b2i(right)
		}
		e := s - 15
		below := uint16(1)<<e - 1
		if b.childMask>>e&1 != 0 {
			cur[k] = b.childBase + uint32(bits.OnesCount16(b.childMask&below))
			k++
			continue
		}
		leaf[tid[k]] = b.leafBase + uint32(bits.OnesCount16(b.leafMask&below))
		n--
		cur[k], tid[k] = cur[n], tid[n]
	}
	return n
}
