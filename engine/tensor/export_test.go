package tensor

import "math"

// Reference products for the tests: one row, or a matrix row by row, with
// the type's own dot kernel on float activations, without MatMul's
// activation rounding, tiles or threads.

// Dot returns the dot product of one row of type t with x, decoding the
// row block by block without a temporary buffer.
//
// It checks nothing, as the kernels it calls do not: the caller must make
// sure that Supported(t), that len(x) is a multiple of t.BlockSize() and
// that len(row) == t.RowSize(len(x)). A row that is too short makes Dot
// panic with an index error; an unsupported type gives NaN.
func Dot(t DType, row []byte, x []float32) float32 {
	k, ok := kernels[t]
	if !ok {
		return float32(math.NaN())
	}
	return k.dot(row, x)
}

// MatVec sets dst[r] to the dot product of row r of w with x, for r in
// [0, len(dst)), where w holds rows of len(x) elements of type t back to
// back. It has Dot's preconditions for each row, and w must hold at least
// len(dst) rows. It runs on the calling goroutine; callers split the rows
// of large matrices across goroutines.
func MatVec(dst []float32, t DType, w []byte, x []float32) {
	k, ok := kernels[t]
	if !ok {
		for r := range dst {
			dst[r] = float32(math.NaN())
		}
		return
	}
	rs := len(x) / t.BlockSize() * t.TypeSize()
	for r := range dst {
		dst[r] = k.dot(w[r*rs:(r+1)*rs], x)
	}
}
