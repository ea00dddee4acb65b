//go:build !purego

#include "textflag.h"

// DESCEND moves the walk whose exit is in AX down one block of the array
// at SI, reading the row at DI, and leaves the exit it reaches in AX, with
// the flags EQ if that exit leads to another block. It overwrites BX and
// R11 to R13, and X0 to X7.
//
// Rather than three dependent steps, one a level, it compares the row
// with all seven thresholds at once: each split's comparison depends only
// on its own feature, so the seven run side by side, and walkExits maps
// the slot the walk starts from and the seven results to the slot it
// ends at. A split that is never reached costs a comparison whose result
// is ignored. A padding split's NaN threshold compares false (thr < x is
// false for NaN), sending the row left as exitOf does. Every feature of a
// block, used or not, indexes the row.
#define DESCEND \
	MOVL     AX, BX \
	SHLQ     $7, BX \
	ADDQ     SI, BX \         // BX: the block
	MOVQ     AX, R11 \
	SHRQ     $24, R11 \
	ANDQ     $0x700, R11 \    // R11: the starting slot, times 256
	MOVBQZX  56(BX), R12 \    // X0 to X3: x[feat[0]] to x[feat[6]]
	MOVBQZX  57(BX), R13 \
	MOVSD    (DI)(R12*8), X0 \
	MOVHPD   (DI)(R13*8), X0 \
	MOVBQZX  58(BX), R12 \
	MOVBQZX  59(BX), R13 \
	MOVSD    (DI)(R12*8), X1 \
	MOVHPD   (DI)(R13*8), X1 \
	MOVBQZX  60(BX), R12 \
	MOVBQZX  61(BX), R13 \
	MOVSD    (DI)(R12*8), X2 \
	MOVHPD   (DI)(R13*8), X2 \
	MOVBQZX  62(BX), R12 \
	MOVSD    (DI)(R12*8), X3 \
	MOVUPD   0(BX), X4 \      // X4 to X7: thr[0] to thr[6], and the feature bytes
	MOVUPD   16(BX), X5 \
	MOVUPD   32(BX), X6 \
	MOVUPD   48(BX), X7 \
	CMPPD    X0, X4, $1 \     // thr < x: go right
	CMPPD    X1, X5, $1 \
	CMPPD    X2, X6, $1 \
	CMPPD    X3, X7, $1 \
	SHUFPS   $0x88, X5, X4 \  // one 32-bit lane a split
	SHUFPS   $0x88, X7, X6 \
	MOVMSKPS X4, R12 \
	MOVMSKPS X6, R13 \
	SHLQ     $4, R13 \
	ORQ      R13, R12 \       // R12: bit s set if the row goes right at s
	ORQ      R12, R11 \
	LEAQ     ·walkExits(SB), R12 \
	MOVBQZX  (R12)(R11*1), R11 \ // R11: the slot reached, 7 to 14
	MOVQ     8(BX)(R11*8), AX \   // exit[R11-7]
	MOVQ     AX, R13 \
	SARQ     $51, R13 \
	CMPQ     R13, $-1             // are childTag's 13 bits all set?

// PREFETCH asks for both lines of the block the exit in AX leads to,
// overwriting R13.
#define PREFETCH \
	MOVL AX, R13 \
	SHLQ $7, R13 \
	PREFETCHT0 (SI)(R13*1) \
	PREFETCHT0 64(SI)(R13*1)

// func descendRoundAsm(blocks *block, x *float64, cur *uint64, tid *int32, vals *float64, n int) int
TEXT ·descendRoundAsm(SB), NOSPLIT, $0-56
	MOVQ blocks+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ cur+16(FP), R8
	MOVQ tid+24(FP), R9
	MOVQ vals+32(FP), R10
	MOVQ n+40(FP), CX
	XORQ DX, DX                         // k

next:
	CMPQ DX, CX
	JGE  done
	MOVQ (R8)(DX*8), AX                 // the exit into the tree's block
	DESCEND
	JNE  leaf
	PREFETCH
	MOVQ AX, (R8)(DX*8)
	INCQ DX
	JMP  next

leaf:
	MOVLQSX (R9)(DX*4), R12
	MOVQ    AX, (R10)(R12*8)            // vals[tid[k]] = leaf value
	DECQ    CX
	MOVQ    (R8)(CX*8), R12             // the last tree takes slot k
	MOVQ    R12, (R8)(DX*8)
	MOVL    (R9)(CX*4), R12
	MOVL    R12, (R9)(DX*4)
	JMP     next

done:
	MOVQ CX, ret+48(FP)
	RET

// func descendRowsAsm(blocks *block, xs *[]float64, cur *uint64, accs **float64, n int) int
TEXT ·descendRowsAsm(SB), NOSPLIT, $0-48
	MOVQ blocks+0(FP), SI
	MOVQ xs+8(FP), R9
	MOVQ cur+16(FP), R8
	MOVQ accs+24(FP), R10
	MOVQ n+32(FP), CX
	XORQ DX, DX                         // k

rnext:
	CMPQ DX, CX
	JGE  rdone
	LEAQ (DX)(DX*2), DI
	MOVQ (R9)(DI*8), DI                 // &xs[k][0]: slice headers are 3 words
	MOVQ (R8)(DX*8), AX                 // the exit into the row's block
	DESCEND
	JNE  rleaf
	PREFETCH
	MOVQ AX, (R8)(DX*8)
	INCQ DX
	JMP  rnext

rleaf:
	MOVQ  (R10)(DX*8), R12
	MOVQ  AX, X1
	ADDSD (R12), X1
	MOVSD X1, (R12)                     // *accs[k] += leaf value
	DECQ  CX
	MOVQ  (R8)(CX*8), R12               // the last row takes slot k
	MOVQ  R12, (R8)(DX*8)
	MOVQ  (R10)(CX*8), R12
	MOVQ  R12, (R10)(DX*8)
	LEAQ  (CX)(CX*2), R12
	LEAQ  (DX)(DX*2), R13
	MOVQ  (R9)(R12*8), AX
	MOVQ  AX, (R9)(R13*8)
	MOVQ  8(R9)(R12*8), AX
	MOVQ  AX, 8(R9)(R13*8)
	MOVQ  16(R9)(R12*8), AX
	MOVQ  AX, 16(R9)(R13*8)
	JMP   rnext

rdone:
	MOVQ CX, ret+40(FP)
	RET
