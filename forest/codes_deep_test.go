package forest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// Deep chains (zigzag) with repeated and special thresholds, tiny maxPivots.
func TestCodeLayoutDeepChains(t *testing.T) {
	if !useCodeLayout(1) {
		t.Skip("no code layout")
	}
	old := maxPivots
	t.Cleanup(func() { maxPivots = old })
	rng := rand.New(rand.NewPCG(3, 4))
	for _, mp := range []int{1, 2, 7, 32767} {
		maxPivots = mp
		p := 16
		var trees [][]rawNode
		for tr := 0; tr < 5; tr++ {
			depth := 3000 + rng.IntN(50)
			nodes := []rawNode{{}}
			at := 0
			for d := 0; d < depth; d++ {
				l := len(nodes)
				f := rng.IntN(p)
				v := specialValues[rng.IntN(len(specialValues))]
				if rng.IntN(2) == 0 {
					v = float64(rng.IntN(20)) - 10
				}
				nodes[at] = rawNode{feat: int32(f), left: int32(l), v: v}
				nodes = append(nodes, rawNode{feat: -1, v: float64(d)}, rawNode{feat: -1, v: float64(-d)})
				at = l + rng.IntN(2)
			}
			trees = append(trees, nodes)
		}
		enc := encodeRegressor(p, trees)
		var r Regressor
		if err := r.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 2000; k++ {
			x := make([]float64, p)
			for f := range x {
				if rng.IntN(2) == 0 {
					x[f] = specialValues[rng.IntN(len(specialValues))]
				} else {
					x[f] = float64(rng.IntN(22)) - 11 + []float64{0, 0.5, 1e-300}[rng.IntN(3)]
				}
			}
			want := walkRaw(trees, x)
			got, _ := r.Predict(x)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("maxPivots %d: got %v want %v", mp, got, want)
			}
		}
		b1, _ := r.MarshalBinary()
		var rb Regressor
		forceBlockLayout = true
		err := rb.UnmarshalBinary(enc)
		forceBlockLayout = false
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := rb.MarshalBinary()
		if !bytes.Equal(b1, b2) {
			t.Fatal("marshal differs")
		}
	}
}
