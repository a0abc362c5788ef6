package tensor

import "fmt"

// MatMulTAdd adds the transposed product of a stored matrix to dst: for n
// rows of g (each of length rows), dst[t][c] += sum over r of W[r][c] *
// g[t][r], with W the rows x cols matrix of type typ in w. It is the
// backward pass of a projection through frozen weights: the gradient of
// its input. dst is n x cols, g is n x rows, both flat.
//
// Only columns c0..c1-1 of dst are computed, which must fall on block
// boundaries of typ (c1 may be cols): callers split the work across
// threads by column ranges, so that no two share an element of dst and
// each weight is dequantized once per call, by one thread.
//
// W is read in its stored type, never copied whole: a tile of TileTRows
// rows, cut to the column range, is dequantized into buf, and every
// token's slice of dst takes the tile's rows scaled by its gradients while
// both sit in L1 (a range of ColumnRange floats makes a 32 KiB tile).
func MatMulTAdd(dst []float32, typ DType, w []byte, rows, cols int, g []float32, n, c0, c1 int, buf []float32) error {
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		return err
	}
	bs, width := typ.BlockSize(), c1-c0
	switch {
	case c0 < 0 || c1 > cols || width <= 0 || c0%bs != 0 || (c1%bs != 0 && c1 != cols):
		return fmt.Errorf("tensor: transposed product: columns %d..%d of %d are not on %s block boundaries", c0, c1, cols, typ)
	case len(w) < rows*int(rb):
		return fmt.Errorf("tensor: transposed product: %d bytes of weights, want %d rows of %d", len(w), rows, rb)
	case len(g) < n*rows || len(dst) < n*cols:
		return fmt.Errorf("tensor: transposed product: buffers too small for %d tokens", n)
	case len(buf) < TileTRows*width:
		return fmt.Errorf("tensor: transposed product: scratch of %d floats, want %d", len(buf), TileTRows*width)
	}
	off, _ := typ.RowSize(int64(c0))
	end, _ := typ.RowSize(int64(c1))
	for r0 := 0; r0 < rows; r0 += TileTRows {
		r1 := min(r0+TileTRows, rows)
		for r := r0; r < r1; r++ {
			row := w[r*int(rb):]
			if err := Dequantize(typ, row[off:end], buf[(r-r0)*width:(r-r0+1)*width]); err != nil {
				return err
			}
		}
		for t := 0; t < n; t++ {
			d, gt := dst[t*cols+c0:t*cols+c1], g[t*rows:(t+1)*rows]
			r := r0
			for ; r+8 <= r1; r += 8 {
				a := (*[8]float32)(gt[r : r+8])
				if !axpy8F32Fast(d, a, buf[(r-r0)*width:], width) {
					for i, s := range a {
						axpyF32Go(d, s, buf[(r-r0+i)*width:(r-r0+i+1)*width])
					}
				}
			}
			for ; r < r1; r++ {
				if s := gt[r]; s != 0 {
					AxpyF32(d, s, buf[(r-r0)*width:(r-r0+1)*width])
				}
			}
		}
	}
	return nil
}

// TileTRows is the rows MatMulTAdd dequantizes at a time, and
// ColumnRange the columns a caller should give each call, a multiple of
// every block size.
const (
	TileTRows   = 16
	ColumnRange = 512
)
