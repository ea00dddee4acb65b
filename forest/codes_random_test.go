package forest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// randomRawTree builds a random valid tree in rawNode form, in BFS or DFS order.
func randomRawTree(rng *rand.Rand, p int, pool [][]float64, maxNodes int, dfs bool) []rawNode {
	nodes := []rawNode{{}}
	type item struct {
		i, depth int
	}
	work := []item{{0, 0}}
	for len(work) > 0 {
		var it item
		if dfs {
			it = work[len(work)-1]
			work = work[:len(work)-1]
		} else {
			it = work[0]
			work = work[1:]
		}
		if len(nodes)+2 > maxNodes || it.depth > 14 || rng.IntN(6) == 0 {
			nodes[it.i] = rawNode{feat: -1, v: rng.NormFloat64() * 10}
			continue
		}
		f := rng.IntN(p)
		l := len(nodes)
		nodes[it.i] = rawNode{feat: int32(f), left: int32(l), v: pool[f][rng.IntN(len(pool[f]))]}
		nodes = append(nodes, rawNode{}, rawNode{})
		if dfs {
			work = append(work, item{l + 1, it.depth + 1}, item{l, it.depth + 1})
		} else {
			work = append(work, item{l, it.depth + 1}, item{l + 1, it.depth + 1})
		}
	}
	return nodes
}

// walkRaw is the reference prediction: each tree walked node by node, the
// leaf values added in tree order.
func walkRaw(trees [][]rawNode, x []float64) float64 {
	sum := 0.0
	for _, nodes := range trees {
		j := 0
		for nodes[j].feat != -1 {
			if x[nodes[j].feat] <= nodes[j].v {
				j = int(nodes[j].left)
			} else {
				j = int(nodes[j].left) + 1
			}
		}
		sum += nodes[j].v
	}
	return sum / float64(len(trees))
}

var specialValues = []float64{math.Inf(-1), math.Inf(1), math.Copysign(0, -1), 0, math.MaxFloat64, -math.MaxFloat64,
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 1, -1, 0.5}

// Random models, decoded into the code layout, predict exactly as their
// trees do: 1 to 16 features, 1 to 150 trees (some all single leaves),
// thresholds from small pools with many ties and special values, few to
// many pivots, rows on thresholds and their neighbours. Each encodes as
// the same model in the three-level layout does.
func TestCodeLayoutRandomModels(t *testing.T) {
	if !useCodeLayout(1) {
		t.Skip("no code layout")
	}
	old := maxPivots
	t.Cleanup(func() { maxPivots = old })
	rng := rand.New(rand.NewPCG(7, 9))
	for iter := 0; iter < 400; iter++ {
		maxPivots = []int{1, 2, 3, 5, 8, 30, 32767}[iter%7]
		p := []int{1, 2, 3, 15, 16}[rng.IntN(5)]
		pool := make([][]float64, p)
		for f := range pool {
			k := 1 + rng.IntN(40)
			for range k {
				if rng.IntN(3) == 0 {
					pool[f] = append(pool[f], specialValues[rng.IntN(len(specialValues))])
				} else {
					pool[f] = append(pool[f], math.Round(rng.NormFloat64()*8)/4)
				}
			}
		}
		nt := 1 + rng.IntN(6)
		if iter%13 == 0 {
			nt = 130 + rng.IntN(20) // over chunkTrees
		}
		trees := make([][]rawNode, nt)
		for i := range trees {
			mx := 1 + rng.IntN(200)
			if iter%11 == 0 {
				mx = 1 // all leaves
			}
			trees[i] = randomRawTree(rng, p, pool, mx, rng.IntN(2) == 0)
		}
		enc := encodeRegressor(p, trees)
		var r Regressor
		if err := r.UnmarshalBinary(enc); err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		if r.codes == nil {
			t.Fatalf("iter %d: no code layout", iter)
		}
		// rows
		for k := 0; k < 60; k++ {
			x := make([]float64, p)
			for f := range x {
				switch rng.IntN(4) {
				case 0:
					x[f] = specialValues[rng.IntN(len(specialValues))]
				case 1:
					v := pool[f][rng.IntN(len(pool[f]))]
					x[f] = []float64{v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))}[rng.IntN(3)]
				default:
					x[f] = rng.NormFloat64() * 5
				}
			}
			want := walkRaw(trees, x)
			got, err := r.Predict(x)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("iter %d p %d maxPivots %d: Predict(%v) = %v, want %v", iter, p, maxPivots, x, got, want)
			}
			if w := r.codes.walkCodes(x, false); math.Float64bits(w) != math.Float64bits(want) {
				t.Fatalf("iter %d: portable %v want %v", iter, w, want)
			}
			out := make([]float64, 1)
			if err := r.PredictBatch([][]float64{x}, out); err != nil || math.Float64bits(out[0]) != math.Float64bits(want) {
				t.Fatalf("iter %d: batch %v want %v", iter, out[0], want)
			}
		}
		// Marshal must equal block-layout marshal.
		b1, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var rb Regressor
		forceBlockLayout = true
		err = rb.UnmarshalBinary(enc)
		forceBlockLayout = false
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := rb.MarshalBinary()
		for k := 0; k < 30; k++ {
			x := make([]float64, p)
			for f := range x {
				x[f] = specialValues[rng.IntN(len(specialValues))]
				if rng.IntN(2) == 0 {
					x[f] = pool[f][rng.IntN(len(pool[f]))]
				}
			}
			a, _ := r.Predict(x)
			b, _ := rb.Predict(x)
			if math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("iter %d: code layout %v, block layout %v", iter, a, b)
			}
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("iter %d: code layout marshals differently from block layout", iter)
		}
		var r3 Regressor
		if err := r3.UnmarshalBinary(b2); err != nil {
			t.Fatal(err)
		}
		b3, _ := r3.MarshalBinary()
		if !bytes.Equal(b1, b3) {
			t.Fatalf("iter %d: re-marshal differs", iter)
		}
	}
}
