package tensor

import "fmt"

// fdotFunc is the dot product of an F32, F16 or BF16 row with float32
// activations.
type fdotFunc func(w []byte, x []float32) float32

// kernelSet is one set of row kernels: the portable one, or one using the
// vector units of a CPU level.
type kernelSet struct {
	q    map[DType]qdotFunc
	tile map[DType]tileFunc // may be nil or lack types
	// floatStep is the elements per step of the float tiles, which need
	// rows that are a multiple of it.
	floatStep int
	f16       fdotFunc
	bf16      fdotFunc
	f32       fdotFunc

	// Activation converters (see Acts.Convert).
	quantQ8_0 func(x []float32, q []int8, d []float32)
	quantQ8_K func(x []float32, q []int8, d []float32, bs []int16)
	roundF16  func(x, dst []float32)

	// vecAVX2 makes the vector primitives of vec.go use their AVX2 code
	// (see the *Fast functions of simd_amd64.go). They are called
	// directly rather than through function values, which would make their
	// callers' stack buffers escape to the heap.
	vecAVX2 bool
}

var portableKernels = kernelSet{
	q: map[DType]qdotFunc{
		Q8_0: qdotQ8_0, Q4_0: qdotQ4_0, Q4_1: qdotQ4_1, Q5_0: qdotQ5_0, Q5_1: qdotQ5_1,
		Q2_K: qdotQ2_K, Q3_K: qdotQ3_K, Q4_K: qdotQ4_K, Q5_K: qdotQ5_K, Q6_K: qdotQ6_K, Q8_K: qdotQ8_K,
	},
	f16:       dotF16,
	bf16:      dotBF16,
	f32:       dotF32,
	quantQ8_0: quantQ8_0Go,
	quantQ8_K: quantActQ8K,
	roundF16:  roundF16,
}

// tileFunc computes a tileRows x tileTokens block of products: weight rows
// at w and w+rs bytes, tokens t = 0..3 with quants at q+t*cols, block
// scales at d+t*nb and (Q8_K) sums of 16 at bs+t*cols/16, each row nb
// blocks long; the result for row r and token t goes to out[t*ldo+r]. The
// caller checks every bound.
type tileFunc func(w *byte, rs int, q *int8, d *float32, bs *int16, nb, cols int, out *float32, ldo int)

const tileRows, tileTokens = 2, 4

// tileBytes bounds the weight rows one pass over the tokens reuses: they
// stay in the 32-48 KiB L1 data cache of current x86 and arm64 cores while
// every token's activations stream past them from L2, so for a batch the
// weights come from memory once instead of once per token.
const tileBytes = 32 << 10

// MatMul sets dst[t*ldd+r] to the dot product of row r of w with row t of
// a, for r < rows and t < a.Rows(); w holds rows of weights of type typ, the
// type a was prepared for, back to back. It runs on the calling goroutine:
// callers split the rows of a large matrix across threads.
func MatMul(dst []float32, ldd int, typ DType, w []byte, rows int, a *Acts) error {
	if typ != a.wt {
		return fmt.Errorf("tensor: matmul %s: activations prepared for %s", typ, a.wt)
	}
	rs := a.cols / typ.BlockSize() * typ.TypeSize()
	if rows < 0 || len(w) < rows*rs {
		return fmt.Errorf("tensor: matmul %s: %d rows of %d bytes need %d bytes, have %d", typ, rows, rs, rows*rs, len(w))
	}
	if a.n > 0 && rows > 0 && (ldd < rows || len(dst) < (a.n-1)*ldd+rows) {
		return fmt.Errorf("tensor: matmul %s: output of %d values (stride %d) too small for %d x %d", typ, len(dst), ldd, a.n, rows)
	}
	k := active
	// Whole tiles of rows, so that only the matrix's last rows, not every
	// pass's, fall to the row kernel.
	tile := max(tileRows, tileBytes/rs/tileRows*tileRows)
	tf := k.tile[typ]
	if tf != nil && (a.kind == F32 && typ != F32 || a.kind.BlockSize() == 1 && a.cols%k.floatStep != 0) {
		tf = nil // SetFloatActivations, or float rows the tiles cannot step through
	}
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(rows, r0+tile)
		t := 0
		if tf != nil {
			t = a.tiles(dst, ldd, tf, w, rs, r0, r1)
		}
		for ; t < a.n; t++ {
			out := dst[t*ldd : t*ldd+r1]
			switch a.kind {
			case F32, F16, BF16:
				x := a.f[t*a.cols : (t+1)*a.cols]
				var f fdotFunc
				switch typ {
				case F32:
					f = k.f32
				case F16:
					f = k.f16
				case BF16:
					f = k.bf16
				default:
					f = kernels[typ].dot // SetFloatActivations
				}
				for r := r0; r < r1; r++ {
					out[r] = f(w[r*rs:(r+1)*rs], x)
				}
			default:
				q, d, s, bs := a.row(t)
				f := k.q[typ]
				for r := r0; r < r1; r++ {
					out[r] = f(w[r*rs:(r+1)*rs], q, d, s, bs)
				}
			}
		}
	}
	return nil
}

// tiles runs tf over rows [r0, r1) for the tokens that fill whole tiles,
// the leftover rows of those tokens with the row kernel, and returns the
// first token it did not cover.
func (a *Acts) tiles(dst []float32, ldd int, tf tileFunc, w []byte, rs, r0, r1 int) int {
	float := a.kind.BlockSize() == 1
	nb := a.cols / a.kind.BlockSize()
	if float {
		nb = a.cols / active.floatStep
	}
	t := 0
	for ; t+tileTokens <= a.n; t += tileTokens {
		r := r0
		for ; r+tileRows <= r1; r += tileRows {
			if float {
				tf(&w[r*rs], rs, nil, &a.f[t*a.cols], nil, nb, a.cols, &dst[t*ldd+r], ldd)
				continue
			}
			var bs *int16
			if a.kind == Q8_K {
				bs = &a.bs[t*a.cols/16]
			}
			tf(&w[r*rs], rs, &a.q[t*a.cols], &a.d[t*nb], bs, nb, a.cols, &dst[t*ldd+r], ldd)
		}
		for ; r < r1; r++ {
			for u := t; u < t+tileTokens; u++ {
				dst[u*ldd+r] = a.dot(w[r*rs:(r+1)*rs], u)
			}
		}
	}
	return t
}

// dot is the row kernel's product of weight row w with token t.
func (a *Acts) dot(w []byte, t int) float32 {
	k := active
	switch a.kind {
	case F32, F16, BF16:
		x := a.f[t*a.cols : (t+1)*a.cols]
		switch a.wt {
		case F32:
			return k.f32(w, x)
		case F16:
			return k.f16(w, x)
		case BF16:
			return k.bf16(w, x)
		}
		return kernels[a.wt].dot(w, x) // SetFloatActivations
	}
	q, d, s, bs := a.row(t)
	return k.q[a.wt](w, q, d, s, bs)
}

// row returns the quants, scales and sums of quantized row t.
func (a *Acts) row(t int) (q []int8, d, s []float32, bs []int16) {
	nb := a.cols / a.kind.BlockSize()
	q = a.q[t*a.cols : (t+1)*a.cols]
	d = a.d[t*nb : (t+1)*nb]
	if a.kind == Q8_1 {
		s = a.s[t*nb : (t+1)*nb]
	}
	if a.kind == Q8_K {
		bs = a.bs[t*a.cols/16 : (t+1)*a.cols/16]
	}
	return q, d, s, bs
}
