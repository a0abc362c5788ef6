#include "textflag.h"
#include "simd_amd64.h"

// Activation converters (see Acts.Convert).

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

// func dotF32F32AVX2(a, b []float32) float32
// Handles len(a) &^ 7 elements.
TEXT ·dotF32F32AVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ b_base+24(FP), DI
	MOVQ a_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

vdot16:
	CMPQ        CX, $16
	JLT         vdot8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         vdot16

vdot8:
	CMPQ        CX, $8
	JLT         vdotdone
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0

vdotdone:
	VADDPS Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func axpyF32AVX2(y []float32, a float32, x []float32)
// Handles len(y) &^ 7 elements.
TEXT ·axpyF32AVX2(SB), NOSPLIT, $0-56
	MOVQ y_base+0(FP), DI
	MOVQ y_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y2
	MOVQ x_base+32(FP), SI
	SHRQ $3, CX
	JZ   vaxpydone

vaxpy:
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y2, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         vaxpy

vaxpydone:
	VZEROUPPER
	RET

// expc<> holds 0.5 and 1 in every lane, for memory operands.
DATA expc<>+0(SB)/8, $0x3f0000003f000000
DATA expc<>+8(SB)/8, $0x3f0000003f000000
DATA expc<>+16(SB)/8, $0x3f0000003f000000
DATA expc<>+24(SB)/8, $0x3f0000003f000000
DATA expc<>+32(SB)/8, $0x3f8000003f800000
DATA expc<>+40(SB)/8, $0x3f8000003f800000
DATA expc<>+48(SB)/8, $0x3f8000003f800000
DATA expc<>+56(SB)/8, $0x3f8000003f800000
GLOBL expc<>(SB), RODATA|NOPTR, $64

// func expF32AVX2(x []float32)
// Replaces len(x) &^ 7 values by their exponentials: x = n·ln2 + r with n
// an integer and |r| <= ln2/2, e^r by a polynomial (Cephes expf's
// coefficients), then 2^n added to the exponent. Inputs below -87.3 give
// 0, above ln(FLT_MAX) +Inf; NaN stays NaN. Results below the smallest
// normal float32 are only roughly right.
TEXT ·expF32AVX2(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	SHRQ $3, CX
	JZ   vexpdone
	MOVL $0x42b17217, AX // 88.72283: the largest x with a finite e^x
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	MOVL $0xc2aeac4f, AX // -87.33654: e^x is the smallest normal
	VMOVD AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x3fb8aa3b, AX // log2(e)
	VMOVD AX, X13
	VBROADCASTSS X13, Y13
	MOVL $0x3f318000, AX // ln2 high part: 0.693359375
	VMOVD AX, X12
	VBROADCASTSS X12, Y12
	MOVL $0xb95e8083, AX // ln2 low part: -2.12194440e-4
	VMOVD AX, X11
	VBROADCASTSS X11, Y11
	MOVL $0x39506967, AX // 1.9875691500e-4
	VMOVD AX, X10
	VBROADCASTSS X10, Y10
	MOVL $0x3ab743ce, AX // 1.3981999507e-3
	VMOVD AX, X9
	VBROADCASTSS X9, Y9
	MOVL $0x3c088908, AX // 8.3334519073e-3
	VMOVD AX, X8
	VBROADCASTSS X8, Y8
	MOVL $0x3d2aa9c1, AX // 4.1665795894e-2
	VMOVD AX, X7
	VBROADCASTSS X7, Y7
	MOVL $0x3e2aaaaa, AX // 1.6666665459e-1
	VMOVD AX, X6
	VBROADCASTSS X6, Y6
	MOVL $0x7f800000, AX // +Inf
	VMOVD AX, X5
	VBROADCASTSS X5, Y5

vexp:
	VMOVUPS      (SI), Y0
	VCMPPS       $0x15, Y14, Y0, Y3 // keep unless x < lo (NaN kept)
	VCMPPS       $0x1e, Y15, Y0, Y4 // x > hi: +Inf
	VMINPS       Y0, Y15, Y0        // operands so that a NaN x passes through
	VMAXPS       Y0, Y14, Y0
	VMULPS       Y13, Y0, Y1
	VROUNDPS     $0, Y1, Y1         // n = round(x·log2e), to nearest
	VFNMADD231PS Y12, Y1, Y0        // r = x - n·ln2hi
	VFNMADD231PS Y11, Y1, Y0        // r -= n·ln2lo
	VMOVAPS      Y10, Y2
	VFMADD213PS  Y9, Y0, Y2         // p = p·r + c
	VFMADD213PS  Y8, Y0, Y2
	VFMADD213PS  Y7, Y0, Y2
	VFMADD213PS  Y6, Y0, Y2
	VFMADD213PS  expc<>+0(SB), Y0, Y2
	VMULPS       Y0, Y2, Y2         // p·r
	VFMADD213PS  Y0, Y0, Y2         // p·r² + r
	VADDPS       expc<>+32(SB), Y2, Y2 // + 1
	VCVTPS2DQ    Y1, Y1
	VPSLLD       $23, Y1, Y1
	VPADDD       Y1, Y2, Y2         // · 2^n
	VANDPS       Y3, Y2, Y2
	VBLENDVPS    Y4, Y5, Y2, Y2
	VMOVUPS      Y2, (SI)
	ADDQ         $32, SI
	DECQ         CX
	JNZ          vexp

vexpdone:
	VZEROUPPER
	RET

// func attnScoresAVX2(q, k []float32, stride int, scale float32, s []float32)
// Sets s[p] = scale · q·k[p*stride:][:len(q)] for p < len(s); len(q) is a
// positive multiple of 8.
TEXT ·attnScoresAVX2(SB), NOSPLIT, $0-88
	MOVQ q_base+0(FP), SI
	MOVQ q_len+8(FP), R8
	MOVQ k_base+24(FP), DI
	MOVQ stride+48(FP), R9
	SHLQ $2, R9
	VBROADCASTSS scale+56(FP), Y5
	MOVQ s_base+64(FP), DX
	MOVQ s_len+72(FP), CX
	SHRQ $3, R8
	TESTQ CX, CX
	JZ   ascdone

ascpos:
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R8, R10

ascvec:
	VMOVUPS     (BX), Y1
	VFMADD231PS (AX), Y1, Y0
	ADDQ        $32, AX
	ADDQ        $32, BX
	DECQ        R10
	JZ          ascsum
	VMOVUPS     (BX), Y3
	VFMADD231PS (AX), Y3, Y2
	ADDQ        $32, AX
	ADDQ        $32, BX
	DECQ        R10
	JNZ         ascvec

ascsum:
	VADDPS Y2, Y0, Y0
	HSUM
	VMULSS X5, X0, X0
	VMOVSS X0, (DX)
	ADDQ   R9, DI
	ADDQ   $4, DX
	DECQ   CX
	JNZ    ascpos

ascdone:
	VZEROUPPER
	RET

// func attnSumAVX2(out, v []float32, stride int, w []float32)
// Adds Σ_p w[p]·v[p*stride:][:len(out)] to out; len(out) is a positive
// multiple of 8. Each stretch of up to 64 outputs stays in Y0-Y7 while the
// positions pass.
TEXT ·attnSumAVX2(SB), NOSPLIT, $0-80
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), R8
	MOVQ v_base+24(FP), SI
	MOVQ stride+48(FP), R9
	SHLQ $2, R9
	MOVQ w_base+56(FP), DX
	MOVQ w_len+64(FP), CX

asmchunk:
	// R10 = vectors in this stretch (at most 8)
	MOVQ R8, R10
	SHRQ $3, R10
	CMPQ R10, $8
	JLE  asmgo
	MOVQ $8, R10

asmgo:
	VMOVUPS (DI), Y0
	CMPQ R10, $1
	JEQ  asmloaded
	VMOVUPS 32(DI), Y1
	CMPQ R10, $2
	JEQ  asmloaded
	VMOVUPS 64(DI), Y2
	CMPQ R10, $3
	JEQ  asmloaded
	VMOVUPS 96(DI), Y3
	CMPQ R10, $4
	JEQ  asmloaded
	VMOVUPS 128(DI), Y4
	CMPQ R10, $5
	JEQ  asmloaded
	VMOVUPS 160(DI), Y5
	CMPQ R10, $6
	JEQ  asmloaded
	VMOVUPS 192(DI), Y6
	CMPQ R10, $7
	JEQ  asmloaded
	VMOVUPS 224(DI), Y7

asmloaded:
	MOVQ SI, BX
	MOVQ DX, AX
	MOVQ CX, R11
	TESTQ R11, R11
	JZ    asmstore

asmpos:
	VBROADCASTSS (AX), Y8
	VFMADD231PS  (BX), Y8, Y0
	CMPQ R10, $1
	JEQ  asmnext
	VFMADD231PS  32(BX), Y8, Y1
	CMPQ R10, $2
	JEQ  asmnext
	VFMADD231PS  64(BX), Y8, Y2
	CMPQ R10, $3
	JEQ  asmnext
	VFMADD231PS  96(BX), Y8, Y3
	CMPQ R10, $4
	JEQ  asmnext
	VFMADD231PS  128(BX), Y8, Y4
	CMPQ R10, $5
	JEQ  asmnext
	VFMADD231PS  160(BX), Y8, Y5
	CMPQ R10, $6
	JEQ  asmnext
	VFMADD231PS  192(BX), Y8, Y6
	CMPQ R10, $7
	JEQ  asmnext
	VFMADD231PS  224(BX), Y8, Y7

asmnext:
	ADDQ R9, BX
	ADDQ $4, AX
	DECQ R11
	JNZ  asmpos

asmstore:
	VMOVUPS Y0, (DI)
	CMPQ R10, $1
	JEQ  asmadvance
	VMOVUPS Y1, 32(DI)
	CMPQ R10, $2
	JEQ  asmadvance
	VMOVUPS Y2, 64(DI)
	CMPQ R10, $3
	JEQ  asmadvance
	VMOVUPS Y3, 96(DI)
	CMPQ R10, $4
	JEQ  asmadvance
	VMOVUPS Y4, 128(DI)
	CMPQ R10, $5
	JEQ  asmadvance
	VMOVUPS Y5, 160(DI)
	CMPQ R10, $6
	JEQ  asmadvance
	VMOVUPS Y6, 192(DI)
	CMPQ R10, $7
	JEQ  asmadvance
	VMOVUPS Y7, 224(DI)

asmadvance:
	MOVQ R10, AX
	SHLQ $5, AX
	ADDQ AX, DI
	ADDQ AX, SI
	SHLQ $3, R10
	SUBQ R10, R8
	JNZ  asmchunk
	VZEROUPPER
	RET

// func attnScoresF16AVX2(q []float32, k []uint16, stride int, scale float32, s []float32)
// attnScoresAVX2 with half-precision keys; stride counts halves.
TEXT ·attnScoresF16AVX2(SB), NOSPLIT, $0-88
	MOVQ q_base+0(FP), SI
	MOVQ q_len+8(FP), R8
	MOVQ k_base+24(FP), DI
	MOVQ stride+48(FP), R9
	SHLQ $1, R9
	VBROADCASTSS scale+56(FP), Y5
	MOVQ s_base+64(FP), DX
	MOVQ s_len+72(FP), CX
	SHRQ $3, R8
	TESTQ CX, CX
	JZ   ahdone

ahpos:
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R8, R10

ahvec:
	VCVTPH2PS   (BX), Y1
	VFMADD231PS (AX), Y1, Y0
	ADDQ        $32, AX
	ADDQ        $16, BX
	DECQ        R10
	JZ          ahsum
	VCVTPH2PS   (BX), Y3
	VFMADD231PS (AX), Y3, Y2
	ADDQ        $32, AX
	ADDQ        $16, BX
	DECQ        R10
	JNZ         ahvec

ahsum:
	VADDPS Y2, Y0, Y0
	HSUM
	VMULSS X5, X0, X0
	VMOVSS X0, (DX)
	ADDQ   R9, DI
	ADDQ   $4, DX
	DECQ   CX
	JNZ    ahpos

ahdone:
	VZEROUPPER
	RET

// func attnSumF16AVX2(out []float32, v []uint16, stride int, w []float32)
// attnSumAVX2 with half-precision values: adds to out, one stretch of up
// to 64 outputs at a time; stride counts halves.
TEXT ·attnSumF16AVX2(SB), NOSPLIT, $0-80
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), R8
	MOVQ v_base+24(FP), SI
	MOVQ stride+48(FP), R9
	SHLQ $1, R9
	MOVQ w_base+56(FP), DX
	MOVQ w_len+64(FP), CX

ahmchunk:
	MOVQ R8, R10
	SHRQ $3, R10
	CMPQ R10, $8
	JLE  ahmgo
	MOVQ $8, R10

ahmgo:
	VMOVUPS (DI), Y0
	CMPQ R10, $1
	JEQ  ahmloaded
	VMOVUPS 32(DI), Y1
	CMPQ R10, $2
	JEQ  ahmloaded
	VMOVUPS 64(DI), Y2
	CMPQ R10, $3
	JEQ  ahmloaded
	VMOVUPS 96(DI), Y3
	CMPQ R10, $4
	JEQ  ahmloaded
	VMOVUPS 128(DI), Y4
	CMPQ R10, $5
	JEQ  ahmloaded
	VMOVUPS 160(DI), Y5
	CMPQ R10, $6
	JEQ  ahmloaded
	VMOVUPS 192(DI), Y6
	CMPQ R10, $7
	JEQ  ahmloaded
	VMOVUPS 224(DI), Y7

ahmloaded:
	MOVQ SI, BX
	MOVQ DX, AX
	MOVQ CX, R11
	TESTQ R11, R11
	JZ    ahmstore

ahmpos:
	VBROADCASTSS (AX), Y8
	VCVTPH2PS    (BX), Y9
	VFMADD231PS  Y9, Y8, Y0
	CMPQ R10, $1
	JEQ  ahmnext
	VCVTPH2PS    16(BX), Y9
	VFMADD231PS  Y9, Y8, Y1
	CMPQ R10, $2
	JEQ  ahmnext
	VCVTPH2PS    32(BX), Y9
	VFMADD231PS  Y9, Y8, Y2
	CMPQ R10, $3
	JEQ  ahmnext
	VCVTPH2PS    48(BX), Y9
	VFMADD231PS  Y9, Y8, Y3
	CMPQ R10, $4
	JEQ  ahmnext
	VCVTPH2PS    64(BX), Y9
	VFMADD231PS  Y9, Y8, Y4
	CMPQ R10, $5
	JEQ  ahmnext
	VCVTPH2PS    80(BX), Y9
	VFMADD231PS  Y9, Y8, Y5
	CMPQ R10, $6
	JEQ  ahmnext
	VCVTPH2PS    96(BX), Y9
	VFMADD231PS  Y9, Y8, Y6
	CMPQ R10, $7
	JEQ  ahmnext
	VCVTPH2PS    112(BX), Y9
	VFMADD231PS  Y9, Y8, Y7

ahmnext:
	ADDQ R9, BX
	ADDQ $4, AX
	DECQ R11
	JNZ  ahmpos

ahmstore:
	VMOVUPS Y0, (DI)
	CMPQ R10, $1
	JEQ  ahmadvance
	VMOVUPS Y1, 32(DI)
	CMPQ R10, $2
	JEQ  ahmadvance
	VMOVUPS Y2, 64(DI)
	CMPQ R10, $3
	JEQ  ahmadvance
	VMOVUPS Y3, 96(DI)
	CMPQ R10, $4
	JEQ  ahmadvance
	VMOVUPS Y4, 128(DI)
	CMPQ R10, $5
	JEQ  ahmadvance
	VMOVUPS Y5, 160(DI)
	CMPQ R10, $6
	JEQ  ahmadvance
	VMOVUPS Y6, 192(DI)
	CMPQ R10, $7
	JEQ  ahmadvance
	VMOVUPS Y7, 224(DI)

ahmadvance:
	MOVQ R10, AX
	SHLQ $5, AX
	ADDQ AX, DI
	SHRQ $1, AX
	ADDQ AX, SI
	SHLQ $3, R10
	SUBQ R10, R8
	JNZ  ahmchunk
	VZEROUPPER
	RET

// func toF16AVX2(dst []uint16, src []float32)
// Rounds len(src) &^ 7 values to half precision (nearest even) into dst.
TEXT ·toF16AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   tf16vdone

tf16v:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ $32, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  tf16v

tf16vdone:
	VZEROUPPER
	RET

// func axpy8F32AVX2(y []float32, a *[8]float32, x []float32, stride int)
// Adds Σ_r a[r]·x[r*stride+i] to y[i] for the first len(y) &^ 15
// elements: eight rows of x at once, so y is loaded and stored once per
// eight products instead of once per product. Each 8-lane slice of y
// sums rows 0-3 and rows 4-7 in separate registers, halving the chain of
// dependent FMAs.
TEXT ·axpy8F32AVX2(SB), NOSPLIT, $0-64
	MOVQ y_base+0(FP), DI
	MOVQ y_len+8(FP), CX
	MOVQ a+24(FP), AX
	MOVQ x_base+32(FP), SI
	MOVQ stride+56(FP), DX
	SHLQ $2, DX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	MOVQ DX, R8
	LEAQ (DX)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	LEAQ (R11)(DX*1), R12
	LEAQ (R12)(DX*1), R13
	LEAQ (R13)(DX*1), BX
	SHRQ $4, CX
	JZ   vaxpy8done

vaxpy8:
	VMULPS      (SI), Y8, Y0
	VMULPS      32(SI), Y8, Y1
	VMULPS      (SI)(R11*1), Y12, Y2
	VMULPS      32(SI)(R11*1), Y12, Y3
	VFMADD231PS (SI)(R8*1), Y9, Y0
	VFMADD231PS 32(SI)(R8*1), Y9, Y1
	VFMADD231PS (SI)(R12*1), Y13, Y2
	VFMADD231PS 32(SI)(R12*1), Y13, Y3
	VFMADD231PS (SI)(R9*1), Y10, Y0
	VFMADD231PS 32(SI)(R9*1), Y10, Y1
	VFMADD231PS (SI)(R13*1), Y14, Y2
	VFMADD231PS 32(SI)(R13*1), Y14, Y3
	VFMADD231PS (SI)(R10*1), Y11, Y0
	VFMADD231PS 32(SI)(R10*1), Y11, Y1
	VFMADD231PS (SI)(BX*1), Y15, Y2
	VFMADD231PS 32(SI)(BX*1), Y15, Y3
	VADDPS      Y2, Y0, Y0
	VADDPS      Y3, Y1, Y1
	VADDPS      (DI), Y0, Y0
	VADDPS      32(DI), Y1, Y1
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         vaxpy8

vaxpy8done:
	VZEROUPPER
	RET
