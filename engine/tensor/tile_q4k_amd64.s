#include "textflag.h"
#include "simd_amd64.h"

// AVX2 Q4_K tile: 2 rows x 4 tokens in the 16 VEX registers, with what
// does not fit on the stack. Y0-Y7 the integer sums of a super-block (row
// 0 tokens 0-3, row 1 tokens 0-3); Y8/Y9 and Y10/Y11 the rows' low and
// high nibbles of a step (then, at the flush, their d and dmin); Y12-Y15
// temporaries. Stack: 0 and 16 the rows' scales as words, 32 and 48 their
// mins, 64 bytes 0x0f, 96+256r+32j sub-block j's scale broadcast for row
// r, 608+128r+32t the float sums. Strides as in tileQ6_KZ.

// AK4PAIR(xlo, xhi, lo, hi, slo, shi, acc) adds one token's sums of a step
// for one row.
#define AK4PAIR(xlo, xhi, lo, hi, slo, shi, acc) \
	VPMADDUBSW xlo, lo, Y12 \
	VPMADDWD   slo, Y12, Y12 \
	VPADDD     Y12, acc, acc \
	VPMADDUBSW xhi, hi, Y13 \
	VPMADDWD   shi, Y13, Y13 \
	VPADDD     Y13, acc, acc

#define AK4TOKEN(k, tok, a0, a1) \
	AK4PAIR((64*k)tok, (64*k+32)tok, Y8, Y9, (96+64*k)(SP), (128+64*k)(SP), a0) \
	AK4PAIR((64*k)tok, (64*k+32)tok, Y10, Y11, (352+64*k)(SP), (384+64*k)(SP), a1)

#define AK4STEP(k) \
	VMOVDQU (16+32*k)(SI), Y12 \
	VPAND   64(SP), Y12, Y8 \
	VPSRLW  $4, Y12, Y9 \
	VPAND   64(SP), Y9, Y9 \
	VMOVDQU (16+32*k)(SI)(R8*1), Y12 \
	VPAND   64(SP), Y12, Y10 \
	VPSRLW  $4, Y12, Y11 \
	VPAND   64(SP), Y11, Y11 \
	AK4TOKEN(k, (DI), Y0, Y4) \
	AK4TOKEN(k, (DI)(R9*1), Y1, Y5) \
	AK4TOKEN(k, (DI)(R9*2), Y2, Y6) \
	AK4TOKEN(k, (DI)(R10*1), Y3, Y7)

// AK4SV(j) broadcasts sub-block j's scale of both rows to the stack.
#define AK4SV(j) \
	VPBROADCASTW (2*j)(SP), Y12 \
	VMOVDQU      Y12, (96+32*j)(SP) \
	VPBROADCASTW (16+2*j)(SP), Y13 \
	VMOVDQU      Y13, (352+32*j)(SP)

// AK4FLUSH(da, ba, ba16, a0, a1, f0, f1) folds one token's integer sums
// into its float sums on the stack, as ZK4FLUSH does.
#define AK4FLUSH(da, ba, ba16, a0, a1, f0, f1) \
	VBROADCASTSS da, Y13 \
	VMOVDQU      ba, X15 \
	VPHADDW      ba16, X15, X15 \
	VCVTDQ2PS    a0, a0 \
	VMULPS       Y8, Y13, Y12 \
	VFMADD213PS  f0, Y12, a0 \
	VPMADDWD     32(SP), X15, X12 \
	VCVTDQ2PS    X12, X12 \
	VMULPS       Y9, Y13, Y14 \
	VFNMADD231PS Y12, Y14, a0 \
	VMOVUPS      a0, f0 \
	VCVTDQ2PS    a1, a1 \
	VMULPS       Y10, Y13, Y12 \
	VFMADD213PS  f1, Y12, a1 \
	VPMADDWD     48(SP), X15, X12 \
	VCVTDQ2PS    X12, X12 \
	VMULPS       Y11, Y13, Y14 \
	VFNMADD231PS Y12, Y14, a1 \
	VMOVUPS      a1, f1

// func tileQ4_KAVX2(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ4_KAVX2(SB), 0, $864-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ bs+32(FP), BX
	MOVQ nb+40(FP), CX
	MOVQ cols+48(FP), R9
	LEAQ (R9)(R9*2), R10
	LEAQ (CX*4), R11
	LEAQ (R11)(R11*2), R12
	MOVQ R9, R13
	SHRQ $3, R13
	BCAST8($0x0f0f0f0f, X14, Y14)
	VMOVDQU Y14, 64(SP)
	LEAQ    (R13)(R13*2), AX
	VXORPS  Y12, Y12, Y12
	VMOVUPS Y12, 608(SP)
	VMOVUPS Y12, 640(SP)
	VMOVUPS Y12, 672(SP)
	VMOVUPS Y12, 704(SP)
	VMOVUPS Y12, 736(SP)
	VMOVUPS Y12, 768(SP)
	VMOVUPS Y12, 800(SP)
	VMOVUPS Y12, 832(SP)
	TESTQ CX, CX
	JZ    ta4kdone

ta4kloop:
	VK4SCALES(4(SI), 0(SP), X12)
	VMOVDQU X12, 32(SP)
	VK4SCALES(4(SI)(R8*1), 16(SP), X12)
	VMOVDQU X12, 48(SP)
	AK4SV(0)
	AK4SV(1)
	AK4SV(2)
	AK4SV(3)
	AK4SV(4)
	AK4SV(5)
	AK4SV(6)
	AK4SV(7)
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	AK4STEP(0)
	AK4STEP(1)
	AK4STEP(2)
	AK4STEP(3)
	VPBROADCASTW (SI), X8
	VCVTPH2PS    X8, Y8
	VPBROADCASTW 2(SI), X9
	VCVTPH2PS    X9, Y9
	VPBROADCASTW (SI)(R8*1), X10
	VCVTPH2PS    X10, Y10
	VPBROADCASTW 2(SI)(R8*1), X11
	VCVTPH2PS    X11, Y11
	AK4FLUSH((DX), (BX), 16(BX), Y0, Y4, 608(SP), 736(SP))
	AK4FLUSH((DX)(R11*1), (BX)(R13*1), 16(BX)(R13*1), Y1, Y5, 640(SP), 768(SP))
	AK4FLUSH((DX)(R11*2), (BX)(R13*2), 16(BX)(R13*2), Y2, Y6, 672(SP), 800(SP))
	AK4FLUSH((DX)(R12*1), (BX)(AX*1), 16(BX)(AX*1), Y3, Y7, 704(SP), 832(SP))
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  ta4kloop

ta4kdone:
	VMOVUPS 608(SP), Y0
	VMOVUPS 640(SP), Y1
	VMOVUPS 672(SP), Y2
	VMOVUPS 704(SP), Y3
	VMOVUPS 736(SP), Y4
	VMOVUPS 768(SP), Y5
	VMOVUPS 800(SP), Y6
	VMOVUPS 832(SP), Y7
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	FSTORE
	RET
