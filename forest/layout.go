package forest

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// block holds up to three levels of one tree in 128 bytes: a complete
// binary subtree of seven splits stored breadth-first (split s has children
// 2s+1 and 2s+2), and the eight exits below its bottom level. It is the
// layout of models of up to blockFeatures features that the code layout
// (codeBlock, four levels in one line) does not take: more than 16
// features, or a processor without SSSE3, POPCNT and BMI2, or another
// architecture.
//
// Prediction is bound by memory, not arithmetic: a 100-tree forest grown on
// 50,000 rows visits some 1,900 nodes a row. With a node per cache line a
// row waits for a line per level; a 128-byte block's second line sits next
// to its first and adds little (random blocks read here took 18.7 ns with
// both lines against 13.7 ns with one), so a row waits about once for
// every three levels. Leaf values sit in the exits themselves, so reaching
// a leaf costs no further load.
//
// Walking one row again and again, its 650 blocks in cache, takes about
// half as long as a new row; that arithmetic overlaps the memory waits of
// new rows, so making it cheaper did not make them faster. Other formats
// measured against this one, in one process on the 50,000-row benchmark
// forest (median time ratios, new rows / one cached row), were not kept:
//   - one-line blocks with float32 thresholds and leaf values in an array
//     of their own: 0.92 to 1.09 / 1.01; with AVX2 permutes in place of
//     the seven loads of the row: 0.99 to 1.03 / 0.76 to 0.91;
//   - four-level blocks of two lines, not shared (float32 thresholds,
//     AVX2, leaf values apart): 0.91 to 0.97 / 0.73 to 0.85. Exact
//     decisions would then need a float64 fallback for rows equal to a
//     rounded threshold, and models of more than 16 features a second
//     walk;
//   - four-level blocks at full precision, five lines: 2.7 to 4.4 / 1.7
//     to 1.9.
//
// The walk is at the floor of its memory pattern: a loop in C that walks
// 100 chains of 5 to 9 random two-line blocks in rounds, as Predict does,
// prefetching each next block as soon as it is known but doing no
// arithmetic at all, took 9.6 to 12.2 µs a row here, against Predict's
// 10.4 to 11.3 µs on the same days. In that loop, prefetching a fixed
// distance ahead instead was slower (13.8 to 17.4 µs), and walking 16 to
// 48 trees at a time, refilled as trees end, rather than all 100, changed
// little (-10% to +4%). A row takes 7 to 14 rounds, mostly 9 or 10, with
// 100 trees walking in rounds 0 to 3, 77 in round 5, 46 in 6, 20 in 7 and
// fewer than 8 after. One-line blocks made the loop about 18% faster, and
// chains of 4 to 6 one-line blocks 30 to 55%, but four levels fit one line
// only with thresholds of 16 bits, and ranks among a feature's thresholds
// do not fit in 16: the benchmark forest has 278,815 to 314,352 distinct
// thresholds per feature, as bootstrap samples put midpoints between
// values that are not neighbours in the full data. That was the lever the
// code layout pulls: 16-bit codes among at most 32,767 pivots per
// feature, exact only on the pivots, with the rare ties decided by the
// exact threshold (see codeBlock).
//
// Subtrees only one or two splits deep, common near the leaves, share
// blocks: one may start at slot 1 or 2 (two levels) or at slots 3 to 6 (one
// level), so that a block holds up to four of them. An exit that leads into
// a block names the slot to start from.
type block struct {
	thr  [7]float64 // rows with x[feat] <= thr go left
	feat [7]uint8
	_    uint8
	exit [8]uint64 // a leaf value's bits, or a child: see childTag
}

// childTag marks an exit that leads to another block: a NaN bit pattern,
// which no leaf value is, with the slot to start from in bits 32 to 34 and
// the block's index in the low 32 bits.
const childTag = 0xFFF8_0000_0000_0000

func isChild(exit uint64) bool { return exit&childTag == childTag }

func childExit(block int, slot int) uint64 {
	return childTag | uint64(slot)<<32 | uint64(uint32(block))
}

// childBlock and childSlot unpack an exit that isChild.
func childBlock(exit uint64) uint32 { return uint32(exit) }
func childSlot(exit uint64) uint    { return uint(exit>>32) & 7 }

// blockFeatures is the most features a block can index. A model with more
// keeps its trees as plain node arrays.
const blockFeatures = 256

// maxBlocks keeps every block index within an exit's 32 bits. It is typed
// so that the comparison with a count compiles where int has 32 bits.
const maxBlocks uint64 = math.MaxUint32

// A leaf above a block's bottom level is padded down to it with splits
// whose threshold is NaN. A row goes right only if x > threshold, which is
// false for NaN, so every row goes left, to the exit that holds the leaf's
// value. Real thresholds are never NaN.

// exitOf returns the exit x reaches in b starting from slot s. It always
// takes three steps, the ones past the bottom level doing nothing, so that
// where a subtree starts costs no mispredicted branch.
func (b *block) exitOf(x []float64, s uint) uint64 {
	for range 3 {
		i := min(s, 6)
		next := 2*s + 1 + uint(b2i(x[b.feat[i]] > b.thr[i]))
		if s < 7 {
			s = next
		}
	}
	return b.exit[(s-7)&7]
}

// touchBlocks loads both cache lines of the block each exit leads to, in
// a loop tight enough that all those misses are in flight at once; the
// walk that follows then finds the blocks in cache.
func touchBlocks(blocks []block, exits []uint64) {
	var touch uint64
	for _, e := range exits {
		b := &blocks[childBlock(e)]
		touch ^= b.exit[0] ^ math.Float64bits(b.thr[0])
	}
	// The loads matter only for their side effect; KeepAlive stops the
	// compiler from dropping them.
	runtime.KeepAlive(touch)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// blockOwner bounds the life of an array of blocks that newBlocks mapped
// outside the Go heap: the array is unmapped once its owner is
// unreachable.
type blockOwner struct{ _ int }

// layoutBlocks lays out nt trees in one array of blocks on up to workers
// goroutines and returns it with its owner (see newBlocks), each tree's
// root exit and number of nodes. tree(t) gives tree t as
// nodes[base:base+n], root first and parents before children. The trees'
// blocks follow one another in tree order; a first pass counts them, so
// the array is allocated once and each tree fills its own part of it.
func layoutBlocks(nt, workers int, tree func(t int) (nodes []node, base int32, n int)) ([]block, *blockOwner, []uint64, []int32, error) {
	builders := make([]blockBuilder, max(1, min(workers, nt)))
	offset := make([]int, nt+1)
	errs := make([]error, nt)
	firstErr := func() error {
		for t, err := range errs {
			if err != nil {
				return fmt.Errorf("tree %d: %w", t, err)
			}
		}
		return nil
	}
	forEachTree(nt, len(builders), func(w, t int) {
		nodes, base, n := tree(t)
		offset[t+1] = builders[w].countBlocks(nodes, base, n)
	})
	for t := range nt {
		offset[t+1] += offset[t]
	}
	if uint64(offset[nt]) > maxBlocks {
		return nil, nil, nil, nil, fmt.Errorf("%d blocks, at most %d supported", offset[nt], maxBlocks)
	}
	blocks, owner := newBlocks(offset[nt])
	// A new array's pages are mapped on first write. Writing one byte of
	// each page in order first, and only then filling the blocks in the
	// builders' order, measured several times faster here (about 50 ms
	// against 300 ms for 88 MB on small pages). Memory the machine has not
	// used before can cost far more to map (140 to 300 ms for 88 MB of
	// huge pages here, in a virtual machine), so every worker maps a part.
	const chunk = 2 << 20 / int(unsafe.Sizeof(block{}))
	forEachTree((len(blocks)+chunk-1)/chunk, len(builders), func(_, c int) {
		for i := c * chunk; i < min(len(blocks), (c+1)*chunk); i += pageBlocks {
			blocks[i].feat[0] = 0
		}
	})
	exits := make([]uint64, nt)
	sizes := make([]int32, nt)
	forEachTree(nt, len(builders), func(w, t int) {
		nodes, base, n := tree(t)
		bb := &builders[w]
		bb.first, bb.blocks = offset[t], blocks[offset[t]:offset[t+1]]
		exits[t], errs[t] = bb.add(nodes, base, n)
		sizes[t] = int32(bb.placed)
	})
	if err := firstErr(); err != nil {
		return nil, nil, nil, nil, err
	}
	return blocks, owner, exits, sizes, nil
}

// forEachTree calls fn(w, t) for every t in [0, n) on up to workers
// goroutines, w being the goroutine's number, and waits for them.
func forEachTree(n, workers int, fn func(w, t int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := int(next.Add(1) - 1); t < n; t = int(next.Add(1) - 1) {
				fn(w, t)
			}
		}()
	}
	wg.Wait()
}

// blockBuilder lays trees out in blocks, one tree at a time, each into the
// part of the forest's array that countBlocks measured.
type blockBuilder struct {
	blocks []block // this tree's part; blocks[i] has index first+i
	first  int
	used   int // blocks taken so far in this tree
	placed int // nodes placed so far in this tree
	// halves and quarters are free places in blocks already taken, for
	// subtrees two splits and one split deep.
	halves, quarters []place
	pending          []pendingExit
	seen             []bool
	height, level    []uint8
	// cluster's buffers
	moved        []block
	to           []int32
	queue, roots []int32
}

// place is a slot of one of the tree's blocks.
type place struct {
	block int32
	slot  int8
}

// pendingExit is a node still to be placed and the exit that will lead to
// it; block is -1 for a tree's root.
type pendingExit struct {
	node  int32
	block int32
	exit  int
}

// add lays out the tree whose nodes are nodes[base:base+n], root first, and
// returns the exit that leads to its root. Blocks are taken depth-first,
// then reordered page by page (see cluster). It fails if a node can be
// reached twice, which only a corrupted encoding can describe.
func (bb *blockBuilder) add(nodes []node, base int32, n int) (uint64, error) {
	if cap(bb.seen) < n {
		bb.seen = make([]bool, n)
	}
	seen := bb.seen[:n]
	clear(seen)
	height := bb.heights(nodes, base, n)
	bb.used, bb.placed = 0, 0
	bb.halves, bb.quarters = bb.halves[:0], bb.quarters[:0]
	var root uint64
	bb.pending = append(bb.pending[:0], pendingExit{node: base, block: -1})
	for len(bb.pending) > 0 {
		pe := bb.pending[len(bb.pending)-1]
		bb.pending = bb.pending[:len(bb.pending)-1]
		var exit uint64
		if nd := nodes[pe.node]; nd.isLeaf(pe.node) {
			if seen[pe.node-base] {
				return 0, fmt.Errorf("node %d is reached twice", pe.node-base)
			}
			seen[pe.node-base] = true
			bb.placed++
			exit = math.Float64bits(nd.thr)
		} else {
			at, err := bb.take(height[pe.node-base])
			if err != nil {
				return 0, err
			}
			blk := &bb.blocks[at.block]
			var below [8]pendingExit
			nb := 0
			var fill func(s int, i int32) error
			fill = func(s int, i int32) error {
				if seen[i-base] {
					return fmt.Errorf("node %d is reached twice", i-base)
				}
				seen[i-base] = true
				bb.placed++
				nd := nodes[i]
				if nd.isLeaf(i) {
					for ; s < 7; s = 2*s + 1 {
						blk.thr[s] = math.NaN()
					}
					blk.exit[s-7] = math.Float64bits(nd.thr)
					return nil
				}
				blk.thr[s], blk.feat[s] = nd.thr, uint8(nd.feat)
				if s >= 3 {
					below[nb] = pendingExit{node: nd.left, block: at.block, exit: 2*s + 1 - 7}
					below[nb+1] = pendingExit{node: nd.left + 1, block: at.block, exit: 2*s + 2 - 7}
					nb += 2
					return nil
				}
				if err := fill(2*s+1, nd.left); err != nil {
					return err
				}
				return fill(2*s+2, nd.left+1)
			}
			if err := fill(int(at.slot), pe.node); err != nil {
				return 0, err
			}
			// Pushed in reverse so that the leftmost is placed next.
			for k := nb - 1; k >= 0; k-- {
				bb.pending = append(bb.pending, below[k])
			}
			exit = childExit(bb.first+int(at.block), int(at.slot))
		}
		if pe.block < 0 {
			root = exit
		} else {
			bb.blocks[pe.block].exit[pe.exit] = exit
		}
	}
	return bb.cluster(root), nil
}

// pageBlocks is how many blocks fill a 4 KiB page. The array of blocks
// starts on a page: Go allocates large arrays page-aligned.
const pageBlocks = 4096 / int(unsafe.Sizeof(block{}))

// cluster reorders the tree's blocks, just laid out depth-first, so that a
// row's walk touches fewer pages: each page is filled breadth-first from
// one block down, the blocks that no longer fit starting pages of their
// own. A walk then meets a new page every two or three blocks instead of
// nearly every block, which matters on a forest far larger than the
// processor's TLB reaches: on a 100-tree forest of 50,000 rows a row
// touches about 300 pages instead of 435, and Predict measured 7% faster.
// It returns the tree's root exit in the new order.
func (bb *blockBuilder) cluster(root uint64) uint64 {
	n := bb.used
	bb.moved = append(bb.moved[:0], bb.blocks[:n]...)
	if cap(bb.to) < n {
		bb.to = make([]int32, n)
	}
	to := bb.to[:n] // where each block goes, or -1
	for i := range to {
		to[i] = -1
	}
	local := func(e uint64) int32 { return int32(int(childBlock(e)) - bb.first) }
	next := 0
	bb.roots = bb.roots[:0]
	if isChild(root) {
		bb.roots = append(bb.roots, local(root))
	}
	for head := 0; head < len(bb.roots); head++ {
		cr := bb.roots[head]
		if to[cr] >= 0 {
			continue
		}
		free := pageBlocks - (bb.first+next)%pageBlocks
		bb.queue = append(bb.queue[:0], cr)
		for i := 0; i < len(bb.queue); i++ {
			b := bb.queue[i]
			if to[b] >= 0 {
				continue
			}
			if free == 0 {
				bb.roots = append(bb.roots, b)
				continue
			}
			to[b] = int32(next)
			next++
			free--
			for _, e := range bb.moved[b].exit {
				if isChild(e) {
					bb.queue = append(bb.queue, local(e))
				}
			}
		}
	}
	move := func(e uint64) uint64 {
		if !isChild(e) {
			return e
		}
		return childExit(bb.first+int(to[local(e)]), int(childSlot(e)))
	}
	for i := range bb.moved {
		b := &bb.moved[i]
		for k, e := range b.exit {
			b.exit[k] = move(e)
		}
		bb.blocks[to[i]] = *b
	}
	return move(root)
}

// heights returns the depth in splits of every node's subtree, up to the
// three a block holds. Children come after their parents, so one backward
// pass suffices.
func (bb *blockBuilder) heights(nodes []node, base int32, n int) []uint8 {
	if cap(bb.height) < n {
		bb.height = make([]uint8, n)
	}
	height := bb.height[:n]
	for i := n - 1; i >= 0; i-- {
		at := base + int32(i)
		height[i] = 0
		if nd := nodes[at]; !nd.isLeaf(at) {
			l := nd.left - base
			height[i] = min(3, 1+max(height[l], height[l+1]))
		}
	}
	return height
}

// countBlocks returns how many blocks add takes for the same tree, without
// laying it out. The splits that start a new place are the root and those
// a multiple of three levels below it. A subtree three splits deep takes a
// block, one two deep half a block, and one a single split deep a quarter,
// two quarters making a half and two halves a block. Free halves and
// quarters are always used before new ones are made, so the count does not
// depend on the order add takes them in.
func (bb *blockBuilder) countBlocks(nodes []node, base int32, n int) int {
	height := bb.heights(nodes, base, n)
	if cap(bb.level) < n {
		bb.level = make([]uint8, n)
	}
	level := bb.level[:n] // depth modulo 3
	clear(level)
	var roots [4]int // by depth
	for i := range n {
		at := base + int32(i)
		nd := nodes[at]
		if nd.isLeaf(at) {
			continue
		}
		if level[i] == 0 {
			roots[height[i]]++
		}
		l := nd.left - base
		level[l] = (level[i] + 1) % 3
		level[l+1] = level[l]
	}
	halves := roots[2] + (roots[1]+1)/2
	return roots[3] + (halves+1)/2
}

// take returns where a subtree of the given depth in splits starts: a new
// block for three, else a free half or quarter of a block already taken,
// splitting a new block or half when none is free.
func (bb *blockBuilder) take(depth uint8) (place, error) {
	pop := func(free *[]place) (place, bool) {
		if len(*free) == 0 {
			return place{}, false
		}
		p := (*free)[len(*free)-1]
		*free = (*free)[:len(*free)-1]
		return p, true
	}
	half := func() (place, error) {
		if p, ok := pop(&bb.halves); ok {
			return p, nil
		}
		b, err := bb.newBlock()
		bb.halves = append(bb.halves, place{b, 2})
		return place{b, 1}, err
	}
	switch depth {
	case 3:
		b, err := bb.newBlock()
		return place{b, 0}, err
	case 2:
		return half()
	}
	if p, ok := pop(&bb.quarters); ok {
		return p, nil
	}
	h, err := half()
	bb.quarters = append(bb.quarters, place{h.block, 2*h.slot + 2})
	return place{h.block, 2*h.slot + 1}, err
}

func (bb *blockBuilder) newBlock() (int32, error) {
	if bb.used == len(bb.blocks) {
		// Only a graph that is not a tree, from a corrupted encoding,
		// could lay out differently from how it was counted.
		return 0, fmt.Errorf("the tree needs more blocks than counted")
	}
	if bb.used >= math.MaxInt32 {
		return 0, fmt.Errorf("more than %d blocks in one tree", math.MaxInt32)
	}
	bb.used++
	return int32(bb.used - 1), nil
}

// treeScratch holds blockTree's buffers, so that encoding a forest reuses
// them from tree to tree.
type treeScratch struct {
	nodes []node
	queue []blockRef
	refs  []uint64 // codeTree's queue
}

// blockRef is a node in the block layout: the split at slot of block, or
// (slot -1) a leaf of value val.
type blockRef struct {
	block uint32
	slot  int
	val   float64
}

// blockTree rebuilds the nodes of the tree whose root exit is root, root
// first and each pair of children side by side, in breadth-first order,
// with leaves testing feature p as training makes them. The result is
// valid until the next call with the same scratch.
func blockTree(blocks []block, root uint64, p int, sc *treeScratch) []node {
	fromExit := func(e uint64) blockRef {
		if isChild(e) {
			return blockRef{block: childBlock(e), slot: int(childSlot(e))}
		}
		return blockRef{slot: -1, val: math.Float64frombits(e)}
	}
	child := func(b uint32, s int) blockRef {
		blk := &blocks[b]
		if s < 7 && !math.IsNaN(blk.thr[s]) {
			return blockRef{block: b, slot: s}
		}
		for s < 7 { // a padded leaf: its value is at the leftmost exit
			s = 2*s + 1
		}
		return fromExit(blk.exit[s-7])
	}
	nodes := append(sc.nodes[:0], node{})
	queue := append(sc.queue[:0], fromExit(root))
	for i := 0; i < len(queue); i++ {
		rf := queue[i]
		if rf.slot < 0 {
			nodes[i] = node{thr: rf.val, feat: int32(p), left: int32(i)}
			continue
		}
		blk := &blocks[rf.block]
		l := int32(len(nodes))
		nodes[i] = node{thr: blk.thr[rf.slot], feat: int32(blk.feat[rf.slot]), left: l}
		nodes = append(nodes, node{}, node{})
		queue = append(queue, child(rf.block, 2*rf.slot+1), child(rf.block, 2*rf.slot+2))
	}
	sc.nodes, sc.queue = nodes, queue
	return nodes
}
