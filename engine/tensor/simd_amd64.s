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

// func dotF16AVX2(w []byte, h []uint16) float32
// Both operands are halves; handles len(h) &^ 7 elements.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ h_base+24(FP), DI
	MOVQ h_len+32(FP), CX
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
	VCVTPH2PS   (DI), Y8
	VCVTPH2PS   16(DI), Y9
	VCVTPH2PS   32(DI), Y10
	VCVTPH2PS   48(DI), Y11
	VFMADD231PS Y8, Y4, Y0
	VFMADD231PS Y9, Y5, Y1
	VFMADD231PS Y10, Y6, Y2
	VFMADD231PS Y11, Y7, Y3
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $32, CX
	JMP         f16loop32

f16loop8:
	CMPQ        CX, $8
	JLT         f16done
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   (DI), Y8
	VFMADD231PS Y8, Y4, Y0
	ADDQ        $16, SI
	ADDQ        $16, DI
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
