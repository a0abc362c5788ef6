#include "textflag.h"
#include "simd_amd64.h"

// Row kernels: one weight row times one row of activations.

// The Q8_0 row kernels take two blocks per iteration into two
// accumulators (Y0, Y7): with one, each block's multiply-add waits for the
// previous one's, which caps a thread near 25 GB/s of weights.

// SCALEB(off, doff, x, y) broadcasts half(off(SI)) * float32(doff(DX)) into
// y, via x; clobbers BX.
#define SCALEB(off, doff, x, y) \
	MOVWLZX      off(SI), BX \
	VMOVD        BX, x \
	VCVTPH2PS    x, x \
	VMULSS       doff(DX), x, x \
	VBROADCASTSS x, y

// DOTB_AVX2(w, x, t, out) is DOTBYTES_AVX2 on any registers: out gets the
// int32 sums of w·x (x never -128); t is clobbered; Y15 holds int16 ones.
#define DOTB_AVX2(w, x, t, out) \
	VPSIGNB    w, x, x \
	VPSIGNB    w, w, t \
	VPMADDUBSW x, t, out \
	VPMADDWD   Y15, out, out

#define DOTB_VNNI(w, x, t, out) \
	VPSIGNB  w, x, x \
	VPSIGNB  w, w, t \
	VPXOR    out, out, out \
	VPDPBUSD x, t, out

// Q80BLOCK(DOT, woff, xoff, doff, acc) adds one block to acc.
#define Q80BLOCK(DOT, woff, xoff, doff, acc) \
	SCALEB(woff, doff, X1, Y1) \
	VMOVDQU     (woff+2)(SI), Y2 \
	VMOVDQU     xoff(DI), Y3 \
	DOT(Y2, Y3, Y4, Y6) \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, acc

#define Q80BLOCK2(DOT, woff, xoff, doff, acc) \
	SCALEB(woff, doff, X8, Y8) \
	VMOVDQU     (woff+2)(SI), Y9 \
	VMOVDQU     xoff(DI), Y10 \
	DOT(Y9, Y10, Y11, Y12) \
	VCVTDQ2PS   Y12, Y12 \
	VFMADD231PS Y12, Y8, acc

// func dotQ8_0AVX2(w []byte, q []int8, d []float32) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y7, Y7, Y7
	ONES16(Y15)

q80loop:
	CMPQ CX, $2
	JLT  q80tail
	Q80BLOCK(DOTB_AVX2, 0, 0, 0, Y0)
	Q80BLOCK2(DOTB_AVX2, 34, 32, 4, Y7)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  q80loop

q80tail:
	TESTQ CX, CX
	JZ    q80done
	Q80BLOCK(DOTB_AVX2, 0, 0, 0, Y0)

q80done:
	VADDPS Y7, Y0, Y0
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
	VXORPS Y7, Y7, Y7

q80vloop:
	CMPQ CX, $2
	JLT  q80vtail
	Q80BLOCK(DOTB_VNNI, 0, 0, 0, Y0)
	Q80BLOCK2(DOTB_VNNI, 34, 32, 4, Y7)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  q80vloop

q80vtail:
	TESTQ CX, CX
	JZ    q80vdone
	Q80BLOCK(DOTB_VNNI, 0, 0, 0, Y0)

q80vdone:
	VADDPS Y7, Y0, Y0
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

// Q40BLOCK(DOT, off, xoff, doff, w, x, t, out, sx, sy, acc) adds the Q4_0
// block at off(SI) to acc, through the given registers, as Q80BLOCK does;
// two of them per iteration keep two accumulators.
#define Q40BLOCK(DOT, off, xoff, doff, w, xw, xt, t, out, sx, sy, acc) \
	SCALEB(off, doff, sx, sy) \
	VMOVDQU     (off+2)(SI), xw \
	VPSRLW      $4, xw, xt \
	VINSERTI128 $1, xt, w, w \
	VPAND       Y14, w, w \
	VPSUBB      Y13, w, w \
	VMOVDQU     xoff(DI), t \
	DOT(w, t, Y4, out) \
	VCVTDQ2PS   out, out \
	VFMADD231PS out, sy, acc

// func dotQ4_0AVX2(w []byte, q []int8, d []float32) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y7, Y7, Y7
	ONES16(Y15)
	NIBBLE_CONSTS

q40loop:
	CMPQ CX, $2
	JLT  q40tail
	Q40BLOCK(DOTB_AVX2, 0, 0, 0, Y2, X2, X3, Y3, Y6, X1, Y1, Y0)
	Q40BLOCK(DOTB_AVX2, 18, 32, 4, Y9, X9, X10, Y10, Y12, X8, Y8, Y7)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  q40loop

q40tail:
	TESTQ CX, CX
	JZ    q40done
	Q40BLOCK(DOTB_AVX2, 0, 0, 0, Y2, X2, X3, Y3, Y6, X1, Y1, Y0)

q40done:
	VADDPS Y7, Y0, Y0
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
	VXORPS Y7, Y7, Y7
	NIBBLE_CONSTS

q40vloop:
	CMPQ CX, $2
	JLT  q40vtail
	Q40BLOCK(DOTB_VNNI, 0, 0, 0, Y2, X2, X3, Y3, Y6, X1, Y1, Y0)
	Q40BLOCK(DOTB_VNNI, 18, 32, 4, Y9, X9, X10, Y10, Y12, X8, Y8, Y7)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  q40vloop

q40vtail:
	TESTQ CX, CX
	JZ    q40vdone
	Q40BLOCK(DOTB_VNNI, 0, 0, 0, Y2, X2, X3, Y3, Y6, X1, Y1, Y0)

q40vdone:
	VADDPS Y7, Y0, Y0
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

// ·q6shuf+16i picks scale bytes 2i (into bytes 0-7) and 2i+1 (8-15), the
// scales of the two 16-element halves of a 32-quant vector.
DATA ·q6shuf+0(SB)/8, $0x0000000000000000
DATA ·q6shuf+8(SB)/8, $0x0101010101010101
DATA ·q6shuf+16(SB)/8, $0x0202020202020202
DATA ·q6shuf+24(SB)/8, $0x0303030303030303
DATA ·q6shuf+32(SB)/8, $0x0404040404040404
DATA ·q6shuf+40(SB)/8, $0x0505050505050505
DATA ·q6shuf+48(SB)/8, $0x0606060606060606
DATA ·q6shuf+56(SB)/8, $0x0707070707070707
DATA ·q6shuf+64(SB)/8, $0x0808080808080808
DATA ·q6shuf+72(SB)/8, $0x0909090909090909
DATA ·q6shuf+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA ·q6shuf+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA ·q6shuf+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA ·q6shuf+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA ·q6shuf+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA ·q6shuf+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL ·q6shuf(SB), RODATA|NOPTR, $128

// Q6KQ(qv, xoff, i) adds to Y11 the products of the 32 6-bit quants in qv
// (0..63) with x at xoff(DI), scaled by scales 2i and 2i+1 (of X9).
#define Q6KQ(qv, xoff, i) \
	VPMADDUBSW xoff(DI), qv, Y5 \
	VPSHUFB    ·q6shuf+(16*i)(SB), X9, X10 \
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

// Masks for VK4SCALES (simd_amd64.h).
DATA ·kmask3f+0(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA ·kmask3f+8(SB)/8, $0x3f3f3f3f3f3f3f3f
GLOBL ·kmask3f(SB), RODATA|NOPTR, $16
DATA ·kmask0f+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA ·kmask0f+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL ·kmask0f(SB), RODATA|NOPTR, $16
DATA ·kmask03+0(SB)/8, $0x0303030303030303
DATA ·kmask03+8(SB)/8, $0x0303030303030303
GLOBL ·kmask03(SB), RODATA|NOPTR, $16

// Q5_0: nibbles as Q4_0 plus a fifth bit per element in the uint32 qh at
// 2(SI): value = nibble + 16·bit - 16. BITS32 spreads the 32 bits over 32
// bytes (0xff where set): byte i takes byte i/8 of qh (q5spread) and
// compares it, with every bit but i%8 forced on, against all ones.
DATA q5spread<>+0(SB)/8, $0x0000000000000000
DATA q5spread<>+8(SB)/8, $0x0101010101010101
DATA q5spread<>+16(SB)/8, $0x0202020202020202
DATA q5spread<>+24(SB)/8, $0x0303030303030303
GLOBL q5spread<>(SB), RODATA|NOPTR, $32

// UNPACK_Q5_0 leaves the 32 signed weights in Y2. Y14 holds bytes 0x0f,
// Y13 bytes 0xf0, Y12 the bit-select pattern 0x7fbfdfeff7fbfdfe, Y11 all
// ones, Y10 q5spread.
#define UNPACK_Q5_0 \
	VMOVDQU      6(SI), X2 \
	VPSRLW       $4, X2, X3 \
	VINSERTI128  $1, X3, Y2, Y2 \
	VPAND        Y14, Y2, Y2 \
	VPBROADCASTD 2(SI), Y3 \
	VPSHUFB      Y10, Y3, Y3 \
	VPOR         Y12, Y3, Y3 \
	VPCMPEQB     Y11, Y3, Y3 \
	VPANDN       Y13, Y3, Y3 \
	VPOR         Y3, Y2, Y2

// func dotQ5_0AVX2(w []byte, q []int8, d []float32) float32
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-76
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	VXORPS Y0, Y0, Y0
	ONES16(Y15)
	BCAST8($0x0f0f0f0f, X14, Y14)
	BCAST8($0xf0f0f0f0, X13, Y13)
	MOVQ         $0x7fbfdfeff7fbfdfe, AX
	VMOVQ        AX, X12
	VPBROADCASTQ X12, Y12
	VPCMPEQB     Y11, Y11, Y11
	VMOVDQU      q5spread<>(SB), Y10
	TESTQ CX, CX
	JZ    q50done

q50loop:
	SCALE(0)
	UNPACK_Q5_0
	VMOVDQU (DI), Y3
	DOTBYTES_AVX2
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $22, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q50loop

q50done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+72(FP)
	RET

// Q4_1 and Q5_1 against Q8_1: the quants are unsigned, so VPMADDUBSW takes
// them as they are; each block adds d·dx·Σq·x + m·s, where s = dx·Σx comes
// with the activations. X9 accumulates the m·s terms.

// MS(moff) adds half(moff(SI)) · s (at 0(R8)) to X9.
#define MS(moff) \
	MOVWLZX      moff(SI), AX \
	VMOVD        AX, X7 \
	VCVTPH2PS    X7, X7 \
	VFMADD231SS  (R8), X7, X9

// func dotQ4_1AVX2(w []byte, q []int8, d, s []float32) float32
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ s_base+72(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9
	ONES16(Y15)
	BCAST8($0x0f0f0f0f, X14, Y14)
	TESTQ CX, CX
	JZ    q41done

q41loop:
	SCALE(0)
	MS(2)
	VMOVDQU     4(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y14, Y2, Y2
	VPMADDUBSW  (DI), Y2, Y6
	VPMADDWD    Y15, Y6, Y6
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $20, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	ADDQ        $4, R8
	DECQ        CX
	JNZ         q41loop

q41done:
	HSUM
	VADDSS X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// func dotQ5_1AVX2(w []byte, q []int8, d, s []float32) float32
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ s_base+72(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9
	ONES16(Y15)
	BCAST8($0x0f0f0f0f, X14, Y14)
	BCAST8($0x10101010, X13, Y13)
	MOVQ         $0x7fbfdfeff7fbfdfe, AX
	VMOVQ        AX, X12
	VPBROADCASTQ X12, Y12
	VPCMPEQB     Y11, Y11, Y11
	VMOVDQU      q5spread<>(SB), Y10
	TESTQ CX, CX
	JZ    q51done

q51loop:
	SCALE(0)
	MS(2)
	VMOVDQU      8(SI), X2
	VPSRLW       $4, X2, X3
	VINSERTI128  $1, X3, Y2, Y2
	VPAND        Y14, Y2, Y2
	VPBROADCASTD 4(SI), Y3
	VPSHUFB      Y10, Y3, Y3
	VPOR         Y12, Y3, Y3
	VPCMPEQB     Y11, Y3, Y3
	VPAND        Y13, Y3, Y3
	VPOR         Y3, Y2, Y2
	VPMADDUBSW   (DI), Y2, Y6
	VPMADDWD     Y15, Y6, Y6
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ         $24, SI
	ADDQ         $32, DI
	ADDQ         $4, DX
	ADDQ         $4, R8
	DECQ         CX
	JNZ          q51loop

q51done:
	HSUM
	VADDSS X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// Q2_K and Q3_K: each 32-byte group of quants holds four 32-element runs
// (bits 2j, j = 0-3) whose elements 0-15 and 16-31 take consecutive
// 16-element scales, the pattern ·q6shuf widens for VPMADDWD. X8 holds a
// block's 16 scales as bytes, Y11 its integer sum, Y14 bytes 3.

// K2RUN(qs, n, j) adds run j of quant group qs (Y2) of half n, against
// x[128n+32j:], to Y11; Y3 holds the run's quants when K2RUN is entered
// through K2QUANTS.
#define K2RUN(n, j) \
	VPMADDUBSW (128*n+32*j)(DI), Y3, Y4 \
	VPSHUFB    ·q6shuf+(16*(4*n+j))(SB), X8, X5 \
	VPMOVSXBW  X5, Y5 \
	VPMADDWD   Y5, Y4, Y4 \
	VPADDD     Y4, Y11, Y11

#define Q2RUN(n, j) \
	VPSRLW $(2*j), Y2, Y3 \
	VPAND  Y14, Y3, Y3 \
	K2RUN(n, j)

#define Q2HALF(n) \
	VMOVDQU (16+32*n)(SI), Y2 \
	Q2RUN(n, 0) \
	Q2RUN(n, 1) \
	Q2RUN(n, 2) \
	Q2RUN(n, 3)

// func dotQ2_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32
// Σ d·dx·Σ scale·Σ q·x - dmin·dx·Σ min·bsum, the mins summed in Y12.
TEXT ·dotQ2_KAVX2(SB), NOSPLIT, $0-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y12, Y12, Y12
	BCAST8($0x03030303, X14, Y14)
	BCAST8($0x0f0f0f0f, X13, Y13)
	TESTQ CX, CX
	JZ    q2kdone

q2kloop:
	VMOVDQU     (SI), X9
	VPAND       X13, X9, X8
	VPSRLW      $4, X9, X9
	VPAND       X13, X9, X9
	VPMOVZXBW   X9, Y9
	VPMADDWD    (BX), Y9, Y9
	VCVTDQ2PS   Y9, Y9
	FSCALE(82, X1, Y1)
	VFMADD231PS Y9, Y1, Y12
	VPXOR       Y11, Y11, Y11
	Q2HALF(0)
	Q2HALF(1)
	VCVTDQ2PS   Y11, Y11
	FSCALE(80, X1, Y1)
	VFMADD231PS Y11, Y1, Y0
	ADDQ        $84, SI
	ADDQ        $256, DI
	ADDQ        $4, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         q2kloop

q2kdone:
	VSUBPS Y12, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET

// Q3RUN(n, j) builds run j of half n as unsigned 0-7 (low bits | high
// bit << 2, the level + 4) from Y2 and the hmask bits 4n+j of Y10; Y15
// holds bytes 1.
#define Q3RUN(n, j) \
	VPSRLW $(2*j), Y2, Y3 \
	VPAND  Y14, Y3, Y3 \
	VPSRLW $(4*n+j), Y10, Y4 \
	VPAND  Y15, Y4, Y4 \
	VPSLLW $2, Y4, Y4 \
	VPOR   Y4, Y3, Y3 \
	K2RUN(n, j)

#define Q3HALF(n) \
	VMOVDQU (32+32*n)(SI), Y2 \
	Q3RUN(n, 0) \
	Q3RUN(n, 1) \
	Q3RUN(n, 2) \
	Q3RUN(n, 3)

// func dotQ3_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32
// The quants are taken as level+4 (0-7), so each 16-element group's sum is
// corrected by -4·bsum·scale. The 6-bit scales are unpacked as ggml does
// (kmask shuffle in general registers), less their bias of 32.
TEXT ·dotQ3_KAVX2(SB), NOSPLIT, $0-100
	MOVQ w_base+0(FP), SI
	MOVQ q_base+24(FP), DI
	MOVQ d_base+48(FP), DX
	MOVQ d_len+56(FP), CX
	MOVQ bs_base+72(FP), BX
	VXORPS Y0, Y0, Y0
	BCAST8($0x03030303, X14, Y14)
	BCAST8($0x01010101, X15, Y15)
	BCAST8($0x20202020, X7, Y7)
	TESTQ CX, CX
	JZ    q3kdone

q3kloop:
	MOVL  96(SI), R8
	MOVL  100(SI), R9
	MOVL  104(SI), R10
	MOVL  R9, R11
	SHRL  $4, R11
	ANDL  $0x0f0f0f0f, R11
	MOVL  R10, R13
	SHRL  $6, R13
	ANDL  $0x03030303, R13
	SHLL  $4, R13
	ORL   R13, R11
	MOVL  R8, R12
	SHRL  $4, R12
	ANDL  $0x0f0f0f0f, R12
	MOVL  R10, R13
	SHRL  $4, R13
	ANDL  $0x03030303, R13
	SHLL  $4, R13
	ORL   R13, R12
	ANDL  $0x0f0f0f0f, R9
	MOVL  R10, R13
	SHRL  $2, R13
	ANDL  $0x03030303, R13
	SHLL  $4, R13
	ORL   R13, R9
	ANDL  $0x0f0f0f0f, R8
	ANDL  $0x03030303, R10
	SHLL  $4, R10
	ORL   R10, R8
	SHLQ  $32, R9
	ORQ   R9, R8
	SHLQ  $32, R11
	ORQ   R11, R12
	VMOVQ R8, X8
	VPINSRQ $1, R12, X8, X8
	VPSUBB  X7, X8, X8
	VPMOVSXBW X8, Y9
	VPMADDWD  (BX), Y9, Y9
	VPSLLD    $2, Y9, Y9
	VMOVDQU   (SI), Y10
	VPXOR     Y11, Y11, Y11
	Q3HALF(0)
	Q3HALF(1)
	VPSUBD      Y9, Y11, Y11
	VCVTDQ2PS   Y11, Y11
	FSCALE(108, X1, Y1)
	VFMADD231PS Y11, Y1, Y0
	ADDQ        $110, SI
	ADDQ        $256, DI
	ADDQ        $4, DX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         q3kloop

q3kdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+96(FP)
	RET
