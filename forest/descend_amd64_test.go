//go:build !purego

package forest

import (
	"math"
	"testing"
)

// TestWalkExitsMatchesExitOf checks the table the assembly step looks up
// against block.exitOf, for every starting slot and every outcome of the
// seven comparisons.
func TestWalkExitsMatchesExitOf(t *testing.T) {
	var b block
	for i := range 7 {
		b.thr[i], b.feat[i] = 0.5, uint8(i)
	}
	for k := range b.exit {
		b.exit[k] = math.Float64bits(float64(k))
	}
	x := make([]float64, 7)
	for start := range 7 {
		for m := range 128 {
			for i := range x {
				x[i] = float64(m >> i & 1) // 1 > 0.5: right at split i
			}
			want := int(math.Float64frombits(b.exitOf(x, uint(start))))
			if got := int(walkExits[start<<8|m]) - 7; got != want {
				t.Fatalf("start %d, m %07b: exit %d, exitOf %d", start, m, got, want)
			}
			if hi := int(walkExits[start<<8|m|128]) - 7; hi != want {
				t.Fatalf("start %d, m %07b with bit 7 set: exit %d, exitOf %d", start, m, hi, want)
			}
		}
	}
}
