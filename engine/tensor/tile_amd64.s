#include "textflag.h"
#include "simd_amd64.h"

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

// Q5_K tile in Z registers: tileQ4_KZ with the fifth bits. A step k's low
// nibbles take bit 2k of the 32 qh bytes at 16(SI), its high nibbles bit
// 2k+1; Y15 holds bytes 0x10.

// ZK5ROW(k, src, qz, sz, ysz, sp) is ZK4ROW for Q5_K, with base the row.
#define ZK5ROW(k, nib, qh, qz, sz, ysz, sp) \
	VMOVDQU      nib, Y0 \
	VMOVDQU      qh, Y2 \
	VPSRLW       $(2*k), Y2, Y2 \
	VPAND        Y14, Y0, Y1 \
	VPSLLW       $4, Y2, Y3 \
	VPAND        Y15, Y3, Y3 \
	VPOR         Y3, Y1, Y1 \
	VPSRLW       $4, Y0, Y0 \
	VPAND        Y14, Y0, Y0 \
	VPSLLW       $3, Y2, Y3 \
	VPAND        Y15, Y3, Y3 \
	VPOR         Y3, Y0, Y0 \
	VINSERTI64X4 $1, Y0, Z1, qz \
	VPBROADCASTW (sp+4*k)(SP), ysz \
	VPBROADCASTW (sp+4*k+2)(SP), Y0 \
	VINSERTI64X4 $1, Y0, sz, sz

#define ZK5STEP(k) \
	ZK5ROW(k, (48+32*k)(SI), 16(SI), Z4, Z6, Y6, 0) \
	ZK5ROW(k, (48+32*k)(SI)(R8*1), 16(SI)(R8*1), Z5, Z7, Y7, 16) \
	ZK4PAIR((64*k)(DI), Z16, Z20) \
	ZK4PAIR((64*k)(DI)(R9*1), Z17, Z21) \
	ZK4PAIR((64*k)(DI)(R9*2), Z18, Z22) \
	ZK4PAIR((64*k)(DI)(R10*1), Z19, Z23)

// func tileQ5_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ5_KZ(SB), NOSPLIT, $32-72
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
	BCAST8($0x10101010, X15, Y15)
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
	JZ    tz5kdone

tz5kloop:
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
	ZK5STEP(0)
	ZK5STEP(1)
	ZK5STEP(2)
	ZK5STEP(3)
	ZK4FLUSH((DX), (BX), 16(BX), Z16, Z20, Z24, Z28)
	ZK4FLUSH((DX)(R11*1), (BX)(R13*1), 16(BX)(R13*1), Z17, Z21, Z25, Z29)
	ZK4FLUSH((DX)(R11*2), (BX)(R13*2), 16(BX)(R13*2), Z18, Z22, Z26, Z30)
	ZK4FLUSH((DX)(R12*1), (BX)(AX*1), 16(BX)(AX*1), Z19, Z23, Z27, Z31)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  tz5kloop

tz5kdone:
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
	VPSHUFB      ·q6shuf+(16*(4*n+2*p))(SB), Y1, Y6 \
	VPMOVSXBW    Y6, Z6 \
	VPSHUFB      ·q6shuf+(16*(4*n+2*p))(SB), Y2, Y7 \
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

// AVX2 Q8_0 tile for CPUs without AVX-512: 2 rows x 4 tokens in the 16 VEX
// registers. Y0-Y3 row 0 tokens 0-3, Y4-Y7 row 1; Y8/Y9 the rows' |w|
// (their signed weights stay in memory as VPSIGNB's sign operand), Y10/Y11
// their scales; Y12 a token's quants, Y13 the product, Y14 the token's
// scale, Y15 int16 ones. Strides as in tileQ8_0VNNI.

// APAIR(wa, absw, dw, acc) multiplies the token in Y12 (scale Y14) with one
// row whose signed weights are at wa.
#define APAIR(wa, absw, dw, acc) \
	VPSIGNB     wa, Y12, Y13 \
	VPMADDUBSW  Y13, absw, Y13 \
	VPMADDWD    Y15, Y13, Y13 \
	VCVTDQ2PS   Y13, Y13 \
	VMULPS      dw, Y13, Y13 \
	VFMADD231PS Y13, Y14, acc

#define ATOKEN(xa, da, a0, a1) \
	VMOVDQU      xa, Y12 \
	VBROADCASTSS da, Y14 \
	APAIR(2(SI), Y8, Y10, a0) \
	APAIR(2(SI)(R8*1), Y9, Y11, a1)

// func tileQ8_0AVX2(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)
TEXT ·tileQ8_0AVX2(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), R8
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+40(FP), CX
	MOVQ cols+48(FP), R9
	LEAQ (R9)(R9*2), R10
	LEAQ (CX*4), R11
	LEAQ (R11)(R11*2), R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	ONES16(Y15)
	TESTQ CX, CX
	JZ    ta80done

ta80loop:
	VMOVDQU      2(SI), Y8
	VPSIGNB      Y8, Y8, Y8
	VMOVDQU      2(SI)(R8*1), Y9
	VPSIGNB      Y9, Y9, Y9
	VPBROADCASTW (SI), X10
	VCVTPH2PS    X10, Y10
	VPBROADCASTW (SI)(R8*1), X11
	VCVTPH2PS    X11, Y11
	ATOKEN((DI), (DX), Y0, Y4)
	ATOKEN((DI)(R9*1), (DX)(R11*1), Y1, Y5)
	ATOKEN((DI)(R9*2), (DX)(R11*2), Y2, Y6)
	ATOKEN((DI)(R10*1), (DX)(R12*1), Y3, Y7)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  ta80loop

ta80done:
	MOVQ out+56(FP), AX
	MOVQ ldo+64(FP), BX
	SHLQ $2, BX
	FSTORE
	RET
