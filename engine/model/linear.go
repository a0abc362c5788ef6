package model

import (
	"fmt"
	"sync/atomic"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Matrix is a weight matrix as stored in the file: Rows rows of Cols
// elements, each row a run of blocks of Type. It is a view into the
// memory-mapped file.
type Matrix struct {
	Name       string
	Type       tensor.DType
	Rows, Cols int
	Data       []byte
	rowBytes   int
}

// Row returns the bytes of row r.
func (m *Matrix) Row(r int) []byte { return m.Data[r*m.rowBytes : (r+1)*m.rowBytes] }

// RowFloat dequantizes row r into dst (len Cols).
func (m *Matrix) RowFloat(r int, dst []float32) error {
	return tensor.Dequantize(m.Type, m.Row(r), dst)
}

// Linear is a projection y = W x (+ b) (+ a low-rank update). Projections
// are named fields of the model so that an adapter can wrap each one.
type Linear struct {
	W    *Matrix
	Bias []float32 // optional, len W.Rows
	LoRA *LoRA     // optional; see WithLoRA

	// lr is LoRA in the grouped kernels' layout, made by WithLoRA. A LoRA
	// set some other way runs through the simple reference (LoRA.apply).
	lr *lowRank
}

// Forward computes dst[t] = W x[t] + b for n tokens; x is [n][W.Cols] and
// dst is [n][W.Rows], both flat. The tokens are first converted once to the
// activation type llama.cpp uses with W's type (Q8 blocks for quantized
// weights, so the kernels multiply integers). Then the rows are cut into
// chunks of about chunkBytes of weights, which the pool's threads take in
// turn from a shared counter: a thread slowed by another process on its
// core takes fewer chunks instead of holding everyone up. tensor.MatMul
// walks a chunk in tiles of rows small enough to stay in L1 while every
// token passes over them, so each weight is read from memory once per call
// whatever n is. It allocates nothing: the converted activations live in
// a reused forwardJob.
func (l *Linear) Forward(p *parallel.Pool, dst, x []float32, n int) {
	w := l.W
	j := getJob()
	if err := j.acts.Setup(w.Type, x, n, w.Cols); err != nil {
		// Shapes and types were checked when the model was bound.
		panic(fmt.Sprintf("model: %s: %v", w.Name, err))
	}
	if n >= convertSplit {
		p.For(n, 1, j.convert)
	} else {
		j.acts.Convert(0, n)
	}
	j.w, j.dst = w, dst
	j.chunk = max(rowGrain, (chunkBytes/w.rowBytes+rowGrain-1)/rowGrain*rowGrain)
	chunks := (w.Rows + j.chunk - 1) / j.chunk
	j.next.Store(0)
	p.For(min(chunks, p.Threads()), 1, j.run)
	j.w, j.dst = nil, nil
	switch {
	case l.LoRA == nil:
	case l.lr != nil && l.lr.src == l.LoRA:
		// The same kernels as a batch of adapters (lowRankJob), with every
		// token in one run.
		if j.lrj == nil {
			j.lrj = newLowRankJob()
		}
		j.lrj.reset(x, w.Cols)
		j.lrj.target(dst, w.Rows)
		j.lrj.seg(0, n, l.lr)
		j.lrj.run(p)
	default:
		j.lora = grow(j.lora, n*l.LoRA.Rank)
		l.LoRA.apply(p, dst, x, j.lora, n, w.Cols, w.Rows)
	}
	putJob(j)
	if l.Bias != nil {
		out := w.Rows
		for t := 0; t < n; t++ {
			row := dst[t*out : (t+1)*out]
			for i, b := range l.Bias {
				row[i] += b
			}
		}
	}
}

// convertSplit is the fewest tokens whose conversion is split across the
// pool: one token's takes a few microseconds, less than a hand-off.
const convertSplit = 4

// rowGrain is the granularity of chunks, in rows: a multiple of the tiles'
// rows, and enough that a chunk costs more than taking it.
const rowGrain = 16

// chunkBytes is the weight bytes per chunk: small enough that a 2048x5632
// projection makes a few dozen chunks to balance, large enough that a
// thread streams long runs of memory (a 256 KiB chunk of Q8_0 takes about
// 10 us at decode).
const chunkBytes = 256 << 10

// forwardJob is the state of one Forward call that its threads share. Jobs
// are kept on a free list rather than owned by a Linear because several
// sequences may run the same projection at once; a job keeps its
// activation buffers and its bound method values, so reusing one
// allocates nothing. (A sync.Pool would do, but it may drop what it holds
// at any garbage collection, and always some of it under the race
// detector.)
type forwardJob struct {
	acts    tensor.Acts
	w       *Matrix
	dst     []float32
	run     func(lo, hi int)
	convert func(lo, hi int)
	chunk   int          // rows per chunk
	next    atomic.Int64 // the next chunk to take
	lora    []float32    // (n, rank) the reference low-rank update's inner products
	lrj     *lowRankJob  // the grouped low-rank update, made on first use
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// freeJobs holds idle jobs: as many as Forward calls ever ran at once, up
// to its capacity; beyond that, jobs are left to the garbage collector.
var freeJobs = make(chan *forwardJob, 64)

func getJob() *forwardJob {
	select {
	case j := <-freeJobs:
		return j
	default:
		j := new(forwardJob)
		j.run = j.rows
		j.convert = j.acts.Convert
		return j
	}
}

func putJob(j *forwardJob) {
	select {
	case freeJobs <- j:
	default:
	}
}

// rows is one thread's share of the products: it takes chunks of rows
// until none are left. (The range the pool hands it only counts threads.)
func (j *forwardJob) rows(_, _ int) {
	w := j.w
	for {
		lo := int(j.next.Add(1)-1) * j.chunk
		if lo >= w.Rows {
			return
		}
		hi := min(lo+j.chunk, w.Rows)
		if err := tensor.MatMul(j.dst[lo:], w.Rows, w.Type, w.Data[lo*w.rowBytes:hi*w.rowBytes], hi-lo, &j.acts); err != nil {
			panic(fmt.Sprintf("model: %s: %v", w.Name, err))
		}
	}
}

// binder looks tensors up by name and checks their shapes, collecting the
// first error so the architecture files read as a list of names.
type binder struct {
	f   *gguf.File
	err error
}

func (b *binder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

// matrix binds a 2-D weight of shape [cols, rows] in ggml order.
func (b *binder) matrix(name string, rows, cols int) *Matrix {
	t, ok := b.f.Tensor(name)
	if !ok {
		b.fail("missing tensor %s", name)
		return nil
	}
	if len(t.Shape) != 2 || t.Shape[0] != int64(cols) || t.Shape[1] != int64(rows) {
		b.fail("tensor %s has shape %v, want [%d %d]", name, t.Shape, cols, rows)
		return nil
	}
	if !tensor.Supported(t.Type) {
		b.fail("%w: tensor %s has type %s", ErrUnsupported, name, t.Type)
		return nil
	}
	rb, _ := t.Type.RowSize(int64(cols))
	return &Matrix{Name: name, Type: t.Type, Rows: rows, Cols: cols, Data: b.f.TensorData(t), rowBytes: int(rb)}
}

// optMatrix binds a matrix if the file has it.
func (b *binder) optMatrix(name string, rows, cols int) *Matrix {
	if _, ok := b.f.Tensor(name); !ok {
		return nil
	}
	return b.matrix(name, rows, cols)
}

// vector binds a 1-D tensor of n elements, converted to float32 (norm
// weights and biases are small, and the forward pass reads them as floats).
func (b *binder) vector(name string, n int) []float32 {
	t, ok := b.f.Tensor(name)
	if !ok {
		b.fail("missing tensor %s", name)
		return nil
	}
	return b.toFloat(t, n)
}

func (b *binder) optVector(name string, n int) []float32 {
	t, ok := b.f.Tensor(name)
	if !ok {
		return nil
	}
	return b.toFloat(t, n)
}

func (b *binder) toFloat(t *gguf.TensorInfo, n int) []float32 {
	if len(t.Shape) != 1 || t.Shape[0] != int64(n) {
		b.fail("tensor %s has shape %v, want [%d]", t.Name, t.Shape, n)
		return nil
	}
	out := make([]float32, n)
	if err := tensor.Dequantize(t.Type, b.f.TensorData(t), out); err != nil {
		b.fail("tensor %s: %v", t.Name, err)
		return nil
	}
	return out
}
