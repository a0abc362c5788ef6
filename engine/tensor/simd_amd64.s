#include "textflag.h"

// Vector row kernels for amd64. Register conventions in every kernel:
// SI weights, DI activation quants, DX activation scales, CX block count,
// Y0 the float accumulator (8 lanes, summed horizontally at the end).
// Operands are in Go order: sources first, destination last.

// HSUM folds the eight floats of Y0 into the low lane of X0.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VPSHUFD      $0x4e, X0, X1 \
	VADDPS       X1, X0, X0 \
	VPSHUFD      $0xb1, X0, X1 \
	VADDSS       X1, X0, X0

// SCALE broadcasts half(off(SI)) * float32(0(DX)) into Y1.
#define SCALE(off) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, X1 \
	VCVTPH2PS    X1, X1 \
	VMULSS       (DX), X1, X1 \
	VBROADCASTSS X1, Y1

// DOTBYTES_AVX2 leaves in Y6 the eight int32 sums of products of the signed
// bytes Y2 (weights) and Y3 (activations, never -128), four per lane. It
// moves the sign of w onto x so that VPMADDUBSW sees |w| as unsigned; pairs
// stay below 2*128*127, so the int16 sums cannot saturate. Y15 holds int16 1s.
#define DOTBYTES_AVX2 \
	VPSIGNB    Y2, Y2, Y4 \
	VPSIGNB    Y2, Y3, Y5 \
	VPMADDUBSW Y5, Y4, Y6 \
	VPMADDWD   Y15, Y6, Y6

// DOTBYTES_VNNI is DOTBYTES_AVX2 with one VPDPBUSD for the multiply-adds.
#define DOTBYTES_VNNI \
	VPSIGNB  Y2, Y2, Y4 \
	VPSIGNB  Y2, Y3, Y5 \
	VPXOR    Y6, Y6, Y6 \
	VPDPBUSD Y5, Y4, Y6

#define ONES16(y) \
	VPCMPEQW y, y, y \
	VPSRLW   $15, y, y

// func dotQ8_0AVX2(w []byte, q []int8, d []float32) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	ONES16(Y15)
	TESTQ CX, CX
	JZ    q80done

q80loop:
	SCALE(0)
	VMOVDQU 2(SI), Y2
	VMOVDQU (DI), Y3
	DOTBYTES_AVX2
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $34, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q80loop

q80done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+72(FP)
	RET

// func dotQ8_0VNNI(w []byte, q []int8, d []float32) float32
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JZ     q80vdone

q80vloop:
	SCALE(0)
	VMOVDQU 2(SI), Y2
	VMOVDQU (DI), Y3
	DOTBYTES_VNNI
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $34, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q80vloop

q80vdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+72(FP)
	RET

// Q4_0: 16 bytes of nibbles; low nibbles are elements 0-15, high 16-31.
// UNPACK_Q4_0 leaves the 32 signed weights (nibble - 8) in Y2.
// Y14 holds bytes 0x0f, Y13 bytes 8.
#define UNPACK_Q4_0 \
	VMOVDQU     2(SI), X2 \
	VPSRLW      $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND       Y14, Y2, Y2 \
	VPSUBB      Y13, Y2, Y2

#define NIBBLE_CONSTS \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVL         $0x08080808, AX \
	VMOVD        AX, X13 \
	VPBROADCASTD X13, Y13

// func dotQ4_0AVX2(w []byte, q []int8, d []float32) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	ONES16(Y15)
	NIBBLE_CONSTS
	TESTQ CX, CX
	JZ    q40done

q40loop:
	SCALE(0)
	UNPACK_Q4_0
	VMOVDQU (DI), Y3
	DOTBYTES_AVX2
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q40loop

q40done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+72(FP)
	RET

// func dotQ4_0VNNI(w []byte, q []int8, d []float32) float32
TEXT ·dotQ4_0VNNI(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	NIBBLE_CONSTS
	TESTQ CX, CX
	JZ    q40vdone

q40vloop:
	SCALE(0)
	UNPACK_Q4_0
	VMOVDQU (DI), Y3
	DOTBYTES_VNNI
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q40vloop

q40vdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+72(FP)
	RET

// func dotF32AVX2(w []byte, x []float32) float32
// Handles len(x) &^ 7 elements; the caller adds the rest.
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

f32loop32:
	CMPQ        CX, $32
	JLT         f32loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         f32loop32

f32loop8:
	CMPQ        CX, $8
	JLT         f32done
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         f32loop8

f32done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotF16AVX2(w []byte, x []float32) float32
// Handles len(x) &^ 7 elements.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

f16loop32:
	CMPQ        CX, $32
	JLT         f16loop8
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         f16loop32

f16loop8:
	CMPQ        CX, $8
	JLT         f16done
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         f16loop8

f16done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// BCAST8(val, X) fills every byte of Y(X) with val.
#define BCAST8(val, x, y) \
	MOVL         val, AX \
	VMOVD        AX, x \
	VPBROADCASTD x, y

// FSCALE(off, Y) broadcasts half(off(SI)) * float32(0(DX)) into Y, via X.
#define FSCALE(off, x, y) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, x \
	VCVTPH2PS    x, x \
	VMULSS       (DX), x, x \
	VBROADCASTSS x, y

// K4SCALES unpacks the 6-bit scales and mins of a Q4_K/Q5_K block at
// 4(SI) (ggml's kmask shuffle): the 8 scales as int16 words go to 0(SP),
// the 8 mins as words to X7. Clobbers AX, R8-R11.
#define K4SCALES \
	MOVL      4(SI), R8 \
	MOVL      8(SI), R9 \
	MOVL      12(SI), R10 \
	MOVL      R10, R11 \
	SHRL      $4, R11 \
	ANDL      $0x0f0f0f0f, R11 \
	MOVL      R9, AX \
	SHRL      $6, AX \
	ANDL      $0x03030303, AX \
	SHLL      $4, AX \
	ORL       AX, R11 \
	ANDL      $0x3f3f3f3f, R9 \
	ANDL      $0x0f0f0f0f, R10 \
	MOVL      R8, AX \
	SHRL      $6, AX \
	ANDL      $0x03030303, AX \
	SHLL      $4, AX \
	ORL       AX, R10 \
	ANDL      $0x3f3f3f3f, R8 \
	SHLQ      $32, R10 \
	ORQ       R10, R8 \
	SHLQ      $32, R11 \
	ORQ       R11, R9 \
	VMOVQ     R8, X7 \
	VPMOVZXBW X7, X7 \
	VMOVDQU   X7, 0(SP) \
	VMOVQ     R9, X7 \
	VPMOVZXBW X7, X7

// MINS folds Σ min_j·(bsum_2j + bsum_2j+1) of the block, times dmin·dx, into
// X12. Mins are in X7 (words), bsums at (BX).
#define MINS \
	VMOVDQU     (BX), X8 \
	VMOVDQU     16(BX), X9 \
	VPHADDW     X9, X8, X8 \
	VPMADDWD    X8, X7, X7 \
	VCVTDQ2PS   X7, X7 \
	FSCALE(2, X1, X1) \
	VFMADD231PS X7, X1, X12

// Q4KSUB(k) adds to Y11 the scaled integer sums of sub-blocks 2k and 2k+1:
// the 32 low nibbles of bytes 16+32k(SI) against x[64k:], the high ones
// against x[64k+32:]. Y14 holds bytes 0x0f.
#define Q4KSUB(k) \
	VMOVDQU      (16+32*k)(SI), Y2 \
	VPAND        Y14, Y2, Y3 \
	VPSRLW       $4, Y2, Y4 \
	VPAND        Y14, Y4, Y4 \
	VPMADDUBSW   (64*k)(DI), Y3, Y5 \
	VPBROADCASTW (4*k)(SP), Y10 \
	VPMADDWD     Y10, Y5, Y5 \
	VPADDD       Y5, Y11, Y11 \
	VPMADDUBSW   (64*k+32)(DI), Y4, Y6 \
	VPBROADCASTW (4*k+2)(SP), Y10 \
	VPMADDWD     Y10, Y6, Y6 \
	VPADDD       Y6, Y11, Y11

// func dotQ4_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $16-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y12, Y12, Y12
	BCAST8($0x0f0f0f0f, X14, Y14)
	TESTQ CX, CX
	JZ    q4kdone

q4kloop:
	K4SCALES
	MINS
	VPXOR Y11, Y11, Y11
	Q4KSUB(0)
	Q4KSUB(1)
	Q4KSUB(2)
	Q4KSUB(3)
	VCVTDQ2PS   Y11, Y11
	FSCALE(0, X1, Y1)
	VFMADD231PS Y11, Y1, Y0
	ADDQ        $144, SI
	ADDQ        $256, DI
	ADDQ        $4, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         q4kloop

q4kdone:
	VSUBPS Y12, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// Q5KSUB(k) is Q4KSUB for Q5_K: nibbles at 48+32k(SI), fifth bits 2k and
// 2k+1 of the 32 bytes in Y9. Y13 holds bytes 0x10.
#define Q5KSUB(k) \
	VMOVDQU      (48+32*k)(SI), Y2 \
	VPAND        Y14, Y2, Y3 \
	VPSRLW       $4, Y2, Y4 \
	VPAND        Y14, Y4, Y4 \
	VPSRLW       $(2*k), Y9, Y7 \
	VPSLLW       $4, Y7, Y8 \
	VPAND        Y13, Y8, Y8 \
	VPOR         Y8, Y3, Y3 \
	VPSLLW       $3, Y7, Y8 \
	VPAND        Y13, Y8, Y8 \
	VPOR         Y8, Y4, Y4 \
	VPMADDUBSW   (64*k)(DI), Y3, Y5 \
	VPBROADCASTW (4*k)(SP), Y10 \
	VPMADDWD     Y10, Y5, Y5 \
	VPADDD       Y5, Y11, Y11 \
	VPMADDUBSW   (64*k+32)(DI), Y4, Y6 \
	VPBROADCASTW (4*k+2)(SP), Y10 \
	VPMADDWD     Y10, Y6, Y6 \
	VPADDD       Y6, Y11, Y11

// func dotQ5_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $16-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y12, Y12, Y12
	BCAST8($0x0f0f0f0f, X14, Y14)
	BCAST8($0x10101010, X13, Y13)
	TESTQ CX, CX
	JZ    q5kdone

q5kloop:
	K4SCALES
	MINS
	VMOVDQU 16(SI), Y9
	VPXOR   Y11, Y11, Y11
	Q5KSUB(0)
	Q5KSUB(1)
	Q5KSUB(2)
	Q5KSUB(3)
	VCVTDQ2PS   Y11, Y11
	FSCALE(0, X1, Y1)
	VFMADD231PS Y11, Y1, Y0
	ADDQ        $176, SI
	ADDQ        $256, DI
	ADDQ        $4, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         q5kloop

q5kdone:
	VSUBPS Y12, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// q6shuf<>+16i picks scale bytes 2i (into bytes 0-7) and 2i+1 (8-15), the
// scales of the two 16-element halves of a 32-quant vector.
DATA q6shuf<>+0(SB)/8, $0x0000000000000000
DATA q6shuf<>+8(SB)/8, $0x0101010101010101
DATA q6shuf<>+16(SB)/8, $0x0202020202020202
DATA q6shuf<>+24(SB)/8, $0x0303030303030303
DATA q6shuf<>+32(SB)/8, $0x0404040404040404
DATA q6shuf<>+40(SB)/8, $0x0505050505050505
DATA q6shuf<>+48(SB)/8, $0x0606060606060606
DATA q6shuf<>+56(SB)/8, $0x0707070707070707
DATA q6shuf<>+64(SB)/8, $0x0808080808080808
DATA q6shuf<>+72(SB)/8, $0x0909090909090909
DATA q6shuf<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA q6shuf<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA q6shuf<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA q6shuf<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA q6shuf<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA q6shuf<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q6shuf<>(SB), RODATA|NOPTR, $128

// Q6KQ(qv, xoff, i) adds to Y11 the products of the 32 6-bit quants in qv
// (0..63) with x at xoff(DI), scaled by scales 2i and 2i+1 (of X9).
#define Q6KQ(qv, xoff, i) \
	VPMADDUBSW xoff(DI), qv, Y5 \
	VPSHUFB    q6shuf<>+(16*i)(SB), X9, X10 \
	VPMOVSXBW  X10, Y10 \
	VPMADDWD   Y10, Y5, Y5 \
	VPADDD     Y5, Y11, Y11

// Q6KHALF(n) does the 128 elements of half n: ql at 64n(SI), qh at
// 128+32n(SI). Y14 holds bytes 0x0f, Y13 bytes 0x30.
#define Q6KHALF(n) \
	VMOVDQU (64*n)(SI), Y2 \
	VMOVDQU (64*n+32)(SI), Y3 \
	VMOVDQU (128+32*n)(SI), Y4 \
	VPAND   Y14, Y2, Y6 \
	VPSLLW  $4, Y4, Y7 \
	VPAND   Y13, Y7, Y7 \
	VPOR    Y7, Y6, Y6 \
	Q6KQ(Y6, (128*n), (4*n+0)) \
	VPAND   Y14, Y3, Y6 \
	VPSLLW  $2, Y4, Y7 \
	VPAND   Y13, Y7, Y7 \
	VPOR    Y7, Y6, Y6 \
	Q6KQ(Y6, (128*n+32), (4*n+1)) \
	VPSRLW  $4, Y2, Y6 \
	VPAND   Y14, Y6, Y6 \
	VPAND   Y13, Y4, Y7 \
	VPOR    Y7, Y6, Y6 \
	Q6KQ(Y6, (128*n+64), (4*n+2)) \
	VPSRLW  $4, Y3, Y6 \
	VPAND   Y14, Y6, Y6 \
	VPSRLW  $2, Y4, Y7 \
	VPAND   Y13, Y7, Y7 \
	VPOR    Y7, Y6, Y6 \
	Q6KQ(Y6, (128*n+96), (4*n+3))

// func dotQ6_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32
// The quants are stored +32; Σ(q-32)·x = Σq·x - 32·Σ bsum·scale.
TEXT ·dotQ6_KAVX2(SB), NOSPLIT, $0-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	VXORPS Y0, Y0, Y0
	BCAST8($0x0f0f0f0f, X14, Y14)
	BCAST8($0x30303030, X13, Y13)
	TESTQ CX, CX
	JZ    q6kdone

q6kloop:
	VMOVDQU 192(SI), X9
	VPXOR   Y11, Y11, Y11
	Q6KHALF(0)
	Q6KHALF(1)
	VPMOVSXBW   192(SI), Y8
	VPMADDWD    (BX), Y8, Y8
	VPSLLD      $5, Y8, Y8
	VPSUBD      Y8, Y11, Y11
	VCVTDQ2PS   Y11, Y11
	FSCALE(208, X1, Y1)
	VFMADD231PS Y11, Y1, Y0
	ADDQ        $210, SI
	ADDQ        $256, DI
	ADDQ        $4, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         q6kloop

q6kdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// Tiles: 2 weight rows x 4 tokens per pass over the blocks, so each block
// of weights is loaded once for four tokens and each block of activations
// once for two rows. Registers: rows' signed weights Y14/Y15, their
// magnitudes Y8/Y9, their scales Y10/Y11; accumulators Y16-Y19 (row 0,
// tokens 0-3) and Y20-Y23 (row 1), which only EVEX encodings reach, hence
// AVX-512VL. Strides: R8 weight row bytes, R9 activation row bytes, R10
// 3*R9, R11 scale row bytes, R12 3*R11.

// TPAIR(xa, da, a0, a1) multiplies the token whose quants are at xa and
// scale at da with both rows, adding into accumulators a0 and a1.
#define TPAIR(xa, da, a0, a1) \
	VMOVDQU      xa, Y0 \
	VBROADCASTSS da, Y1 \
	VPSIGNB      Y14, Y0, Y2 \
	VPXOR        Y3, Y3, Y3 \
	VPDPBUSD     Y2, Y8, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VMULPS       Y10, Y1, Y4 \
	VFMADD231PS  Y3, Y4, a0 \
	VPSIGNB      Y15, Y0, Y2 \
	VPXOR        Y3, Y3, Y3 \
	VPDPBUSD     Y2, Y9, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VMULPS       Y11, Y1, Y4 \
	VFMADD231PS  Y3, Y4, a1

#define TTOKENS \
	TPAIR((DI), (DX), Y16, Y20) \
	TPAIR((DI)(R9*1), (DX)(R11*1), Y17, Y21) \
	TPAIR((DI)(R9*2), (DX)(R11*2), Y18, Y22) \
	TPAIR((DI)(R10*1), (DX)(R12*1), Y19, Y23)

// TROWSCALES loads the half scales of both rows' current block at 0(SI).
#define TROWSCALES \
	VPBROADCASTW (SI), X10 \
	VCVTPH2PS    X10, Y10 \
	VPBROADCASTW (SI)(R8*1), X11 \
	VCVTPH2PS    X11, Y11 \
	VPSIGNB      Y14, Y14, Y8 \
	VPSIGNB      Y15, Y15, Y9

// TSETUP derives the strides and clears the accumulators.
#define TSETUP \
	LEAQ     (R9)(R9*2), R10 \
	LEAQ     (CX*4), R11 \
	LEAQ     (R11)(R11*2), R12 \
	VPXORD   Y16, Y16, Y16 \
	VMOVDQA64 Y16, Y17 \
	VMOVDQA64 Y16, Y18 \
	VMOVDQA64 Y16, Y19 \
	VMOVDQA64 Y16, Y20 \
	VMOVDQA64 Y16, Y21 \
	VMOVDQA64 Y16, Y22 \
	VMOVDQA64 Y16, Y23

// TSTORE1(acc, off) stores the horizontal sum of acc at off(AX).
#define TSTORE1(acc, off) \
	VMOVAPS acc, Y0 \
	HSUM \
	VMOVSS  X0, off(AX)

// TSTORE writes the 8 sums: token t's two rows at out + t*ldo*4.
// AX holds out, BX ldo*4.
#define TSTORE \
	TSTORE1(Y16, 0) \
	TSTORE1(Y20, 4) \
	ADDQ BX, AX \
	TSTORE1(Y17, 0) \
	TSTORE1(Y21, 4) \
	ADDQ BX, AX \
	TSTORE1(Y18, 0) \
	TSTORE1(Y22, 4) \
	ADDQ BX, AX \
	TSTORE1(Y19, 0) \
	TSTORE1(Y23, 4) \
	VZEROUPPER

// func tileQ8_0VNNI(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ8_0VNNI(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+40(FP), CX
	MOVQ cols+48(FP), R9
	TSETUP
	TESTQ CX, CX
	JZ    t80done

t80loop:
	VMOVDQU 2(SI), Y14
	VMOVDQU 2(SI)(R8*1), Y15
	TROWSCALES
	TTOKENS
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  t80loop

t80done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	TSTORE
	RET

// TUNPACK40(addr, y) unpacks the Q4_0 block at addr into 32 signed bytes
// in y. Y12 holds bytes 0x0f, Y13 bytes 8.
#define TUNPACK40(addr, x, y) \
	VMOVDQU     addr, x \
	VPSRLW      $4, x, X2 \
	VINSERTI128 $1, X2, y, y \
	VPAND       Y12, y, y \
	VPSUBB      Y13, y, y

// func tileQ4_0VNNI(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ4_0VNNI(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+40(FP), CX
	MOVQ cols+48(FP), R9
	TSETUP
	BCAST8($0x0f0f0f0f, X12, Y12)
	BCAST8($0x08080808, X13, Y13)
	TESTQ CX, CX
	JZ    t40done

t40loop:
	TUNPACK40(2(SI), X14, Y14)
	TUNPACK40(2(SI)(R8*1), X15, Y15)
	TROWSCALES
	TTOKENS
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  t40loop

t40done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	TSTORE
	RET

DATA kmask3f<>+0(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA kmask3f<>+8(SB)/8, $0x3f3f3f3f3f3f3f3f
GLOBL kmask3f<>(SB), RODATA|NOPTR, $16
DATA kmask0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA kmask0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL kmask0f<>(SB), RODATA|NOPTR, $16
DATA kmask03<>+0(SB)/8, $0x0303030303030303
DATA kmask03<>+8(SB)/8, $0x0303030303030303
GLOBL kmask03<>(SB), RODATA|NOPTR, $16

// VK4SCALES(src, sp, mins) unpacks the 6-bit scales and mins of a
// Q4_K/Q5_K block, whose 12 scale bytes start at src, with vector ops (the kmask shuffle of K4SCALES
// on the three dwords at once, leaving the general registers free): the 8
// scales as words go to sp, the 8 mins as words to mins. Clobbers X0-X3.
#define VK4SCALES(base, sp, mins) \
	VMOVDQU    base, X0 \
	VPAND      kmask3f<>(SB), X0, X1 \
	VPSRLD     $6, X0, X2 \
	VPAND      kmask03<>(SB), X2, X2 \
	VPSLLD     $4, X2, X2 \
	VPAND      kmask0f<>(SB), X0, X3 \
	VPSRLD     $4, X0, X0 \
	VPAND      kmask0f<>(SB), X0, X0 \
	VPUNPCKHDQ X0, X3, X3 \
	VPOR       X2, X3, X3 \
	VPUNPCKLDQ X3, X1, X1 \
	VPMOVZXBW  X1, X0 \
	VMOVDQU    X0, sp \
	VPSRLDQ    $8, X1, X1 \
	VPMOVZXBW  X1, mins

// Q6_K quant builders: Q6Bi(ql0, ql1, qh, dst) puts quant vector i (0-3)
// of a half, 32 6-bit values, in dst from the half's low bits ql0 (64n),
// ql1 (64n+32) and high bits qh. Y14 holds bytes 0x0f, Y15 bytes 0x30; Y3
// is clobbered.

#define Q6B0(ql0, ql1, qh, dst) \
	VPAND  Y14, ql0, dst \
	VPSLLW $4, qh, Y3 \
	VPAND  Y15, Y3, Y3 \
	VPOR   Y3, dst, dst

#define Q6B1(ql0, ql1, qh, dst) \
	VPAND  Y14, ql1, dst \
	VPSLLW $2, qh, Y3 \
	VPAND  Y15, Y3, Y3 \
	VPOR   Y3, dst, dst

#define Q6B2(ql0, ql1, qh, dst) \
	VPSRLW $4, ql0, dst \
	VPAND  Y14, dst, dst \
	VPAND  Y15, qh, Y3 \
	VPOR   Y3, dst, dst

#define Q6B3(ql0, ql1, qh, dst) \
	VPSRLW $4, ql1, dst \
	VPAND  Y14, dst, dst \
	VPSRLW $2, qh, Y3 \
	VPAND  Y15, Y3, Y3 \
	VPOR   Y3, dst, dst


DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func quantQ8_0AVX2(x []float32, q []int8, d []float32)
// Quantizes len(d) blocks of 32 as ggml's x86 quantize_row_q8_0: d =
// amax/127 (stored rounded through a half), quants x·(127/amax) rounded to
// nearest even (the MXCSR default) and packed with signed saturation.
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-72
	MOVQ x_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X14
	VXORPS X13, X13, X13
	VMOVDQU q8perm<>(SB), Y12
	TESTQ CX, CX
	JZ    qq8done

qq8loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7
	VMAXPS  Y5, Y4, Y4
	VMAXPS  Y7, Y6, Y6
	VMAXPS  Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS  X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VMAXPS  X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VMAXSS  X5, X4, X4
	VDIVSS  X14, X4, X5
	VCVTPS2PH $0, X5, X6
	VCVTPH2PS X6, X6
	VMOVSS  X6, (DX)
	VDIVSS  X4, X14, X7
	VCMPSS  $4, X13, X4, X8
	VANDPS  X8, X7, X7
	VBROADCASTSS X7, Y7
	VMULPS  Y7, Y0, Y0
	VMULPS  Y7, Y1, Y1
	VMULPS  Y7, Y2, Y2
	VMULPS  Y7, Y3, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y12, Y0
	VMOVDQU   Y0, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  qq8loop

qq8done:
	VZEROUPPER
	RET

// func roundF16AVX2(x, dst []float32)
// Rounds len(x) &^ 7 values to half precision (nearest even).
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-48
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ dst_base+24(FP), DI
	SHRQ $3, CX
	JZ   rf16done

rf16loop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VCVTPH2PS X1, Y1
	VMOVUPS   Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  rf16loop

rf16done:
	VZEROUPPER
	RET

// func dotBF16AVX2(w []byte, x []float32) float32
// Handles len(x) &^ 7 elements: a bfloat16 is the top half of a float32.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX
	JZ   bf16done

bf16loop:
	VPMOVZXWD   (SI), Y4
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         bf16loop

bf16done:
	VADDPS Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func quantQ8_KAVX2(x []float32, q []int8, d []float32, bs []int16)
// Quantizes len(d) super-blocks of 256 as ggml's quantize_row_q8_K_ref:
// the first value of largest magnitude, with its sign, maps to -127
// (iscale = -127/max), quants round to nearest even, d = 1/iscale, and bs
// gets the sums of each 16 quants.
TEXT ·quantQ8_KAVX2(SB), NOSPLIT, $0-96
	MOVQ x_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0xc2fe0000, AX // -127.0
	VMOVD AX, X14
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X9
	VXORPS X13, X13, X13
	VMOVDQU q8perm<>(SB), Y12
	BCAST8($0x01010101, X11, Y11)
	ONES16(Y10)
	TESTQ CX, CX
	JZ    qqkdone

qqkloop:
	// amax over the 256 values
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   $8, R8

qqkmax:
	VANDPS (R9), Y15, Y0
	VANDPS 32(R9), Y15, Y1
	VANDPS 64(R9), Y15, Y2
	VANDPS 96(R9), Y15, Y3
	VMAXPS Y0, Y4, Y4
	VMAXPS Y1, Y5, Y5
	VMAXPS Y2, Y6, Y6
	VMAXPS Y3, Y7, Y7
	ADDQ   $128, R9
	DECQ   R8
	JNZ    qqkmax
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS  X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VMAXPS  X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VMAXSS  X5, X4, X4
	VUCOMISS X13, X4
	JEQ     qqkzero
	VBROADCASTSS X4, Y4

	// the first value whose magnitude is amax
	MOVQ SI, R9
	XORQ R10, R10

qqkfind:
	VANDPS    (R9), Y15, Y0
	VCMPPS    $0, Y4, Y0, Y0
	VMOVMSKPS Y0, AX
	TESTL     AX, AX
	JNZ       qqkfound
	ADDQ      $32, R9
	ADDQ      $8, R10
	JMP       qqkfind

qqkfound:
	BSFL   AX, AX
	ADDQ   R10, AX
	VMOVSS (SI)(AX*4), X5
	VDIVSS X5, X14, X6
	VDIVSS X6, X9, X7
	VMOVSS X7, (DX)
	VBROADCASTSS X6, Y6
	MOVQ   $8, R8

qqkquant:
	VMULPS    (SI), Y6, Y0
	VMULPS    32(SI), Y6, Y1
	VMULPS    64(SI), Y6, Y2
	VMULPS    96(SI), Y6, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y12, Y0
	VMOVDQU   Y0, (DI)
	VPMADDUBSW Y0, Y11, Y1
	VPMADDWD  Y10, Y1, Y1
	VPHADDD   Y1, Y1, Y1
	VPHADDD   Y1, Y1, Y1
	VMOVD     X1, AX
	MOVW      AX, (BX)
	VEXTRACTI128 $1, Y1, X1
	VMOVD     X1, AX
	MOVW      AX, 2(BX)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, BX
	DECQ R8
	JNZ  qqkquant
	ADDQ $4, DX
	DECQ CX
	JNZ  qqkloop
	JMP  qqkdone

qqkzero:
	VXORPS  Y0, Y0, Y0
	VMOVDQU Y0, (DI)
	VMOVDQU Y0, 32(DI)
	VMOVDQU Y0, 64(DI)
	VMOVDQU Y0, 96(DI)
	VMOVDQU Y0, 128(DI)
	VMOVDQU Y0, 160(DI)
	VMOVDQU Y0, 192(DI)
	VMOVDQU Y0, 224(DI)
	VMOVDQU Y0, (BX)
	MOVL    $0, (DX)
	ADDQ $1024, SI
	ADDQ $256, DI
	ADDQ $32, BX
	ADDQ $4, DX
	DECQ CX
	JNZ  qqkloop

qqkdone:
	VZEROUPPER
	RET

// Float tiles: 2 rows x 4 tokens of float32 activations, 8 elements per
// step. Y0-Y3 row 0 tokens 0-3, Y4-Y7 row 1; Y8/Y9 the rows' weights as
// float32; Y10 a token's activations. R8 weight row bytes, R9 activation
// row bytes (cols*4), R10 3*R9; CX steps of 8.

#define FTOKEN(xa, a0, a1) \
	VMOVUPS     xa, Y10 \
	VFMADD231PS Y10, Y8, a0 \
	VFMADD231PS Y10, Y9, a1

#define FTOKENS \
	FTOKEN((DI), Y0, Y4) \
	FTOKEN((DI)(R9*1), Y1, Y5) \
	FTOKEN((DI)(R9*2), Y2, Y6) \
	FTOKEN((DI)(R10*1), Y3, Y7)

#define FSETUP \
	LEAQ   (R9*4), R9 \
	LEAQ   (R9)(R9*2), R10 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7

// FSTORE1(acc, xacc, off) stores the horizontal sum of acc (xacc its low
// half) at off(AX).
#define FSTORE1(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X11 \
	VADDPS       X11, xacc, X11 \
	VPSHUFD      $0x4e, X11, X12 \
	VADDPS       X12, X11, X11 \
	VPSHUFD      $0xb1, X11, X12 \
	VADDSS       X12, X11, X11 \
	VMOVSS       X11, off(AX)

#define FSTORE \
	FSTORE1(Y0, X0, 0) \
	FSTORE1(Y4, X4, 4) \
	ADDQ BX, AX \
	FSTORE1(Y1, X1, 0) \
	FSTORE1(Y5, X5, 4) \
	ADDQ BX, AX \
	FSTORE1(Y2, X2, 0) \
	FSTORE1(Y6, X6, 4) \
	ADDQ BX, AX \
	FSTORE1(Y3, X3, 0) \
	FSTORE1(Y7, X7, 4) \
	VZEROUPPER

// func tileF16AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)
TEXT ·tileF16AVX2(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n8+40(FP), CX
	MOVQ cols+48(FP), R9
	FSETUP
	TESTQ CX, CX
	JZ    tf16done

tf16loop:
	VCVTPH2PS (SI), Y8
	VCVTPH2PS (SI)(R8*1), Y9
	FTOKENS
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  tf16loop

tf16done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	FSTORE
	RET

// func tileBF16AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)
TEXT ·tileBF16AVX2(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n8+40(FP), CX
	MOVQ cols+48(FP), R9
	FSETUP
	TESTQ CX, CX
	JZ    tbf16done

tbf16loop:
	VPMOVZXWD (SI), Y8
	VPSLLD    $16, Y8, Y8
	VPMOVZXWD (SI)(R8*1), Y9
	VPSLLD    $16, Y9, Y9
	FTOKENS
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  tbf16loop

tbf16done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	FSTORE
	RET

// func tileF32AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)
TEXT ·tileF32AVX2(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n8+40(FP), CX
	MOVQ cols+48(FP), R9
	FSETUP
	TESTQ CX, CX
	JZ    tf32done

tf32loop:
	VMOVUPS (SI), Y8
	VMOVUPS (SI)(R8*1), Y9
	FTOKENS
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  tf32loop

tf32done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	FSTORE
	RET

// AVX-512 float tiles: as the AVX2 ones with 16 elements per step in Z
// registers. Z0-Z3 row 0 tokens 0-3, Z4-Z7 row 1; Z8/Z9 the rows' weights as
// float32; Z10 a token's activations. R8 weight row bytes, R9 activation
// row bytes (cols*4), R10 3*R9; CX steps of 16.

#define ZFTOKEN(xa, a0, a1) \
	VMOVUPS     xa, Z10 \
	VFMADD231PS Z10, Z8, a0 \
	VFMADD231PS Z10, Z9, a1

#define ZFTOKENS \
	ZFTOKEN((DI), Z0, Z4) \
	ZFTOKEN((DI)(R9*1), Z1, Z5) \
	ZFTOKEN((DI)(R9*2), Z2, Z6) \
	ZFTOKEN((DI)(R10*1), Z3, Z7)

#define ZFSETUP \
	LEAQ   (R9*4), R9 \
	LEAQ   (R9)(R9*2), R10 \
	VXORPS Z0, Z0, Z0 \
	VXORPS Z1, Z1, Z1 \
	VXORPS Z2, Z2, Z2 \
	VXORPS Z3, Z3, Z3 \
	VXORPS Z4, Z4, Z4 \
	VXORPS Z5, Z5, Z5 \
	VXORPS Z6, Z6, Z6 \
	VXORPS Z7, Z7, Z7

// ZFSTORE1(acc, xacc, off) stores the horizontal sum of acc (xacc its low
// half) at off(AX).
#define ZFSTORE1(acc, xacc, off) \
	VEXTRACTF64X4 $1, acc, Y11 \
	VADDPS       Y11, xacc, Y11 \
	VEXTRACTF128 $1, Y11, X12 \
	VADDPS       X12, X11, X11 \
	VPSHUFD      $0x4e, X11, X12 \
	VADDPS       X12, X11, X11 \
	VPSHUFD      $0xb1, X11, X12 \
	VADDSS       X12, X11, X11 \
	VMOVSS       X11, off(AX)

#define ZFSTORE \
	ZFSTORE1(Z0, Y0, 0) \
	ZFSTORE1(Z4, Y4, 4) \
	ADDQ BX, AX \
	ZFSTORE1(Z1, Y1, 0) \
	ZFSTORE1(Z5, Y5, 4) \
	ADDQ BX, AX \
	ZFSTORE1(Z2, Y2, 0) \
	ZFSTORE1(Z6, Y6, 4) \
	ADDQ BX, AX \
	ZFSTORE1(Z3, Y3, 0) \
	ZFSTORE1(Z7, Y7, 4) \
	VZEROUPPER

// func tileF16AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)
TEXT ·tileF16AVX512(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n16+40(FP), CX
	MOVQ cols+48(FP), R9
	ZFSETUP
	TESTQ CX, CX
	JZ    ztf16done

ztf16loop:
	VCVTPH2PS (SI), Z8
	VCVTPH2PS (SI)(R8*1), Z9
	ZFTOKENS
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  ztf16loop

ztf16done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZFSTORE
	RET

// func tileBF16AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)
TEXT ·tileBF16AVX512(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n16+40(FP), CX
	MOVQ cols+48(FP), R9
	ZFSETUP
	TESTQ CX, CX
	JZ    ztbf16done

ztbf16loop:
	VPMOVZXWD (SI), Z8
	VPSLLD    $16, Z8, Z8
	VPMOVZXWD (SI)(R8*1), Z9
	VPSLLD    $16, Z9, Z9
	ZFTOKENS
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  ztbf16loop

ztbf16done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZFSTORE
	RET

// func tileF32AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)
TEXT ·tileF32AVX512(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ x+24(FP), DI
	MOVQ n16+40(FP), CX
	MOVQ cols+48(FP), R9
	ZFSETUP
	TESTQ CX, CX
	JZ    ztf32done

ztf32loop:
	VMOVUPS (SI), Z8
	VMOVUPS (SI)(R8*1), Z9
	ZFTOKENS
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  ztf32loop

ztf32done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZFSTORE
	RET

// Q8_0 tile in Z registers: 2 rows x 4 tokens, two blocks (64 quants) per
// step; nb must be even. VPDPBUSD multiplies unsigned by signed bytes, and
// AVX-512 has no VPSIGNB, so the activations are made unsigned instead:
// (x+128)·w = x·w + 128·w, and the 128·Σw per 4 bytes that this adds is
// subtracted by starting each block's integer sum at -128·Σw.
// Z8/Z9 the rows' weights, Z10/Z11 their starting sums, Z12/Z13 their
// scales (block 0 in lanes 0-7, block 1 in 8-15), Z14 bytes 0x80, Z15
// bytes 1, Z16-Z19 row 0 tokens 0-3 and Z20-Z23 row 1; Z24 the scale
// lane pattern. Strides as in the Y tiles.

DATA zpair<>+0(SB)/8, $0
DATA zpair<>+8(SB)/8, $0
DATA zpair<>+16(SB)/8, $0
DATA zpair<>+24(SB)/8, $0
DATA zpair<>+32(SB)/8, $0x0000000100000001
DATA zpair<>+40(SB)/8, $0x0000000100000001
DATA zpair<>+48(SB)/8, $0x0000000100000001
DATA zpair<>+56(SB)/8, $0x0000000100000001
GLOBL zpair<>(SB), RODATA|NOPTR, $64

// ZROW(off, w, init, sc) loads the row's two blocks at off(SI)..., their
// -128·Σw start and their scales.
#define ZROW(a0, a1, h0, h1, w, init, sc, ysc, xsc) \
	VMOVDQU      a0, Y0 \
	VINSERTI64X4 $1, a1, Z0, w \
	VPXORD       init, init, init \
	VPDPBUSD     w, Z15, init \
	VPSLLD       $7, init, init \
	VPXORD       Z1, Z1, Z1 \
	VPSUBD       init, Z1, init \
	VPBROADCASTW h0, X2 \
	VPBROADCASTW h1, X3 \
	VINSERTI128  $1, X3, Y2, ysc \
	VCVTPH2PS    ysc, sc

// ZPAIR(xa, da, acc0, acc1) runs one token's 64 quants at xa, scales at da
// against both rows.
#define ZPAIR(xa, da, acc0, acc1) \
	VPXORD       xa, Z14, Z0 \
	VMOVQ        da, X1 \
	VPERMPS      Z1, Z24, Z1 \
	VMOVDQA64    Z10, Z4 \
	VPDPBUSD     Z8, Z0, Z4 \
	VCVTDQ2PS    Z4, Z4 \
	VMULPS       Z12, Z1, Z2 \
	VFMADD231PS  Z4, Z2, acc0 \
	VMOVDQA64    Z11, Z5 \
	VPDPBUSD     Z9, Z0, Z5 \
	VCVTDQ2PS    Z5, Z5 \
	VMULPS       Z13, Z1, Z3 \
	VFMADD231PS  Z5, Z3, acc1

// ZSTORE1(acc, off) stores the horizontal sum of acc at off(AX).
#define ZSTORE1(acc, off) \
	VEXTRACTF64X4 $1, acc, Y11 \
	VADDPS       acc, Z11, Z11 \
	VEXTRACTF128 $1, Y11, X12 \
	VADDPS       X12, X11, X11 \
	VPSHUFD      $0x4e, X11, X12 \
	VADDPS       X12, X11, X11 \
	VPSHUFD      $0xb1, X11, X12 \
	VADDSS       X12, X11, X11 \
	VMOVSS       X11, off(AX)

// func tileQ8_0Z(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ8_0Z(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+40(FP), CX
	MOVQ cols+48(FP), R9
	LEAQ (R9)(R9*2), R10
	LEAQ (CX*4), R11
	LEAQ (R11)(R11*2), R12
	SHRQ $1, CX
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z14
	MOVL $0x01010101, AX
	VPBROADCASTD AX, Z15
	VMOVDQU64 zpair<>(SB), Z24
	VPXORD    Z16, Z16, Z16
	VMOVDQA64 Z16, Z17
	VMOVDQA64 Z16, Z18
	VMOVDQA64 Z16, Z19
	VMOVDQA64 Z16, Z20
	VMOVDQA64 Z16, Z21
	VMOVDQA64 Z16, Z22
	VMOVDQA64 Z16, Z23
	TESTQ CX, CX
	JZ    tz80done

tz80loop:
	ZROW(2(SI), 36(SI), (SI), 34(SI), Z8, Z10, Z12, Y12, X12)
	ZROW(2(SI)(R8*1), 36(SI)(R8*1), (SI)(R8*1), 34(SI)(R8*1), Z9, Z11, Z13, Y13, X13)
	ZPAIR((DI), (DX), Z16, Z20)
	ZPAIR((DI)(R9*1), (DX)(R11*1), Z17, Z21)
	ZPAIR((DI)(R9*2), (DX)(R11*2), Z18, Z22)
	ZPAIR((DI)(R10*1), (DX)(R12*1), Z19, Z23)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ  tz80loop

tz80done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZSTORE1(Z16, 0)
	ZSTORE1(Z20, 4)
	ADDQ BX, AX
	ZSTORE1(Z17, 0)
	ZSTORE1(Z21, 4)
	ADDQ BX, AX
	ZSTORE1(Z18, 0)
	ZSTORE1(Z22, 4)
	ADDQ BX, AX
	ZSTORE1(Z19, 0)
	ZSTORE1(Z23, 4)
	VZEROUPPER
	RET

// Q4_K tile in Z registers: per step k a row's 32 low and 32 high nibbles
// go into one Z register (sub-blocks 2k and 2k+1, which are x[64k:64k+64]
// in order), against a word vector of the two sub-block scales, so each
// token costs three instructions per 64 quants. Z4/Z5 the rows' quants,
// Z6/Z7 their scales, Z8/Z9 row 0's d and dmin, Z10/Z11 row 1's, X12/X13
// the rows' mins, Y14 bytes 0x0f; strides and the integer (Z16-Z23) and
// float (Z24-Z31) sums as in tileQ6_KZ.

// ZK4ROW(k, base, qz, sz, sp) loads a row's step k.
#define ZK4ROW(k, src, qz, sz, ysz, sp) \
	VMOVDQU      src, Y0 \
	VPAND        Y14, Y0, Y1 \
	VPSRLW       $4, Y0, Y0 \
	VPAND        Y14, Y0, Y0 \
	VINSERTI64X4 $1, Y0, Z1, qz \
	VPBROADCASTW (sp+4*k)(SP), ysz \
	VPBROADCASTW (sp+4*k+2)(SP), Y0 \
	VINSERTI64X4 $1, Y0, sz, sz

#define ZK4PAIR(xa, acc0, acc1) \
	VPMADDUBSW xa, Z4, Z0 \
	VPMADDWD   Z6, Z0, Z0 \
	VPADDD     Z0, acc0, acc0 \
	VPMADDUBSW xa, Z5, Z1 \
	VPMADDWD   Z7, Z1, Z1 \
	VPADDD     Z1, acc1, acc1

#define ZK4STEP(k) \
	ZK4ROW(k, (16+32*k)(SI), Z4, Z6, Y6, 0) \
	ZK4ROW(k, (16+32*k)(SI)(R8*1), Z5, Z7, Y7, 16) \
	ZK4PAIR((64*k)(DI), Z16, Z20) \
	ZK4PAIR((64*k)(DI)(R9*1), Z17, Z21) \
	ZK4PAIR((64*k)(DI)(R9*2), Z18, Z22) \
	ZK4PAIR((64*k)(DI)(R10*1), Z19, Z23)

#define ZK4FLUSH(da, ba, ba16, i0, i1, f0, f1) \
	VBROADCASTSS  da, Z0 \
	VMOVDQU       ba, X2 \
	VPHADDW       ba16, X2, X2 \
	VCVTDQ2PS     i0, i0 \
	VMULPS        Z8, Z0, Z1 \
	VFMADD231PS   i0, Z1, f0 \
	VPMADDWD      X12, X2, X3 \
	VCVTDQ2PS     X3, X3 \
	VMULPS        Z9, Z0, Z1 \
	VFNMADD231PS  Z3, Z1, f0 \
	VCVTDQ2PS     i1, i1 \
	VMULPS        Z10, Z0, Z1 \
	VFMADD231PS   i1, Z1, f1 \
	VPMADDWD      X13, X2, X3 \
	VCVTDQ2PS     X3, X3 \
	VMULPS        Z11, Z0, Z1 \
	VFNMADD231PS  Z3, Z1, f1

#define ZKROWSCALES \
	VPBROADCASTW (SI), Y8 \
	VCVTPH2PS    Y8, Z8 \
	VPBROADCASTW 2(SI), Y9 \
	VCVTPH2PS    Y9, Z9 \
	VPBROADCASTW (SI)(R8*1), Y10 \
	VCVTPH2PS    Y10, Z10 \
	VPBROADCASTW 2(SI)(R8*1), Y11 \
	VCVTPH2PS    Y11, Z11

// func tileQ4_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ4_KZ(SB), NOSPLIT, $32-72
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
	LEAQ (R13)(R13*2), AX
	VPXORD    Z24, Z24, Z24
	VMOVDQA64 Z24, Z25
	VMOVDQA64 Z24, Z26
	VMOVDQA64 Z24, Z27
	VMOVDQA64 Z24, Z28
	VMOVDQA64 Z24, Z29
	VMOVDQA64 Z24, Z30
	VMOVDQA64 Z24, Z31
	TESTQ CX, CX
	JZ    tz4kdone

tz4kloop:
	VK4SCALES(4(SI), 0(SP), X12)
	VK4SCALES(4(SI)(R8*1), 16(SP), X13)
	ZKROWSCALES
	VPXORD    Z16, Z16, Z16
	VMOVDQA64 Z16, Z17
	VMOVDQA64 Z16, Z18
	VMOVDQA64 Z16, Z19
	VMOVDQA64 Z16, Z20
	VMOVDQA64 Z16, Z21
	VMOVDQA64 Z16, Z22
	VMOVDQA64 Z16, Z23
	ZK4STEP(0)
	ZK4STEP(1)
	ZK4STEP(2)
	ZK4STEP(3)
	ZK4FLUSH((DX), (BX), 16(BX), Z16, Z20, Z24, Z28)
	ZK4FLUSH((DX)(R11*1), (BX)(R13*1), 16(BX)(R13*1), Z17, Z21, Z25, Z29)
	ZK4FLUSH((DX)(R11*2), (BX)(R13*2), 16(BX)(R13*2), Z18, Z22, Z26, Z30)
	ZK4FLUSH((DX)(R12*1), (BX)(AX*1), 16(BX)(AX*1), Z19, Z23, Z27, Z31)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  tz4kloop

tz4kdone:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZSTORE1(Z24, 0)
	ZSTORE1(Z28, 4)
	ADDQ BX, AX
	ZSTORE1(Z25, 0)
	ZSTORE1(Z29, 4)
	ADDQ BX, AX
	ZSTORE1(Z26, 0)
	ZSTORE1(Z30, 4)
	ADDQ BX, AX
	ZSTORE1(Z27, 0)
	ZSTORE1(Z31, 4)
	VZEROUPPER
	RET

// Q6_K tile in Z registers: quant vectors 2p and 2p+1 of a half (x[64p:
// 64p+64] of it, in order) share one Z register, against the four scales
// of their 16-quant groups widened to words. Y8-Y10 row 0's ql0/ql1/qh of
// the half, Y11-Y13 row 1's, Y14/Y15 the masks of the Q6B builders; Y1/Y2
// the rows' 16 scale bytes in both lanes, Z4/Z5 the rows' quants, Z6/Z7
// their scales; Z16-Z23 the integer sums of a super-block (row 0 tokens
// 0-3, row 1 tokens 0-3), Z24-Z31 the float sums. Strides: R8 weight row,
// R9 activation row (cols), R10 3*R9, R11 scale row (nb*4), R12 3*R11, R13
// bsum row (cols/8 bytes), AX 3*R13.

#define ZQ6PAIR(xa, acc0, acc1) \
	VPMADDUBSW xa, Z4, Z0 \
	VPMADDWD   Z6, Z0, Z0 \
	VPADDD     Z0, acc0, acc0 \
	VPMADDUBSW xa, Z5, Z0 \
	VPMADDWD   Z7, Z0, Z0 \
	VPADDD     Z0, acc1, acc1

// ZQ6VEC(BA, BB, n, p) builds vectors 2p and 2p+1 of half n for both rows
// and runs the four tokens over them.
#define ZQ6VEC(BA, BB, n, p) \
	BA(Y8, Y9, Y10, Y4) \
	BB(Y8, Y9, Y10, Y0) \
	VINSERTI64X4 $1, Y0, Z4, Z4 \
	BA(Y11, Y12, Y13, Y5) \
	BB(Y11, Y12, Y13, Y0) \
	VINSERTI64X4 $1, Y0, Z5, Z5 \
	VPSHUFB      q6shuf<>+(16*(4*n+2*p))(SB), Y1, Y6 \
	VPMOVSXBW    Y6, Z6 \
	VPSHUFB      q6shuf<>+(16*(4*n+2*p))(SB), Y2, Y7 \
	VPMOVSXBW    Y7, Z7 \
	ZQ6PAIR((128*n+64*p)(DI), Z16, Z20) \
	ZQ6PAIR((128*n+64*p)(DI)(R9*1), Z17, Z21) \
	ZQ6PAIR((128*n+64*p)(DI)(R9*2), Z18, Z22) \
	ZQ6PAIR((128*n+64*p)(DI)(R10*1), Z19, Z23)

#define ZQ6HALF(n) \
	VMOVDQU (64*n)(SI), Y8 \
	VMOVDQU (64*n+32)(SI), Y9 \
	VMOVDQU (128+32*n)(SI), Y10 \
	VMOVDQU (64*n)(SI)(R8*1), Y11 \
	VMOVDQU (64*n+32)(SI)(R8*1), Y12 \
	VMOVDQU (128+32*n)(SI)(R8*1), Y13 \
	ZQ6VEC(Q6B0, Q6B1, n, 0) \
	ZQ6VEC(Q6B2, Q6B3, n, 1)

// ZQ6FLUSH(da, ba, i0, i1, f0, f1) subtracts 32·Σ scale·bsum from one
// token's integer sums (the quants are stored +32) and folds them into its
// float sums with d·dx. The token's scale is at da, its bsums at ba; Y1/Y2
// hold the rows' 16 scales as words, Z3/Z4 their d.
#define ZQ6FLUSH(da, ba, i0, i1, f0, f1) \
	VBROADCASTSS da, Z5 \
	VPMADDWD     ba, Y1, Y0 \
	VPSLLD       $5, Y0, Y0 \
	VPSUBD       Z0, i0, i0 \
	VCVTDQ2PS    i0, i0 \
	VMULPS       Z3, Z5, Z6 \
	VFMADD231PS  i0, Z6, f0 \
	VPMADDWD     ba, Y2, Y0 \
	VPSLLD       $5, Y0, Y0 \
	VPSUBD       Z0, i1, i1 \
	VCVTDQ2PS    i1, i1 \
	VMULPS       Z4, Z5, Z6 \
	VFMADD231PS  i1, Z6, f1

// func tileQ6_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ6_KZ(SB), NOSPLIT, $0-72
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
	BCAST8($0x30303030, X15, Y15)
	LEAQ (R13)(R13*2), AX
	VPXORD    Z24, Z24, Z24
	VMOVDQA64 Z24, Z25
	VMOVDQA64 Z24, Z26
	VMOVDQA64 Z24, Z27
	VMOVDQA64 Z24, Z28
	VMOVDQA64 Z24, Z29
	VMOVDQA64 Z24, Z30
	VMOVDQA64 Z24, Z31
	TESTQ CX, CX
	JZ    tz6kdone

tz6kloop:
	VBROADCASTI128 192(SI), Y1
	VBROADCASTI128 192(SI)(R8*1), Y2
	VPXORD    Z16, Z16, Z16
	VMOVDQA64 Z16, Z17
	VMOVDQA64 Z16, Z18
	VMOVDQA64 Z16, Z19
	VMOVDQA64 Z16, Z20
	VMOVDQA64 Z16, Z21
	VMOVDQA64 Z16, Z22
	VMOVDQA64 Z16, Z23
	ZQ6HALF(0)
	ZQ6HALF(1)
	VPMOVSXBW    192(SI), Y1
	VPMOVSXBW    192(SI)(R8*1), Y2
	VPBROADCASTW 208(SI), Y3
	VCVTPH2PS    Y3, Z3
	VPBROADCASTW 208(SI)(R8*1), Y4
	VCVTPH2PS    Y4, Z4
	ZQ6FLUSH((DX), (BX), Z16, Z20, Z24, Z28)
	ZQ6FLUSH((DX)(R11*1), (BX)(R13*1), Z17, Z21, Z25, Z29)
	ZQ6FLUSH((DX)(R11*2), (BX)(R13*2), Z18, Z22, Z26, Z30)
	ZQ6FLUSH((DX)(R12*1), (BX)(AX*1), Z19, Z23, Z27, Z31)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  tz6kloop

tz6kdone:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	ZSTORE1(Z24, 0)
	ZSTORE1(Z28, 4)
	ADDQ BX, AX
	ZSTORE1(Z25, 0)
	ZSTORE1(Z29, 4)
	ADDQ BX, AX
	ZSTORE1(Z26, 0)
	ZSTORE1(Z30, 4)
	ADDQ BX, AX
	ZSTORE1(Z27, 0)
	ZSTORE1(Z31, 4)
	VZEROUPPER
	RET
