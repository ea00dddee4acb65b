package forest

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// block holds up to three levels of one tree in 128 bytes: a complete
// binary subtree of seven splits stored breadth-first (split s has children
// 2s+1 and 2s+2), and the eight exits below its bottom level.
//
// Prediction is bound by memory, not arithmetic: a 100-tree forest grown on
// 50,000 rows takes about 135 MB, and a row visits some 1,900 nodes. With a
// node per cache line a row waits for a line per level; a 128-byte block
// costs about as much as one line (the processor fetches an aligned pair
// together, and Go allocates large arrays page-aligned), so a row waits
// once for every three levels. Leaf values sit in the exits themselves, so
// reaching a leaf costs no further load.
type block struct {
	thr  [7]float64 // rows with x[feat] <= thr go left
	feat [7]uint8
	_    uint8
	exit [8]uint64 // a leaf value's bits, or childTag | index of a block
}

// childTag marks an exit that leads to another block: a NaN bit pattern,
// which no leaf value is, with the block's index in the low 32 bits.
const childTag = 0xFFF8_0000_0000_0000

func isChild(exit uint64) bool { return exit&childTag == childTag }

// blockFeatures is the most features a block can index. A model with more
// keeps its trees as plain node arrays.
const blockFeatures = 256

// maxBlocks keeps every block index within an exit's 32 bits.
const maxBlocks = math.MaxUint32

// A leaf above a block's bottom level is padded down to it with splits
// whose threshold is NaN. A row goes right only if x > threshold, which is
// false for NaN, so every row goes left, to the exit that holds the leaf's
// value. Real thresholds are never NaN.

// exitOf returns the exit x reaches in b.
func (b *block) exitOf(x []float64) uint64 {
	s := 0
	for range 3 {
		s = 2*s + 1 + b2i(x[b.feat[s&7]] > b.thr[s&7])
	}
	return b.exit[(s-7)&7]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// layoutBlocks lays out nt trees in one array of blocks on up to workers
// goroutines and returns it with each tree's root exit and number of
// nodes. tree(t) gives tree t as nodes[base:base+n], root first and
// parents before children. The trees' blocks follow one another in tree
// order; a first pass counts them, so the array is allocated once and each
// tree fills its own part of it.
func layoutBlocks(nt, workers int, tree func(t int) (nodes []node, base int32, n int)) ([]block, []uint64, []int32, error) {
	builders := make([]blockBuilder, max(1, min(workers, nt)))
	offset := make([]int, nt+1)
	forEachTree(nt, len(builders), func(w, t int) {
		nodes, base, n := tree(t)
		offset[t+1] = builders[w].countBlocks(nodes, base, n)
	})
	for t := range nt {
		offset[t+1] += offset[t]
	}
	if offset[nt] > maxBlocks {
		return nil, nil, nil, fmt.Errorf("%d blocks, at most %d supported", offset[nt], maxBlocks)
	}
	blocks := make([]block, offset[nt])
	exits := make([]uint64, nt)
	sizes := make([]int32, nt)
	errs := make([]error, nt)
	forEachTree(nt, len(builders), func(w, t int) {
		nodes, base, n := tree(t)
		bb := &builders[w]
		bb.first, bb.blocks = offset[t], blocks[offset[t]:offset[t]:offset[t+1]]
		bb.placed = 0
		exits[t], errs[t] = bb.add(nodes, base, n)
		sizes[t] = int32(bb.placed)
	})
	for t := range nt {
		if errs[t] != nil {
			return nil, nil, nil, fmt.Errorf("tree %d: %w", t, errs[t])
		}
	}
	return blocks, exits, sizes, nil
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

// blockBuilder lays trees out in blocks, one tree at a time, into a part
// of the forest's block array whose capacity countBlocks measured.
type blockBuilder struct {
	blocks  []block // this tree's part; blocks[i] has index first+i
	first   int
	placed  int // nodes placed in this tree
	pending []pendingExit
	seen    []bool
	level   []uint8
}

// pendingExit is a node still to be placed and the exit that will lead to
// it; block is -1 for a tree's root.
type pendingExit struct {
	node  int32
	block int32
	exit  int
}

// countBlocks returns how many blocks add will use for the tree whose nodes
// are nodes[base:base+n], one per split three levels below another (or at
// the root), so that the blocks of a whole forest are allocated at once.
// Parents must come before their children, as they do in grown and in
// decoded trees.
func (bb *blockBuilder) countBlocks(nodes []node, base int32, n int) int {
	if cap(bb.level) < n {
		bb.level = make([]uint8, n)
	}
	level := bb.level[:n] // depth modulo 3
	clear(level)
	count := 0
	for i := range n {
		at := base + int32(i)
		nd := nodes[at]
		if nd.isLeaf(at) {
			continue
		}
		if level[i] == 0 {
			count++
		}
		l := nd.left - base
		level[l] = (level[i] + 1) % 3
		level[l+1] = level[l]
	}
	return count
}

// add lays out the tree whose nodes are nodes[base:base+n], root first, and
// returns the exit that leads to its root. Blocks are placed depth-first,
// so the blocks of a small subtree sit together. It fails if a node can be
// reached twice, which only a corrupted encoding can describe.
func (bb *blockBuilder) add(nodes []node, base int32, n int) (uint64, error) {
	if cap(bb.seen) < n {
		bb.seen = make([]bool, n)
	}
	seen := bb.seen[:n]
	clear(seen)
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
			if len(bb.blocks) == cap(bb.blocks) {
				// Only a graph that is not a tree, from a corrupted
				// encoding, needs more blocks than countBlocks counted.
				return 0, fmt.Errorf("node %d does not fit the tree's shape", pe.node-base)
			}
			b := len(bb.blocks)
			bb.blocks = bb.blocks[:b+1]
			var below [8]pendingExit
			nb := 0
			var fill func(s int, i int32) error
			fill = func(s int, i int32) error {
				if seen[i-base] {
					return fmt.Errorf("node %d is reached twice", i-base)
				}
				seen[i-base] = true
				bb.placed++
				nd, blk := nodes[i], &bb.blocks[b]
				if nd.isLeaf(i) {
					for ; s < 7; s = 2*s + 1 {
						blk.thr[s] = math.NaN()
					}
					blk.exit[s-7] = math.Float64bits(nd.thr)
					return nil
				}
				blk.thr[s], blk.feat[s] = nd.thr, uint8(nd.feat)
				if s >= 3 {
					below[nb] = pendingExit{node: nd.left, block: int32(b), exit: 2*s + 1 - 7}
					below[nb+1] = pendingExit{node: nd.left + 1, block: int32(b), exit: 2*s + 2 - 7}
					nb += 2
					return nil
				}
				if err := fill(2*s+1, nd.left); err != nil {
					return err
				}
				return fill(2*s+2, nd.left+1)
			}
			if err := fill(0, pe.node); err != nil {
				return 0, err
			}
			// Pushed in reverse so that the leftmost is placed next.
			for k := nb - 1; k >= 0; k-- {
				bb.pending = append(bb.pending, below[k])
			}
			exit = childTag | uint64(bb.first+b)
		}
		if pe.block < 0 {
			root = exit
		} else {
			bb.blocks[pe.block].exit[pe.exit] = exit
		}
	}
	return root, nil
}

// treeScratch holds blockTree's buffers, so that encoding a forest reuses
// them from tree to tree.
type treeScratch struct {
	nodes []node
	queue []blockRef
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
			return blockRef{block: uint32(e)}
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
