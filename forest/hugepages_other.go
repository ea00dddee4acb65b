//go:build !linux || !(amd64 || arm64)

package forest

// newBlocks returns n zeroed blocks, in the Go heap: the owner is nil.
func newBlocks(n int) ([]block, *blockOwner) { return make([]block, n), nil }

// newMapped returns n zeroed values, in the Go heap: the owner is nil.
func newMapped[T any](n int) ([]T, *blockOwner) { return make([]T, n), nil }
