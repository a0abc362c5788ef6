package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// randomMatrix returns a rows x cols matrix of Gaussian weights of type t.
func randomMatrix(tb testing.TB, t tensor.DType, rows, cols int, r *rand.Rand) *Matrix {
	tb.Helper()
	rb, err := t.RowSize(int64(cols))
	if err != nil {
		tb.Fatal(err)
	}
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.05)
	}
	data := make([]byte, int(rb)*rows)
	if err := tensor.Quantize(t, x, data); err != nil {
		tb.Fatal(err)
	}
	return &Matrix{Name: "w", Type: t, Rows: rows, Cols: cols, Data: data, rowBytes: int(rb)}
}

// TestLinearForward checks Forward, on one thread and two, for one token
// and several, one chunk of rows and several, against row-by-row products
// of the dequantized weights with the activations as Forward rounds them.
func TestLinearForward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pools := []*parallel.Pool{parallel.New(1), parallel.New(2)}
	defer pools[1].Close()
	shapes := [][2]int{{37, 512}, {300, 1024}} // the second makes 2 to 5 chunks of Q8_0, F16, F32
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_K, tensor.Q6_K, tensor.F16, tensor.F32} {
		for _, shape := range shapes {
			for _, n := range []int{1, 5} {
				rows, cols := shape[0], shape[1]
				w := randomMatrix(t, typ, rows, cols, r)
				bias := make([]float32, rows)
				for i := range bias {
					bias[i] = float32(i)
				}
				l := Linear{W: w, Bias: bias}
				x := make([]float32, n*cols)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				wf := make([]float32, rows*cols)
				if err := tensor.Dequantize(typ, w.Data, wf); err != nil {
					t.Fatal(err)
				}
				for _, p := range pools {
					dst := make([]float32, n*rows)
					l.Forward(p, dst, x, n)
					for tok := 0; tok < n; tok++ {
						for row := 0; row < rows; row++ {
							var want, mag float64
							for i := 0; i < cols; i++ {
								v := float64(wf[row*cols+i]) * float64(x[tok*cols+i])
								want += v
								mag += math.Abs(v)
							}
							want += float64(bias[row])
							// Activations rounded to 8 bits move the sum by
							// about 1/127 of its terms' magnitude.
							if got := float64(dst[tok*rows+row]); math.Abs(got-want) > 0.01*mag {
								t.Errorf("%s n=%d threads=%d token %d row %d: got %g, want %g (Σ|w·x| %.3g)",
									typ, n, p.Threads(), tok, row, got, want, mag)
							}
						}
					}
				}
			}
		}
	}
}

// TestLinearForwardAllocs checks that Forward allocates nothing once warm,
// for decode (n=1) and a batch, on one thread and on two.
func TestLinearForwardAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pools := []*parallel.Pool{parallel.New(1), parallel.New(2)}
	defer pools[1].Close()
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_K, tensor.F16, tensor.F32} {
		for _, n := range []int{1, 8} {
			const rows, cols = 600, 512 // several chunks
			w := randomMatrix(t, typ, rows, cols, r)
			l := Linear{W: w}
			x := make([]float32, n*cols)
			dst := make([]float32, n*rows)
			for _, p := range pools {
				if a := testing.AllocsPerRun(100, func() { l.Forward(p, dst, x, n) }); a != 0 {
					t.Errorf("%s n=%d threads=%d: Forward allocates %v times per call, want 0", typ, n, p.Threads(), a)
				}
			}
		}
	}
}

// BenchmarkLinearForward runs a 5632x2048 projection (TinyLlama's FFN up
// and gate, 2048 in, 5632 out) of Q8_0, Q4_K and F16 weights, for one token
// (decode) and 64 (prefill), with 2 threads, at the fastest kernel level
// and with the portable kernels. SetBytes is the weights' size, so MB/s is
// the rate at which weights are consumed.
func BenchmarkLinearForward(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	p := parallel.New(2)
	defer p.Close()
	const rows, cols = 5632, 2048
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_K, tensor.F16} {
		w := randomMatrix(b, typ, rows, cols, r)
		l := Linear{W: w}
		for _, n := range []int{1, 64} {
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			dst := make([]float32, n*rows)
			for _, lv := range []tensor.Level{tensor.LevelPortable, tensor.CPULevel()} {
				if lv == tensor.LevelPortable && n > 1 && testing.Short() {
					continue
				}
				b.Run(fmt.Sprintf("%s/n=%d/%s", typ, n, lv), func(b *testing.B) {
					prev := tensor.SetLevel(lv)
					defer tensor.SetLevel(prev)
					b.SetBytes(int64(len(w.Data)))
					for b.Loop() {
						l.Forward(p, dst, x, n)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/token")
				})
			}
		}
	}
}
