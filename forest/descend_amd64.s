//go:build !purego

#include "textflag.h"

// STEP moves slot R11 of the block at BX one level down, as block.exitOf
// does: to 2s+1 if x[feat[s]] <= thr[s], else to 2s+2, and not at all once
// s is past the bottom split (s >= 7). The threshold and feature are read
// at index s&7 whatever s is, which stays inside the block; for s >= 7 the
// result is discarded. Index 7 reads the feature bytes as a threshold and
// the zero padding byte as feature 0.
#define STEP \
	MOVQ    R11, R12 \
	ANDQ    $7, R12 \
	MOVBQZX 56(BX)(R12*1), R13 \
	MOVSD   (DI)(R13*8), X0 \
	XORL    R13, R13 \
	UCOMISD (BX)(R12*8), X0 \
	STEPTAIL

// PADDEDSTEP is STEP for a row at DI padded to blockFeatures values, which
// any feature byte indexes: past the bottom split it reads thresholds and
// features from slot s itself, still inside the block, and saves the mask.
#define PADDEDSTEP \
	MOVBQZX 56(BX)(R11*1), R13 \
	MOVSD   (DI)(R13*8), X0 \
	XORL    R13, R13 \
	UCOMISD (BX)(R11*8), X0 \
	STEPTAIL

// STEPTAIL takes the comparison's flags to the next slot.
#define STEPTAIL \
	SETHI   R13B \
	LEAQ    1(R11)(R11*1), R12 \
	ADDQ    R13, R12 \
	CMPQ    R11, $7 \
	CMOVQCS R12, R11

// ENTER points BX at the block the exit in AX leads to, of the array at
// SI, and R11 at the slot to start from.
#define ENTER \
	MOVL AX, BX \
	SHLQ $7, BX \
	ADDQ SI, BX \
	MOVQ AX, R11 \
	SHRQ $32, R11 \
	ANDQ $7, R11

// LEAVE loads the exit the walk reached into AX and sets the flags to EQ
// if it leads to a block: if its top 13 bits, childTag, are all set.
#define LEAVE \
	MOVQ 8(BX)(R11*8), AX \
	MOVQ AX, R13 \
	SARQ $51, R13 \
	CMPQ R13, $-1

// DESCEND moves the walk whose exit is in AX down one block, leaving the
// exit it reaches in AX and the flags as LEAVE sets them. It reads the row
// at DI and overwrites BX, R11 to R13 and X0. PADDEDDESCEND does the same
// on a padded row.
#define DESCEND \
	ENTER \
	STEP \
	STEP \
	STEP \
	LEAVE

#define PADDEDDESCEND \
	ENTER \
	PADDEDSTEP \
	PADDEDSTEP \
	PADDEDSTEP \
	LEAVE

// PREFETCH asks for both lines of the block the exit in AX leads to,
// overwriting R13.
#define PREFETCH \
	MOVL AX, R13 \
	SHLQ $7, R13 \
	PREFETCHT0 (SI)(R13*1) \
	PREFETCHT0 64(SI)(R13*1)

// func descendRoundAsm(blocks *block, x *[blockFeatures]float64, cur *uint64, tid *int32, vals *float64, n int) int
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
	PADDEDDESCEND
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
