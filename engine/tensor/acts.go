package tensor

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Acts holds n rows of activations prepared for products with weights of
// one type, as llama.cpp prepares them (its vec_dot_type): quantized to
// Q8_0 blocks for Q8_0, Q4_0 and Q5_0 weights, to Q8_1 (Q8_0 plus the
// scaled block sum) for Q4_1 and Q5_1, to Q8_K super-blocks for the
// k-quants, rounded to half precision for F16, to bfloat16 for BF16, and
// kept as float32 for F32. The integer kernels then multiply quants by
// quants and apply the two scales once per block.
//
// Half-precision activations are kept as float32 values that a half (or
// bfloat16) holds exactly, which is what ggml computes with, so the kernels
// convert only the weights. The quants are stored split rather than in
// ggml's interleaved blocks:
// all int8 quants of a row back to back, then the float32 block scales
// (already rounded through half precision where ggml stores a half), so
// the vector kernels load them without unpacking. An Acts is reused from
// call to call: Prepare only grows its buffers.
type Acts struct {
	kind    DType // the activation type
	wt      DType // the weight type it was prepared for
	n, cols int
	q       []int8    // quants, n*cols
	d       []float32 // block scales, n*cols/blockSize
	s       []float32 // Q8_1: d·Σq per 32-block
	bs      []int16   // Q8_K: Σq per 16 elements
	f       []float32 // F32: a view of x; F16/BF16: x rounded, as float32
	x       []float32 // the input given to Setup
}

// ActType returns the type llama.cpp converts activations to before a
// product with weights of type w, or an error if w has no kernels.
func ActType(w DType) (DType, error) {
	switch w {
	case Q8_0, Q4_0, Q5_0:
		return Q8_0, nil
	case Q4_1, Q5_1:
		return Q8_1, nil
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K:
		return Q8_K, nil
	case F16:
		return F16, nil
	case BF16:
		return BF16, nil
	case F32:
		return F32, nil
	}
	return 0, fmt.Errorf("tensor: no matrix kernel for %s", w)
}

// Rows returns the number of prepared rows.
func (a *Acts) Rows() int { return a.n }

// Prepare converts n rows of cols elements from x (len >= n*cols) for a
// product with weights of type w: Setup, then Convert of every row. It
// allocates only when its buffers must grow.
func (a *Acts) Prepare(w DType, x []float32, n, cols int) error {
	if err := a.Setup(w, x, n, cols); err != nil {
		return err
	}
	a.Convert(0, n)
	return nil
}

// Setup sizes a for n rows of cols elements of x (len >= n*cols) and
// weights of type w, converting nothing yet: Convert does, so that callers
// can split the rows across threads. x must stay unchanged until the rows
// are converted (and, for F32 weights, whose activations are a view of x,
// until the product is done).
func (a *Acts) Setup(w DType, x []float32, n, cols int) error {
	kind, err := ActType(w)
	if err != nil {
		return err
	}
	if bs := kind.BlockSize(); cols <= 0 || cols%w.BlockSize() != 0 || cols%bs != 0 {
		return fmt.Errorf("tensor: prepare activations for %s: %d columns is not a whole number of blocks", w, cols)
	}
	if n < 0 || len(x) < n*cols {
		return fmt.Errorf("tensor: prepare activations: %d rows of %d need %d values, have %d", n, cols, n*cols, len(x))
	}
	if floatActs.Load() {
		kind = F32
	}
	a.kind, a.wt, a.n, a.cols = kind, w, n, cols
	a.x = x[:n*cols]
	switch kind {
	case F32:
		a.f = a.x
	case F16, BF16:
		a.f = grow(a.f, n*cols)
	case Q8_0, Q8_1:
		a.q = grow(a.q, n*cols)
		a.d = grow(a.d, n*cols/qk)
		if kind == Q8_1 {
			a.s = grow(a.s, n*cols/qk)
		}
	case Q8_K:
		a.q = grow(a.q, n*cols)
		a.d = grow(a.d, n*cols/QK_K)
		a.bs = grow(a.bs, n*cols/16)
	}
	return nil
}

// Convert converts rows [lo, hi) of the activations given to Setup. Calls
// on disjoint ranges may run at once.
func (a *Acts) Convert(lo, hi int) {
	c := a.cols
	x := a.x[lo*c : hi*c]
	switch a.kind {
	case F16:
		active.roundF16(x, a.f[lo*c:hi*c])
	case BF16:
		f := a.f[lo*c : hi*c]
		for i, v := range x {
			f[i] = BF16ToF32(F32ToBF16(v))
		}
	case Q8_0:
		active.quantQ8_0(x, a.q[lo*c:hi*c], a.d[lo*c/qk:hi*c/qk])
	case Q8_1:
		quantActQ8(x, a.q[lo*c:hi*c], a.d[lo*c/qk:hi*c/qk], a.s[lo*c/qk:hi*c/qk], true)
	case Q8_K:
		active.quantQ8_K(x, a.q[lo*c:hi*c], a.d[lo*c/QK_K:hi*c/QK_K], a.bs[lo*c/16:hi*c/16])
	}
}

// roundF16 rounds x to half precision, as llama.cpp does to activations
// that meet F16 weights; the values are kept as float32 so that the
// kernels convert only the weights.
func roundF16(x, dst []float32) {
	for i, v := range x {
		dst[i] = f16Table[F32ToF16(v)]
	}
}

// quantQ8_0Go is the portable Q8_0 activation quantizer.
func quantQ8_0Go(x []float32, q []int8, d []float32) { quantActQ8(x, q, d, nil, false) }

// floatActs makes Prepare keep float32 activations for every weight type.
var floatActs atomic.Bool

// SetFloatActivations makes products keep activations in float32 whatever
// the weight type, instead of rounding them as llama.cpp does; it returns
// the previous setting. It is slower, and it is what a comparison with a
// model dequantized to F32 needs: the weights are then the only rounding.
// Products already running are not affected. It is test and tool API (the
// llama.cpp oracle tests in engine/model use it); serving never sets it.
func SetFloatActivations(on bool) bool { return floatActs.Swap(on) }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// quantActQ8 quantizes x to Q8_0 (and the Q8_1 sums when sums is set) the
// way ggml's x86 quantize_row_q8_0/q8_1 do: d = amax/127 stored as a half,
// quants round(x·127/amax) with ties to even. (The reference quantizer,
// quantQ8_0, divides by the rounded d and rounds halves away from zero; the
// two differ in rare last-place cases, and llama.cpp runs this one.)
func quantActQ8(x []float32, q []int8, d, s []float32, sums bool) {
	for b := range d {
		xs := (*[qk]float32)(x[b*qk:])
		qs := (*[qk]int8)(q[b*qk:])
		var amax float32
		for _, v := range xs {
			amax = max(amax, abs32(v))
		}
		dd := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		d[b] = f16Table[F32ToF16(dd)]
		var sum int
		for j, v := range xs {
			r := int8(math.RoundToEven(float64(v * id)))
			qs[j] = r
			sum += int(r)
		}
		if sums {
			s[b] = f16Table[F32ToF16(dd*float32(sum))]
		}
	}
}

// quantActQ8K quantizes x to Q8_K as ggml's quantize_row_q8_K_ref (the one
// x86 runs) does; see quantQ8_K, which writes the interleaved block.
func quantActQ8K(x []float32, q []int8, d []float32, bs []int16) {
	for b := range d {
		xs := (*[QK_K]float32)(x[b*QK_K:])
		qs := (*[QK_K]int8)(q[b*QK_K:])
		var mx, amax float32
		for _, v := range xs {
			if a := abs32(v); a > amax {
				amax, mx = a, v
			}
		}
		if amax == 0 {
			clear(qs[:])
			clear(bs[16*b : 16*b+16])
			d[b] = 0
			continue
		}
		iscale := -127 / mx
		for j, v := range xs {
			qs[j] = int8(min(127, nearestInt(iscale*v)))
		}
		for j := 0; j < 16; j++ {
			var sum int
			for _, v := range qs[16*j : 16*j+16] {
				sum += int(v)
			}
			bs[16*b+j] = int16(sum)
		}
		d[b] = 1 / iscale
	}
}
