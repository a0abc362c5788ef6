package tensor

import (
	"encoding/binary"
	"fmt"
)

// TScratch is the reusable working memory of MatMulTAdd, one per thread.
// The zero value is ready; its buffers grow to the largest call.
type TScratch struct {
	tile []float32 // TileTRows dequantized rows of the column range
	wf   []float32 // quantized bases: a chunk of the range transposed
	wq   []byte    // wf requantized to Q8_0
	q    []int8    // one row of wf quantized, and its block scales
	d    []float32
	g    []float32 // the gradients' columns of one chunk, contiguous
	out  []float32 // one chunk's products, added to dst
	acts Acts
}

// tRows is the rows of W one transposed chunk covers (quantized bases): a
// range of 512 columns by 1024 rows is 2 MiB of floats, 0.5 MiB as Q8_0.
const tRows = 1024

// MatMulTAdd adds the transposed product of a stored matrix to dst: for n
// rows of g (each of length rows), dst[t][c] += sum over r of W[r][c] *
// g[t][r], with W the rows x cols matrix of type typ in w. It is the
// backward pass of a projection through frozen weights: the gradient of
// its input. dst is n x cols, g is n x rows, both flat.
//
// Only columns c0..c1-1 of dst are computed, which must fall on block
// boundaries of typ (c1 may be cols): callers split the work across
// threads by column ranges, each with its own scratch, so that no two
// share an element of dst and each weight is dequantized once per call,
// by one thread. W is read in its stored type, never copied whole.
//
// For F32, F16 and BF16 weights the sums are exact float32: a tile of
// TileTRows rows, cut to the column range, is dequantized, and every
// token's slice of dst takes the tile's rows scaled by its gradients
// while both sit in L1 (a range of ColumnRange floats makes a 32 KiB
// tile). A quantized W is run through the integer kernels of the forward
// pass instead, at its speed: a chunk of rows of the range is dequantized,
// transposed and requantized to Q8_0, and the gradients converted to Q8
// blocks as the forward pass converts activations. The result then
// carries an error of about 0.75% of its rms, the 8-bit rounding of both
// operands, noise of the kind the quantized forward pass already adds.
func MatMulTAdd(dst []float32, typ DType, w []byte, rows, cols int, g []float32, n, c0, c1 int, s *TScratch) error {
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		return err
	}
	k, ok := kernels[typ]
	if !ok {
		return fmt.Errorf("tensor: transposed product: unsupported type %s", typ)
	}
	bs, width := typ.BlockSize(), c1-c0
	switch {
	case c0 < 0 || c1 > cols || width <= 0 || c0%bs != 0 || (c1%bs != 0 && c1 != cols):
		return fmt.Errorf("tensor: transposed product: columns %d..%d of %d are not on %s block boundaries", c0, c1, cols, typ)
	case rows < 0 || n < 0 || len(w) < rows*int(rb):
		return fmt.Errorf("tensor: transposed product: %d bytes of weights, want %d rows of %d", len(w), rows, rb)
	case len(g) < n*rows || len(dst) < n*cols:
		return fmt.Errorf("tensor: transposed product: buffers too small for %d tokens", n)
	}
	if n == 0 || rows == 0 {
		return nil
	}
	off, _ := typ.RowSize(int64(c0))
	end, _ := typ.RowSize(int64(c1))
	s.tile = grow(s.tile, TileTRows*width)
	for r0 := 0; r0 < rows; r0 += tRows {
		r1 := min(r0+tRows, rows)
		if typ == F32 || typ == F16 || typ == BF16 || (r1-r0)%qk != 0 {
			s.axpyRows(dst, k.dequant, w, int(rb), int(off), int(end), g, rows, cols, n, c0, c1, r0, r1)
			continue
		}
		if err := s.quantRows(dst, k.dequant, w, int(rb), int(off), int(end), g, rows, cols, n, c0, c1, r0, r1); err != nil {
			return err
		}
	}
	return nil
}

// axpyRows adds the products of rows r0..r1 in float32, tile by tile.
func (s *TScratch) axpyRows(dst []float32, dequant func([]byte, []float32), w []byte, rb, off, end int, g []float32, rows, cols, n, c0, c1, r0, r1 int) {
	width, buf := c1-c0, s.tile
	for t0 := r0; t0 < r1; t0 += TileTRows {
		t1 := min(t0+TileTRows, r1)
		for r := t0; r < t1; r++ {
			dequant(w[r*rb+off:r*rb+end], buf[(r-t0)*width:(r-t0+1)*width])
		}
		for t := 0; t < n; t++ {
			d, gt := dst[t*cols+c0:t*cols+c1], g[t*rows:(t+1)*rows]
			r := t0
			for ; r+8 <= t1; r += 8 {
				Axpy8F32(d, (*[8]float32)(gt[r:r+8]), buf[(r-t0)*width:], width)
			}
			for ; r < t1; r++ {
				if v := gt[r]; v != 0 {
					AxpyF32(d, v, buf[(r-t0)*width:(r-t0+1)*width])
				}
			}
		}
	}
}

// quantRows adds the products of rows r0..r1 (a multiple of 32 of them)
// through the Q8_0 integer kernels: the chunk transposed and requantized
// as weights, the gradients quantized as activations.
func (s *TScratch) quantRows(dst []float32, dequant func([]byte, []float32), w []byte, rb, off, end int, g []float32, rows, cols, n, c0, c1, r0, r1 int) error {
	width, k := c1-c0, r1-r0
	wf := grow(s.wf, width*k)
	s.wf = wf
	for t0 := r0; t0 < r1; t0 += TileTRows {
		t1 := min(t0+TileTRows, r1)
		for r := t0; r < t1; r++ {
			dequant(w[r*rb+off:r*rb+end], s.tile[(r-t0)*width:(r-t0+1)*width])
		}
		for c := 0; c < width; c++ {
			col := wf[c*k+t0-r0 : c*k+t1-r0]
			for r := range col {
				col[r] = s.tile[r*width+c]
			}
		}
	}
	// The activations' vector quantizer, its blocks then packed as ggml
	// stores them: the reference quantizer would cost more than the
	// product.
	nb, bsz := k/qk, Q8_0.TypeSize()
	rq := nb * bsz
	s.wq = grow(s.wq, width*rq)
	s.q, s.d = grow(s.q, k), grow(s.d, nb)
	quant := active.quantQ8_0
	for c := 0; c < width; c++ {
		quant(wf[c*k:(c+1)*k], s.q, s.d)
		blk := s.wq[c*rq : (c+1)*rq]
		for b := 0; b < nb; b++ {
			o := b * bsz
			binary.LittleEndian.PutUint16(blk[o:], F32ToF16(s.d[b]))
			for i, v := range s.q[b*qk : (b+1)*qk] {
				blk[o+2+i] = byte(v)
			}
		}
	}
	x := g
	if k != rows {
		s.g = grow(s.g, n*k)
		for t := 0; t < n; t++ {
			copy(s.g[t*k:(t+1)*k], g[t*rows+r0:t*rows+r1])
		}
		x = s.g
	}
	if err := s.acts.Prepare(Q8_0, x, n, k); err != nil {
		return err
	}
	s.out = grow(s.out, n*width)
	if err := MatMul(s.out, width, Q8_0, s.wq, width, &s.acts); err != nil {
		return err
	}
	for t := 0; t < n; t++ {
		d, o := dst[t*cols+c0:t*cols+c1], s.out[t*width:(t+1)*width]
		for i, v := range o {
			d[i] += v
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
