//go:build !purego

package forest

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveCodeWalk says whether the processor has what the code layout's
// assembly needs: SSSE3 (PSHUFB), POPCNT and BMI2 (BZHI). GOAMD64=v1, the
// default, promises none of them.
var haveCodeWalk = cpu.X86.HasSSSE3 && cpu.X86.HasPOPCNT && cpu.X86.HasBMI2

// useCodeLayout says whether a model of p features is laid out in
// codeBlocks.
func useCodeLayout(p int) bool {
	return p <= codeFeatures && haveCodeWalk && !forceBlockLayout
}

// convert is convertGo with the searches in assembly (searchKeys), all
// features level by level so that their loads overlap. x has at most
// codeFeatures values.
func (cl *codeLayout) convert(x []float64, xc []uint16) {
	var pos [codeFeatures]int
	_ = xc[len(x)-1]
	searchKeys(&cl.keys[0], cl.keyLen, &cl.keyLevels[0], len(cl.keyLevels), &x[0], len(x), &pos[0])
	last := cl.keyLevels[len(cl.keyLevels)-1]
	for f, v := range x {
		// pos[f] = #{pivots < v}: the padding is +Inf, and no value is
		// above it.
		k, m := pos[f], int(cl.npiv[f])
		c := 2 * min(k, m)
		if k < m && cl.keys[f*cl.keyLen+last+k] == v {
			c++
		}
		xc[f] = uint16(c) ^ codeBias
	}
}

//go:noescape
func searchKeys(keys *float64, keyLen int, levels *int, nlev int, x *float64, n int, pos *int)

// descendCodes is descendCodesGo in assembly, the row's biased codes held
// as two byte planes (low bytes, high bytes) in planes. It prefetches each
// tree's next block as soon as that block is known, and the leaf value's
// line when a tree ends, and never loads from a line that may miss but to
// decide a tie. It relies on what layoutCodes guarantees: every child and
// leaf index is within the layout, every feature below len(x) and
// codeFeatures, and every tid[k] below len(leaf).
func descendCodes(cl *codeLayout, x []float64, _ []uint16, planes *[32]uint8, cur []uint32, tid []int32, leaf []uint32) int {
	if len(cur) == 0 {
		return 0
	}
	_, _ = tid[len(cur)-1], x[0]
	return descendCodesAsm(&cl.blocks[0], planes, &cur[0], &tid[0], &leaf[0], len(cur), &x[0], unsafe.SliceData(cl.side), unsafe.SliceData(cl.leaves))
}

//go:noescape
func descendCodesAsm(blocks *codeBlock, planes *[32]uint8, cur *uint32, tid *int32, leaf *uint32, n int, x *float64, side *float64, leaves *float64) int

// codeLevel3[m] is the slot, 7 to 14, that a walk reaches after three
// levels when bit s of m says the row goes right at split s.
//
//lint:ignore U1000 read by codes_amd64.s
var codeLevel3 = func() (t [128]uint8) {
	for m := range 128 {
		s := 0
		for range 3 {
			s = 2*s + 1 + (m>>s)&1
		}
		t[m] = uint8(s)
	}
	return t
}()

// codePath[e] has a bit for each split on the path to exit e.
//
//lint:ignore U1000 read by codes_amd64.s
var codePath = func() (t [16]uint16) {
	for e := range 16 {
		s := e + 15
		for s > 0 {
			s = (s - 1) / 2
			t[e] |= 1 << s
		}
	}
	return t
}()
