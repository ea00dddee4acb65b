package stream

import (
	"math"
	"testing"
)

// The window keeps the newest records, oldest first, and never holds room
// for more than its capacity, however it grows.
func TestWindowKeepsTheNewestWithinItsCapacity(t *testing.T) {
	for _, capacity := range []int{1, 3, 1500} {
		w := newWindow(capacity, 2)
		for n := 1; n <= 2*capacity+5; n++ {
			w.add(Record{Features: []float64{float64(n), -float64(n)}, Target: float64(n)})
			if cap(w.targets) > capacity || cap(w.features) > 2*capacity {
				t.Fatalf("capacity %d, %d records: room for %d targets and %d features", capacity, n, cap(w.targets), cap(w.features))
			}
			// Checking every snapshot of the large window would take long;
			// the moments around growth and wrapping are what matter.
			if capacity > 3 && n%97 != 0 && n != capacity && n != capacity+1 {
				continue
			}
			c := w.snapshot()
			want := min(n, capacity)
			if len(c.targets) != want {
				t.Fatalf("capacity %d, %d records: snapshot of %d", capacity, n, len(c.targets))
			}
			for i, y := range c.targets {
				v := float64(n - want + 1 + i)
				if y != v || c.features[2*i] != v || c.features[2*i+1] != -v {
					t.Fatalf("capacity %d, %d records: record %d is %v %v, want %v", capacity, n, i, y, c.features[2*i:2*i+2], v)
				}
			}
		}
	}
}

// A capacity whose features would not fit in an int, Window: math.MaxInt
// meaning "train on everything", still grows as records come.
func TestWindowOfTheLargestCapacity(t *testing.T) {
	for _, dim := range []int{1, 2, 3, 7} {
		w := newWindow(math.MaxInt, dim)
		for n := 1; n <= 3000; n++ {
			w.add(Record{Features: make([]float64, dim), Target: float64(n)})
		}
		if c := w.snapshot(); len(c.targets) != 3000 || len(c.features) != 3000*dim || c.targets[2999] != 3000 {
			t.Fatalf("dim %d: snapshot of %d targets, %d features", dim, len(c.targets), len(c.features))
		}
	}
}
