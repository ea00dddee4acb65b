//go:build linux && (amd64 || arm64)

package forest

import (
	"runtime"
	"syscall"
	"unsafe"
)

// hugePage is the size of a huge page on amd64 and arm64 Linux.
const hugePage = 2 << 20

// minHugeBlocks is the smallest array newBlocks maps on huge pages: 8 MiB,
// beyond what the TLB reaches with small pages, and large enough that
// rounding up to whole huge pages wastes at most a fifth.
const minHugeBlocks = 4 * hugePage / int(unsafe.Sizeof(block{}))

// newBlocks returns n zeroed blocks. A large array is mapped outside the Go
// heap and advised onto huge pages: a row's walk visits some 650 blocks
// scattered over the whole array, and with small pages most of them also
// miss the TLB (Predict measured 10% faster on huge pages). Where the
// kernel grants no huge pages the array stays on small pages, which is
// only slower.
//
// Mapped blocks are unmapped once the returned owner is unreachable, so
// whoever holds the blocks must hold the owner too, and keep it alive
// (runtime.KeepAlive) until done with them. For an array in the Go heap
// the owner is nil.
func newBlocks(n int) ([]block, *blockOwner) { return newMapped[block](n) }

// newMapped is newBlocks for an array of any type without pointers: one
// of at least 8 MiB is mapped outside the Go heap on huge pages.
func newMapped[T any](n int) ([]T, *blockOwner) {
	elem := unsafe.Sizeof(*new(T))
	if uintptr(n)*elem < 4*hugePage {
		return make([]T, n), nil
	}
	size := (uintptr(n)*elem + hugePage - 1) &^ (hugePage - 1)
	// One huge page more than needed, to start on a huge-page boundary.
	// Only pages written to take memory.
	mem, err := syscall.Mmap(-1, 0, int(size+hugePage), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]T, n), nil
	}
	skip := (hugePage - uintptr(unsafe.Pointer(&mem[0]))%hugePage) % hugePage
	body := mem[skip : skip+size]
	// Refused only where transparent huge pages are missing or off.
	_ = syscall.Madvise(body, syscall.MADV_HUGEPAGE)
	owner := new(blockOwner)
	runtime.AddCleanup(owner, func(mem []byte) { _ = syscall.Munmap(mem) }, mem)
	return unsafe.Slice((*T)(unsafe.Pointer(&body[0])), n), owner
}
