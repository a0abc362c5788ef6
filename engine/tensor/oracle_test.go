package tensor_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// oracleDir holds GGUF files written by llama.cpp (see its README.txt).
var oracleDir = filepath.Join("..", "..", "..", "shared", "testdata", "oracle")

func openOracle(t *testing.T, name string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(filepath.Join(oracleDir, name))
	if err != nil {
		t.Skipf("oracle file unavailable: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestQuantizeMatchesLlamaCpp quantizes every F16 weight of tiny256-f16.gguf
// to the type llama-quantize chose for it and compares the bytes with the
// tensors of the llama.cpp-quantized files.
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	src := openOracle(t, "tiny256-f16.gguf")
	for _, name := range []string{"tiny256-Q8_0.gguf", "tiny256-Q4_K_M.gguf"} {
		t.Run(name, func(t *testing.T) {
			ref := openOracle(t, name)
			type count struct{ match, total int }
			counts := map[tensor.DType]*count{}
			for i := range ref.Tensors {
				rt := &ref.Tensors[i]
				st, ok := src.Tensor(rt.Name)
				if !ok {
					t.Errorf("%s: not in the F16 file", rt.Name)
					continue
				}
				n := int(numElements(st.Shape))
				x := make([]float32, n)
				if err := tensor.Dequantize(st.Type, src.TensorData(st), x); err != nil {
					t.Fatalf("%s: %v", rt.Name, err)
				}
				if !tensor.CanQuantize(rt.Type) {
					t.Errorf("%s: cannot quantize to %s", rt.Name, rt.Type)
					continue
				}
				want := ref.TensorData(rt)
				got := make([]byte, len(want))
				if err := tensor.Quantize(rt.Type, x, got); err != nil {
					t.Fatalf("%s: %v", rt.Name, err)
				}
				// Decoding llama.cpp's bytes must give back the weights, up to
				// quantization error: a check of the layouts on real data.
				y := make([]float32, n)
				if err := tensor.Dequantize(rt.Type, want, y); err != nil {
					t.Fatalf("%s: %v", rt.Name, err)
				}
				if e := relRMSE(x, y); e > 0.1 {
					t.Errorf("%s (%s): dequantized llama.cpp data is off by %.2f%% rms", rt.Name, rt.Type, 100*e)
				}
				c := counts[rt.Type]
				if c == nil {
					c = &count{}
					counts[rt.Type] = c
				}
				c.total++
				if diff := firstDiff(got, want); diff >= 0 {
					bs := rt.Type.TypeSize()
					t.Errorf("%s (%s from %s): bytes differ first at %d (block %d, byte %d): got %#x want %#x",
						rt.Name, rt.Type, st.Type, diff, diff/bs, diff%bs, got[diff], want[diff])
				} else {
					c.match++
				}
			}
			for typ, c := range counts {
				t.Logf("%s: %d/%d tensors byte-identical to llama.cpp", typ, c.match, c.total)
			}
		})
	}
}

func relRMSE(want, got []float32) float64 {
	var e, s float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		e += d * d
		s += float64(want[i]) * float64(want[i])
	}
	if s == 0 {
		return math.Sqrt(e)
	}
	return math.Sqrt(e / s)
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
