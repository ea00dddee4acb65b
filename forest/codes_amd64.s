//go:build !purego

#include "textflag.h"

// func descendCodesAsm(blocks *codeBlock, planes *[32]uint8, cur *uint32, tid *int32, leaf *uint32, n int, x *float64, side *float64, leaves *float64) int
//
// descendCodesGo in assembly for models of at most 16 features. The row's
// biased codes are held as two byte planes (low bytes, high bytes) in X10
// and X11, and PSHUFB picks the 15 splits' codes in two instructions; two
// PCMPGTW give the splits where the row goes right, two PCMPEQW those
// where it ties. A tie matters only on a split of exactMask on the row's
// path, which is then decided by the exact threshold.
//
// Registers: SI blocks, R8 cur, R9 tid, R10 leaf, CX n, DX k; BX the
// block; R11 right mask, R12 tie mask, R13 slot, then exit.
TEXT ·descendCodesAsm(SB), NOSPLIT, $0-80
	MOVQ  blocks+0(FP), SI
	MOVQ  planes+8(FP), DI
	MOVOU 0(DI), X10
	MOVOU 16(DI), X11
	MOVQ  cur+16(FP), R8
	MOVQ  tid+24(FP), R9
	MOVQ  leaf+32(FP), R10
	MOVQ  n+40(FP), CX
	XORQ  DX, DX

next16:
	CMPQ DX, CX
	JGE  done16
	MOVL (R8)(DX*4), BX
	SHLQ $6, BX
	ADDQ SI, BX                   // BX: the block
	MOVOU     30(BX), X6          // the 15 features (byte 45 is padding)
	MOVO      X10, X2
	MOVO      X11, X3
	PSHUFB    X6, X2              // low bytes of the splits' row codes
	PSHUFB    X6, X3              // high bytes
	MOVO      X2, X4
	PUNPCKLBW X3, X2              // X2: row codes of splits 0..7
	PUNPCKHBW X3, X4              // X3: splits 8..15
	MOVO      X4, X3
	MOVOU    0(BX), X0
	MOVOU    16(BX), X1
	MOVO     X2, X4
	MOVO     X3, X5
	PCMPGTW  X0, X2
	PCMPGTW  X1, X3
	PCMPEQW  X0, X4
	PCMPEQW  X1, X5
	PACKSSWB X3, X2
	PACKSSWB X5, X4
	PMOVMSKB X2, R11
	PMOVMSKB X4, R12
	MOVWLZX  58(BX), AX
	ANDL     AX, R12

path16:
	MOVL    R11, R13
	ANDL    $0x7F, R13
	LEAQ    ·codeLevel3(SB), AX
	MOVBLZX (AX)(R13*1), R13      // the slot after three levels, 7..14
	BTL     R13, R11
	LEAL    -14(R13)(R13*1), R13
	ADCL    $0, R13               // R13: the exit16, 0..15
	TESTL   R12, R12
	JNZ     amb16

exit16:
	MOVWLZX 46(BX), R11
	BTL     R13, R11
	JCC     leaf16
	BZHIL   R13, R11, R12
	POPCNTL R12, R12
	MOVL    48(BX), AX
	ADDL    R12, AX               // the child block
	MOVQ    AX, R12
	SHLQ    $6, R12
	PREFETCHT0 (SI)(R12*1)
	MOVL    AX, (R8)(DX*4)
	INCQ    DX
	JMP     next16

leaf16:
	MOVWLZX 56(BX), R11
	BZHIL   R13, R11, R12
	POPCNTL R12, R12
	MOVL    52(BX), AX
	ADDL    R12, AX               // the leaf's index
	MOVQ    leaves+64(FP), R12
	PREFETCHT0 (R12)(AX*8)
	MOVLQSX (R9)(DX*4), R12
	MOVL    AX, (R10)(R12*4)      // leaf[tid[k]]
	DECQ    CX
	MOVL    (R8)(CX*4), R12       // the last tree takes slot k
	MOVL    R12, (R8)(DX*4)
	MOVL    (R9)(CX*4), R12
	MOVL    R12, (R9)(DX*4)
	JMP     next16

amb16:
	// Some split of the block is ambiguous. Only those on the path16
	// matter: fix the first (highest) one on the path16 exactly, drop it
	// from R12, and find the path again.
	LEAQ    ·codePath(SB), AX
	MOVWLZX (AX)(R13*2), AX
	ANDL    R12, AX
	JZ      exit16
	BSFL    AX, AX                // the split to decide exactly
	BTRL    AX, R12
	MOVQ    R8, X8
	MOVQ    R9, X9
	MOVWLZX 58(BX), R8
	BZHIL   AX, R8, R8
	POPCNTL R8, R8
	ADDL    60(BX), R8            // the split's index in side
	MOVQ    side+56(FP), R9
	LEAQ    (R9)(R8*8), R8        // &side[...]
	MOVQ    x+48(FP), R9
	MOVBLZX 30(BX)(AX*1), R13     // the split's feature
	MOVSD   (R9)(R13*8), X6
	UCOMISD (R8), X6
	JLS     aleft16
	BTSL    AX, R11               // x > threshold: right
aleft16:
	MOVQ    X8, R8
	MOVQ    X9, R9
	JMP     path16

done16:
	MOVQ CX, ret+72(FP)
	RET

// func searchKeys(keys *float64, keyLen int, levels *int, nlev int, x *float64, n int, pos *int)
//
// searchKeys sets pos[f] to #{keys of f's last level < x[f]} for f < n,
// searching the static 8-ary trees of buildKeys level by level, all
// features at each level, so that their loads overlap. Each level compares
// x with the 8 keys of one line at once (SSE2) and counts those below.
TEXT ·searchKeys(SB), NOSPLIT, $0-56
	MOVQ keys+0(FP), SI
	MOVQ keyLen+8(FP), R8
	SHLQ $3, R8                  // R8: bytes per feature's tree
	MOVQ levels+16(FP), R9
	MOVQ nlev+24(FP), R10
	MOVQ x+32(FP), DI
	MOVQ n+40(FP), CX
	MOVQ pos+48(FP), DX
	XORQ AX, AX
zero:
	CMPQ AX, CX
	JGE  levels
	MOVQ $0, (DX)(AX*8)
	INCQ AX
	JMP  zero
levels:
	XORQ R11, R11                // the level
level:
	CMPQ R11, R10
	JGE  sdone
	MOVQ (R9)(R11*8), R12
	SHLQ $3, R12
	ADDQ SI, R12                 // R12: feature f's level, f = AX
	XORQ AX, AX
feat:
	CMPQ AX, CX
	JGE  nextlevel
	MOVQ     (DX)(AX*8), BX      // the block of 8 keys at this level
	MOVQ     BX, R13
	SHLQ     $6, R13
	ADDQ     R12, R13
	MOVSD    (DI)(AX*8), X0
	UNPCKLPD X0, X0              // x in both lanes
	MOVUPD   0(R13), X1
	MOVUPD   16(R13), X2
	MOVUPD   32(R13), X3
	MOVUPD   48(R13), X4
	CMPPD    X0, X1, $1          // key < x
	CMPPD    X0, X2, $1
	CMPPD    X0, X3, $1
	CMPPD    X0, X4, $1
	PACKSSLW X2, X1
	PACKSSLW X4, X3
	PACKSSWB X3, X1              // two bytes a key
	PMOVMSKB X1, R13
	POPCNTL  R13, R13
	SHRL     $1, R13
	SHLQ     $3, BX
	ADDQ     R13, BX
	MOVQ     BX, (DX)(AX*8)
	ADDQ     R8, R12
	INCQ     AX
	JMP      feat
nextlevel:
	INCQ R11
	JMP  level
sdone:
	RET
