package forest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"runtime"
	"testing"
)

var printGolden = flag.Bool("golden.print", false, "print the golden hashes of TestTrainGoldenEncoding instead of checking them")

// goldenCases are trainings whose encoded models must not change by a
// single bit when training is made faster. They cover ties, weights,
// settings that stop trees early, and data with more than 2^16 rows and
// distinct values.
var goldenCases = []struct {
	name string
	n    int
	prep func(X [][]float64, y []float64)
	cfg  Config
}{
	{"friedman-2k", 2000, nil, Config{Trees: 20, Seed: 3}},
	{"friedman-10k-third", 10000, nil, Config{Trees: 4, Seed: 1}},
	{"friedman-3k-all", 3000, nil, Config{Trees: 10, Seed: 5, FeatureFraction: 1}},
	{"friedman-3k-minleaf", 3000, nil, Config{Trees: 10, Seed: 6, MinLeaf: 5, MaxFeatures: 4}},
	{"friedman-3k-depth", 3000, nil, Config{Trees: 10, Seed: 7, MaxDepth: 6}},
	{"friedman-3k-nobootstrap", 3000, nil, Config{Trees: 10, Seed: 8, NoBootstrap: true, SampleFraction: 0.7}},
	{"friedman-3k-fraction", 3000, nil, Config{Trees: 10, Seed: 9, SampleFraction: 0.5}},
	{"ties-4k", 4000, roundTo(8), Config{Trees: 10, Seed: 10}},
	{"ties-targets-4k", 4000, func(X [][]float64, y []float64) {
		roundTo(20)(X, y)
		for i := range y {
			y[i] = math.Round(y[i])
		}
	}, Config{Trees: 10, Seed: 11}},
	{"friedman-65536", 65536, nil, Config{Trees: 3, Seed: 12, MaxDepth: 8}},
	{"friedman-70k", 70000, nil, Config{Trees: 3, Seed: 13, MaxDepth: 8}},
	{"friedman-70k-nobootstrap", 70000, nil, Config{Trees: 2, Seed: 14, MaxDepth: 6, NoBootstrap: true}},
	{"friedman-70k-fraction", 70000, nil, Config{Trees: 3, Seed: 15, MaxDepth: 7, SampleFraction: 0.5}},
}

// roundTo rounds every feature to k steps on [0, 1], which makes ties.
func roundTo(k float64) func(X [][]float64, y []float64) {
	return func(X [][]float64, _ []float64) {
		for _, x := range X {
			for j := range x {
				x[j] = math.Round(x[j]*k) / k
			}
		}
	}
}

// goldenHashes were printed with -golden.print by the code before any
// optimisation of training (commit 3f6c9bc), on amd64.
var goldenHashes = map[string]string{
	"friedman-2k":              "948eda328d199375b6cd42937a742fb6b7605a4a29088e4cd046e937d6f547c6",
	"friedman-10k-third":       "0d2b1cd86aa2f125366d2a5e916df46fef0a505df57c095b54dfe264edc30ed2",
	"friedman-3k-all":          "c89993144afc009e5f7d5c7a167b440908e05aca94d3568a4d8ccdbe18a6eeb2",
	"friedman-3k-minleaf":      "032df9d6ad9a703f9a0d7facc000f47e7b9b944653c601f14ab248dc76893481",
	"friedman-3k-depth":        "448421fb3eb17e7e97f88dc14079a9c7423a3c916643df3cd17d34661fe21887",
	"friedman-3k-nobootstrap":  "a5c1e46c89504c51e4aff09ee9c811761519971efe1cd4cb3b60220b36afe279",
	"friedman-3k-fraction":     "10fac07681079111c27f937cfa295f1dca982b6a9ce2c2c28cf18d5d067de9fd",
	"ties-4k":                  "af07b0be7e2034c48f4b169ff7479fa959bca379ec4df3220640f612f840209f",
	"ties-targets-4k":          "c020c1d1a08e07527d287ee7c4938da15aa9888eb234c21a6aaabd4541c5563c",
	"friedman-65536":           "15daa098c2d5bacafebb3fe856fdddbbd162c803e657975cad4ed90338f25363",
	"friedman-70k":             "ea32eb8d9757625064a0be44e0adddb65f1ef18fb9ae409b2a96a862ecf3df27",
	"friedman-70k-nobootstrap": "a6ca4c1fc1ae0bddbc3ebfcbc19e6a964f92fe4628256454d0d7923c2cf54440",
	"friedman-70k-fraction":    "c0c278a98c1a6f7c4f3a755d57d2777228a82290ca8394ad619a6f4e1fd068ab",
}

// TestTrainGoldenEncoding compares the SHA-256 of the encoding of models
// trained on several datasets with hashes recorded before training was
// optimised: a faster training must give the same models bit for bit.
func TestTrainGoldenEncoding(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 70,000 rows")
	}
	if runtime.GOARCH != "amd64" {
		// Other architectures may fuse multiplies and adds, which
		// changes the rounding and so the models.
		t.Skip("the hashes were recorded on amd64")
	}
	for _, c := range goldenCases {
		X, y := friedman1(c.n, 1, uint64(c.n)+c.cfg.Seed)
		if c.prep != nil {
			c.prep(X, y)
		}
		r, err := c.cfg.Fit(context.Background(), X, y)
		if err != nil {
			t.Fatal(err)
		}
		data, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		got := hex.EncodeToString(sum[:])
		if *printGolden {
			fmt.Printf("\t%q: %q,\n", c.name, got)
			continue
		}
		if want := goldenHashes[c.name]; got != want {
			t.Errorf("%s: encoding hash %s, want %s", c.name, got, want)
		}
	}
}
