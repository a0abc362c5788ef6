package tensor

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/cpu"
)

// Implemented in dot_amd64.s (the dot products), tile_amd64.s (the
// tiles) and convert_amd64.s (quantizing, conversion and the attention
// and vector primitives), with shared macros in simd_amd64.h. The
// quantized kernels take len(d) blocks; the float kernels take
// len(x) &^ 7 elements and leave the rest to Go.
//
//go:noescape
func dotQ8_0AVX2(w []byte, q []int8, d []float32) float32

//go:noescape
func dotQ8_0VNNI(w []byte, q []int8, d []float32) float32

//go:noescape
func dotQ4_0AVX2(w []byte, q []int8, d []float32) float32

//go:noescape
func dotQ4_0VNNI(w []byte, q []int8, d []float32) float32

//go:noescape
func dotQ5_0AVX2(w []byte, q []int8, d []float32) float32

//go:noescape
func dotQ4_1AVX2(w []byte, q []int8, d, s []float32) float32

//go:noescape
func dotQ5_1AVX2(w []byte, q []int8, d, s []float32) float32

//go:noescape
func dotQ2_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32

//go:noescape
func dotQ3_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32

//go:noescape
func dotQ4_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32

//go:noescape
func dotQ5_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32

//go:noescape
func dotQ6_KAVX2(w []byte, q []int8, d []float32, bs []int16) float32

//go:noescape
func tileQ8_0VNNI(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ8_0AVX2(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ8_0Z(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ4_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ5_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ6_KZ(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func tileQ4_0VNNI(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

//go:noescape
func quantQ8_0AVX2(x []float32, q []int8, d []float32)

//go:noescape
func quantQ8_KAVX2(x []float32, q []int8, d []float32, bs []int16)

//go:noescape
func roundF16AVX2(x, dst []float32)

//go:noescape
func dotBF16AVX2(w []byte, x []float32) float32

// The float tiles take the activations as x (in the scales' place) and
// cols/8 (AVX2) or cols/16 (AVX-512) steps; cols must be a multiple of
// the step.
//
//go:noescape
func tileF16AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)

//go:noescape
func tileBF16AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)

//go:noescape
func tileF32AVX2(w *byte, rs int, q *int8, x *float32, bs *int16, n8, cols int, out *float32, ldo int)

//go:noescape
func tileF16AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)

//go:noescape
func tileBF16AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)

//go:noescape
func tileF32AVX512(w *byte, rs int, q *int8, x *float32, bs *int16, n16, cols int, out *float32, ldo int)

//go:noescape
func dotF32F32AVX2(a, b []float32) float32

//go:noescape
func axpyF32AVX2(y []float32, a float32, x []float32)

//go:noescape
func expF32AVX2(x []float32)

//go:noescape
func axpy8F32AVX2(y []float32, a *[8]float32, x []float32, stride int)

//go:noescape
func attnScoresAVX2(q, k []float32, stride int, scale float32, s []float32)

//go:noescape
func attnSumAVX2(out, v []float32, stride int, w []float32)

//go:noescape
func attnScoresF16AVX2(q []float32, k []uint16, stride int, scale float32, s []float32)

//go:noescape
func attnSumF16AVX2(out []float32, v []uint16, stride int, w []float32)

//go:noescape
func toF16AVX2(dst []uint16, src []float32)

//go:noescape
func dotF32AVX2(w []byte, x []float32) float32

//go:noescape
func dotF16AVX2(w []byte, x []float32) float32

// detectLevel asks the CPU (and, through CPUID's OS-support bits, the
// kernel) which vector registers are usable.
func detectLevel() Level {
	x := cpu.X86
	if !x.HasAVX2 || !x.HasFMA || !x.HasF16C {
		return LevelPortable
	}
	if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI {
		return LevelAVX512
	}
	return LevelAVX2
}

func kernelsFor(l Level) kernelSet {
	if l < LevelAVX2 {
		return portableKernels
	}
	k := portableKernels
	k.q = make(map[DType]qdotFunc)
	k.f16, k.bf16, k.f32 = f16AVX2, bf16AVX2, f32AVX2
	k.tile = map[DType]tileFunc{F16: tileF16AVX2, BF16: tileBF16AVX2, F32: tileF32AVX2, Q8_0: tileQ8_0AVX2}
	k.floatStep = 8
	k.vecAVX2 = true
	k.quantQ8_0 = func(x []float32, q []int8, d []float32) { quantQ8_0AVX2(x[:32*len(d)], q[:32*len(d)], d) }
	k.quantQ8_K = func(x []float32, q []int8, d []float32, bs []int16) {
		quantQ8_KAVX2(x[:QK_K*len(d)], q[:QK_K*len(d)], d, bs[:16*len(d)])
	}
	k.roundF16 = func(x, dst []float32) {
		n := len(x) &^ 7
		roundF16AVX2(x, dst[:len(x)])
		roundF16(x[n:], dst[n:len(x)])
	}
	for t, f := range portableKernels.q {
		k.q[t] = f
	}
	k.q[Q8_0] = func(w []byte, q []int8, d, _ []float32, _ []int16) float32 { return dotQ8_0AVX2(w, q, d) }
	k.q[Q4_0] = func(w []byte, q []int8, d, _ []float32, _ []int16) float32 { return dotQ4_0AVX2(w, q, d) }
	k.q[Q5_0] = func(w []byte, q []int8, d, _ []float32, _ []int16) float32 { return dotQ5_0AVX2(w, q, d) }
	k.q[Q4_1] = func(w []byte, q []int8, d, s []float32, _ []int16) float32 { return dotQ4_1AVX2(w, q, d, s) }
	k.q[Q5_1] = func(w []byte, q []int8, d, s []float32, _ []int16) float32 { return dotQ5_1AVX2(w, q, d, s) }
	k.q[Q2_K] = func(w []byte, q []int8, d, _ []float32, bs []int16) float32 { return dotQ2_KAVX2(w, q, d, bs) }
	k.q[Q3_K] = func(w []byte, q []int8, d, _ []float32, bs []int16) float32 { return dotQ3_KAVX2(w, q, d, bs) }
	k.q[Q4_K] = func(w []byte, q []int8, d, _ []float32, bs []int16) float32 { return dotQ4_KAVX2(w, q, d, bs) }
	k.q[Q5_K] = func(w []byte, q []int8, d, _ []float32, bs []int16) float32 { return dotQ5_KAVX2(w, q, d, bs) }
	k.q[Q6_K] = func(w []byte, q []int8, d, _ []float32, bs []int16) float32 { return dotQ6_KAVX2(w, q, d, bs) }
	if l >= LevelAVX512 {
		k.q[Q8_0] = func(w []byte, q []int8, d, _ []float32, _ []int16) float32 { return dotQ8_0VNNI(w, q, d) }
		k.q[Q4_0] = func(w []byte, q []int8, d, _ []float32, _ []int16) float32 { return dotQ4_0VNNI(w, q, d) }
		k.tile = map[DType]tileFunc{
			F16: tileF16AVX512, BF16: tileBF16AVX512, F32: tileF32AVX512,
			Q8_0: tileQ8_0ZOrY, Q4_0: tileQ4_0VNNI, Q4_K: tileQ4_KZ, Q5_K: tileQ5_KZ, Q6_K: tileQ6_KZ,
		}
		k.floatStep = 16
	}
	return k
}

func f32AVX2(w []byte, x []float32) float32 {
	n := len(x) &^ 7
	s := dotF32AVX2(w[:4*len(x)], x)
	for i := n; i < len(x); i++ {
		s += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x[i]
	}
	return s
}

func f16AVX2(w []byte, x []float32) float32 {
	n := len(x) &^ 7
	s := dotF16AVX2(w[:2*len(x)], x)
	for i := n; i < len(x); i++ {
		s += f16Table[binary.LittleEndian.Uint16(w[2*i:])] * x[i]
	}
	return s
}

func bf16AVX2(w []byte, x []float32) float32 {
	n := len(x) &^ 7
	s := dotBF16AVX2(w[:2*len(x)], x)
	for i := n; i < len(x); i++ {
		s += BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
	}
	return s
}

// tileQ8_0ZOrY runs the Z-register tile, which takes blocks in pairs, when
// the row has an even number of blocks.
func tileQ8_0ZOrY(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int) {
	if nb%2 == 0 {
		tileQ8_0Z(w, rs, q, d, bs, nb, cols, out, ldo)
		return
	}
	tileQ8_0VNNI(w, rs, q, d, bs, nb, cols, out, ldo)
}

// The vector primitives' AVX2 paths. Each reports false, doing nothing,
// when the kernels in use are not AVX2 or the shape does not suit them.

func dotF32Fast(a, b []float32) (float32, bool) {
	if !active.vecAVX2 {
		return 0, false
	}
	n := len(a) &^ 7
	s := dotF32F32AVX2(a, b)
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s, true
}

func axpyF32Fast(y []float32, a float32, x []float32) bool {
	if !active.vecAVX2 {
		return false
	}
	n := len(y) &^ 7
	axpyF32AVX2(y, a, x)
	axpyF32Go(y[n:], a, x[n:])
	return true
}

func axpy8F32Fast(y []float32, a *[8]float32, x []float32, stride int) bool {
	if !active.vecAVX2 {
		return false
	}
	_ = x[7*stride+len(y)-1]
	n := len(y) &^ 15
	axpy8F32AVX2(y, a, x, stride)
	for r := range a {
		axpyF32Go(y[n:], a[r], x[r*stride+n:r*stride+len(y)])
	}
	return true
}

func expF32Fast(x []float32) bool {
	if !active.vecAVX2 {
		return false
	}
	n := len(x) &^ 7
	expF32AVX2(x)
	expF32Go(x[n:])
	return true
}

func attnScoresFast(q, k []float32, stride int, scale float32, s []float32) bool {
	if !active.vecAVX2 || len(q)%8 != 0 || len(q) == 0 {
		return false
	}
	attnScoresAVX2(q, k, stride, scale, s)
	return true
}

func attnSumFast(out, v []float32, stride int, w []float32) bool {
	if !active.vecAVX2 || len(out)%8 != 0 || len(out) == 0 {
		return false
	}
	attnSumAVX2(out, v, stride, w)
	return true
}

func attnScoresF16Fast(q []float32, k []uint16, stride int, scale float32, s []float32) bool {
	if !active.vecAVX2 || len(q)%8 != 0 || len(q) == 0 {
		return false
	}
	attnScoresF16AVX2(q, k, stride, scale, s)
	return true
}

func attnSumF16Fast(out []float32, v []uint16, stride int, w []float32) bool {
	if !active.vecAVX2 || len(out)%8 != 0 || len(out) == 0 {
		return false
	}
	attnSumF16AVX2(out, v, stride, w)
	return true
}

func toF16Fast(dst []uint16, src []float32) bool {
	if !active.vecAVX2 {
		return false
	}
	n := len(src) &^ 7
	toF16AVX2(dst, src)
	toF16Go(dst[n:], src[n:])
	return true
}
