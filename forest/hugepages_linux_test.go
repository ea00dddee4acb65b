//go:build linux && (amd64 || arm64)

package forest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewBlocksSmallInGoHeap(t *testing.T) {
	blocks, owner := newBlocks(minHugeBlocks - 1)
	assert.Nil(t, owner)
	assert.Len(t, blocks, minHugeBlocks-1)
}

func TestNewBlocksMapsHugePages(t *testing.T) {
	n := minHugeBlocks + 123
	blocks, owner := newBlocks(n)
	require.NotNil(t, owner)
	require.Len(t, blocks, n)
	start := uintptr(unsafe.Pointer(&blocks[0]))
	assert.Zero(t, start%hugePage, "the array starts on a huge page")
	for i := 0; i < n; i += pageBlocks {
		blocks[i].feat[0] = 1 // every page can be written
	}
	for i := range blocks {
		require.Zero(t, blocks[i].exit[7], "block %d is zeroed", i)
	}
	if thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(thp), "[never]") {
		t.Skip("transparent huge pages are off")
	}
	kb, err := anonHugeKB(start)
	require.NoError(t, err)
	assert.Positive(t, kb, "kB on huge pages")
	runtime.KeepAlive(owner)
}

// anonHugeKB returns how much of the mapping that holds addr lies on
// transparent huge pages, from /proc/self/smaps.
func anonHugeKB(addr uintptr) (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(sc.Text(), "%x-%x", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		var kb int
		if n, _ := fmt.Sscanf(sc.Text(), "AnonHugePages: %d kB", &kb); n == 1 && in {
			return kb, nil
		}
	}
	return 0, errors.New("no mapping holds the address")
}

func TestNewBlocksUnmappedWhenUnreachable(t *testing.T) {
	blocks, owner := newBlocks(minHugeBlocks)
	require.NotNil(t, owner)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&blocks[0])), 4096)
	owner, blocks = nil, nil
	_, _ = owner, blocks
	// Cleanups run on their own goroutine after a collection: give it
	// a few collections to get there.
	for range 100 {
		runtime.GC()
		runtime.Gosched()
		if err := syscall.Madvise(mem, syscall.MADV_NORMAL); errors.Is(err, syscall.ENOMEM) {
			return // no longer mapped
		}
	}
	t.Fatal("the blocks are still mapped after their owner became unreachable")
}

// TestHugeModelPredicts checks a forest whose blocks lie outside the Go
// heap, trained and decoded.
func TestHugeModelPredicts(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocks=%v", blocks), func(t *testing.T) {
			useBlockLayout(t, blocks)
			testHugeModelPredicts(t)
		})
	}
}

func testHugeModelPredicts(t *testing.T) {
	X, y := friedman1(50000, 1, 40)
	c := Config{Trees: 12, Seed: 5}
	r, err := c.Fit(context.Background(), X, y)
	require.NoError(t, err)
	require.NotNil(t, r.owner, "%d blocks", len(r.blocks))
	require.Equal(t, useCodeLayout(10), r.codes != nil)
	trees := grownTrees(t, X, y, c)
	rows := rowsOnThresholds(trees, 10, 200, 41)
	data, err := r.MarshalBinary()
	require.NoError(t, err)
	var back Regressor
	require.NoError(t, back.UnmarshalBinary(data))
	require.NotNil(t, back.owner)
	requirePredictsAsGrown(t, r, trees, rows, "trained")
	requirePredictsAsGrown(t, &back, trees, rows, "decoded")
}
