// Macros shared by the amd64 vector kernels (dot_amd64.s, tile_amd64.s,
// convert_amd64.s). Operands are in Go order: sources first, destination
// last. The row kernels keep SI on the weights, DI on the activation
// quants, DX on the activation scales, CX counting blocks, and Y0 as the
// float accumulator.

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

// TSTORE1(acc, off) stores the horizontal sum of acc at off(AX).
#define TSTORE1(acc, off) \
	VMOVAPS acc, Y0 \
	HSUM \
	VMOVSS  X0, off(AX)

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

// VK4SCALES(src, sp, mins) unpacks the 6-bit scales and mins of a
// Q4_K/Q5_K block, whose 12 scale bytes start at src, with vector ops (the kmask shuffle of K4SCALES
// on the three dwords at once, leaving the general registers free): the 8
// scales as words go to sp, the 8 mins as words to mins. Clobbers X0-X3.
#define VK4SCALES(base, sp, mins) \
	VMOVDQU    base, X0 \
	VPAND      ·kmask3f(SB), X0, X1 \
	VPSRLD     $6, X0, X2 \
	VPAND      ·kmask03(SB), X2, X2 \
	VPSLLD     $4, X2, X2 \
	VPAND      ·kmask0f(SB), X0, X3 \
	VPSRLD     $4, X0, X0 \
	VPAND      ·kmask0f(SB), X0, X0 \
	VPUNPCKHDQ X0, X3, X3 \
	VPOR       X2, X3, X3 \
	VPUNPCKLDQ X3, X1, X1 \
	VPMOVZXBW  X1, X0 \
	VMOVDQU    X0, sp \
	VPSRLDQ    $8, X1, X1 \
	VPMOVZXBW  X1, mins
