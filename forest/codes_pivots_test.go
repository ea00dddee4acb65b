package forest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// balancedTree builds a tree of rawNodes, BFS order, that splits feature f on the
// sorted distinct values vals as a balanced search tree; leaf i has value i.
func balancedTree(f int, vals []float64) []rawNode {
	type job struct{ at, lo, hi int } // leaves lo..hi (hi-lo+1 leaves)
	nodes := []rawNode{{}}
	q := []job{{0, 0, len(vals)}}
	for len(q) > 0 {
		j := q[0]
		q = q[1:]
		if j.lo == j.hi {
			nodes[j.at] = rawNode{feat: -1, v: float64(j.lo)}
			continue
		}
		mid := (j.lo + j.hi) / 2 // split at vals[mid]: x <= vals[mid] -> leaves lo..mid
		l := len(nodes)
		nodes[j.at] = rawNode{feat: int32(f), left: int32(l), v: vals[mid]}
		nodes = append(nodes, rawNode{}, rawNode{})
		q = append(q, job{l, j.lo, mid}, job{l + 1, mid + 1, j.hi})
	}
	return nodes
}

// Every size step of the 8-ary pivot search, and more distinct thresholds
// than pivots: predictions stay exact at each threshold and the floats
// either side.
func TestCodeLayoutManyPivots(t *testing.T) {
	if !useCodeLayout(1) {
		t.Skip("no code layout")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 8, 9, 63, 64, 65, 511, 512, 4095, 4096, 32766, 32767, 32768, 40000} {
		for _, p := range []int{1, 16} {
			set := map[float64]bool{}
			for len(set) < n {
				v := rng.NormFloat64() * 1e3
				if len(set) == 0 {
					v = math.Inf(-1)
				}
				if len(set) == 1 && n > 2 {
					v = math.Inf(1)
				}
				if len(set) == 2 && n > 3 {
					v = -math.MaxFloat64
				}
				if len(set) == 3 && n > 4 {
					v = math.MaxFloat64
				}
				set[v] = true
			}
			vals := make([]float64, 0, n)
			for v := range set {
				vals = append(vals, v)
			}
			slices.Sort(vals)
			f := p - 1
			trees := [][]rawNode{balancedTree(f, vals), {{feat: -1, v: 3}}, balancedTree(0, vals[:len(vals)/2+1])}
			var r Regressor
			if err := r.UnmarshalBinary(encodeRegressor(p, trees)); err != nil {
				t.Fatal(err)
			}
			if r.codes == nil {
				t.Fatal("no codes")
			}
			x := make([]float64, p)
			check := func(v float64) {
				for i := range x {
					x[i] = v
				}
				want := walkRaw(trees, x)
				got, _ := r.Predict(x)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("n %d p %d: Predict(%v) = %v, want %v", n, p, v, got, want)
				}
			}
			for _, v := range vals {
				check(v)
				check(math.Nextafter(v, math.Inf(1)))
				check(math.Nextafter(v, math.Inf(-1)))
			}
			for _, v := range specialValues {
				check(v)
			}
		}
	}
}

// Concurrent Predict, PredictBatch, MarshalBinary on one code-layout model.
func TestCodeLayoutConcurrent(t *testing.T) {
	X, y := friedman1(3000, 1, 5)
	r, err := Config{Trees: 30, Seed: 1}.Fit(t.Context(), X, y)
	if err != nil {
		t.Fatal(err)
	}
	if r.codes == nil {
		t.Skip("no code layout")
	}
	want := make([]float64, len(X))
	for i, x := range X {
		want[i], _ = r.Predict(x)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float64, len(X))
			for it := 0; it < 3; it++ {
				if g%2 == 0 {
					for i, x := range X[:500] {
						v, _ := r.Predict(x)
						if v != want[i] {
							t.Errorf("row %d", i)
							return
						}
					}
				} else {
					_ = r.PredictBatch(X, out)
					for i := range out {
						if out[i] != want[i] {
							t.Errorf("batch row %d", i)
							return
						}
					}
					if _, err := r.MarshalBinary(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}
