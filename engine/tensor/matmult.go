package tensor

import "fmt"

// MatMulTAdd adds the transposed product of a stored matrix to dst: for n
// rows of g (each of length rows), dst[t][c] += sum over r of W[r][c] *
// g[t][r], with W the rows x cols matrix of type typ in w. It is the
// backward pass of a projection through frozen weights: the gradient of
// its input. dst is n x cols, g is n x rows, both flat.
//
// W is read in its stored type, never copied whole: a tile of tileRows rows
// is dequantized at a time, and each token's row of dst takes the tile's
// rows scaled by its gradients while it sits in L1. The caller splits the
// work by tokens, so no two goroutines share a row of dst.
func MatMulTAdd(dst []float32, typ DType, w []byte, rows, cols int, g []float32, n int, buf []float32) error {
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		return err
	}
	switch {
	case len(w) < rows*int(rb):
		return fmt.Errorf("tensor: transposed product: %d bytes of weights, want %d rows of %d", len(w), rows, rb)
	case len(g) < n*rows || len(dst) < n*cols:
		return fmt.Errorf("tensor: transposed product: buffers too small for %d tokens", n)
	case len(buf) < TileTRows*cols:
		return fmt.Errorf("tensor: transposed product: scratch of %d floats, want %d", len(buf), TileTRows*cols)
	}
	for r0 := 0; r0 < rows; r0 += TileTRows {
		r1 := min(r0+TileTRows, rows)
		for r := r0; r < r1; r++ {
			if err := Dequantize(typ, w[r*int(rb):(r+1)*int(rb)], buf[(r-r0)*cols:(r-r0+1)*cols]); err != nil {
				return err
			}
		}
		for t := 0; t < n; t++ {
			d, gt := dst[t*cols:(t+1)*cols], g[t*rows:(t+1)*rows]
			for r := r0; r < r1; r++ {
				if s := gt[r]; s != 0 {
					AxpyF32(d, s, buf[(r-r0)*cols:(r-r0+1)*cols])
				}
			}
		}
	}
	return nil
}

// TileTRows is the rows MatMulTAdd dequantizes at a time; its scratch
// holds TileTRows rows of floats.
const TileTRows = 16
