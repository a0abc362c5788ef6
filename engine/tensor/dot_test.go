package tensor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// supportedTypes is every type Dequantize and Dot handle.
var supportedTypes = []DType{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}

func gaussian(r *rand.Rand, n int, sigma float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * sigma)
	}
	return v
}

// quantizeRow returns n Gaussian values stored as type t.
func quantizeRow(t *testing.T, typ DType, r *rand.Rand, n int) []byte {
	t.Helper()
	rs, err := typ.RowSize(int64(n))
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, rs)
	if err := Quantize(typ, gaussian(r, n, 1), row); err != nil {
		t.Fatal(err)
	}
	return row
}

func TestSupportedAndCanQuantize(t *testing.T) {
	for _, typ := range supportedTypes {
		if !Supported(typ) || !CanQuantize(typ) {
			t.Errorf("%s: Supported=%v CanQuantize=%v, want both", typ, Supported(typ), CanQuantize(typ))
		}
	}
	for _, typ := range []DType{Q8_1, IQ4_NL, IQ2_XXS, I8, I32, F64, TQ1_0, MXFP4, DType(99)} {
		if Supported(typ) || CanQuantize(typ) {
			t.Errorf("%s: Supported=%v CanQuantize=%v, want neither", typ, Supported(typ), CanQuantize(typ))
		}
	}
}

// TestDot checks Dot against a float64 dot product of the dequantized row,
// for one block, a few blocks and a 4096-element row. The float32 kernels
// regroup their sums, so they are held to 1e-5 of Σ|w·x|, the scale of
// the rounding error of any float32 summation order.
func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range supportedTypes {
		bs := typ.BlockSize()
		if bs == 1 {
			bs = 32 // plain types: also cover lengths with a remainder of 4
		}
		for _, n := range []int{bs, 3 * bs, 4096, 4096 + 3*typ.BlockSize()} {
			if n%typ.BlockSize() != 0 {
				continue
			}
			row := quantizeRow(t, typ, r, n)
			x := gaussian(r, n, 1)
			w := make([]float32, n)
			if err := Dequantize(typ, row, w); err != nil {
				t.Fatal(err)
			}
			var want, mag float64
			for i := range w {
				p := float64(w[i]) * float64(x[i])
				want += p
				mag += math.Abs(p)
			}
			got := Dot(typ, row, x)
			if d := math.Abs(float64(got) - want); d > 1e-5*mag {
				t.Errorf("%s n=%d: Dot = %g, want %g (diff %.3g, Σ|w·x| %.3g)", typ, n, got, want, d, mag)
			}
		}
	}
}

func TestMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 5, 512
	for _, typ := range supportedTypes {
		w := quantizeRow(t, typ, r, rows*cols)
		x := gaussian(r, cols, 1)
		dst := make([]float32, rows)
		MatVec(dst, typ, w, x)
		rs := len(w) / rows
		for i := range dst {
			if want := Dot(typ, w[i*rs:(i+1)*rs], x); dst[i] != want {
				t.Errorf("%s row %d: MatVec = %g, Dot = %g", typ, i, dst[i], want)
			}
		}
	}
	dst := []float32{1, 2}
	MatVec(dst, IQ2_XXS, nil, make([]float32, 256))
	if !math.IsNaN(float64(dst[0])) || !math.IsNaN(float64(dst[1])) {
		t.Errorf("MatVec on an unsupported type = %v, want NaNs", dst)
	}
	if got := Dot(IQ2_XXS, nil, nil); !math.IsNaN(float64(got)) {
		t.Errorf("Dot on an unsupported type = %g, want NaN", got)
	}
}

func TestSizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		typ    DType
		n      int
		nbytes int
		want   string
	}{
		{"short src", Q4_K, 256, 143, "take 144 bytes, got 143"},
		{"long src", Q8_0, 64, 69, "take 68 bytes, got 69"},
		{"partial block", Q4_0, 48, 27, "not a multiple of the Q4_0 block size 32"},
		{"unsupported", IQ4_NL, 32, 18, "unsupported type"},
		{"unknown", DType(99), 32, 18, "unsupported type"},
	}
	for _, tt := range tests {
		err := Dequantize(tt.typ, make([]byte, tt.nbytes), make([]float32, tt.n))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tensor: dequantize") {
			t.Errorf("Dequantize %s: err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
		err = Quantize(tt.typ, make([]float32, tt.n), make([]byte, tt.nbytes))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tensor: quantize") {
			t.Errorf("Quantize %s: err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
	// An empty row is a whole number of blocks.
	if err := Dequantize(Q6_K, nil, nil); err != nil {
		t.Errorf("Dequantize of nothing: %v", err)
	}
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	const n = 4096
	for _, typ := range supportedTypes {
		rs, _ := typ.RowSize(n)
		row := make([]byte, rs)
		if err := Quantize(typ, gaussian(r, n, 1), row); err != nil {
			b.Fatal(err)
		}
		x := gaussian(r, n, 1)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			var s float32
			for b.Loop() {
				s += Dot(typ, row, x)
			}
			_ = s
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 4096
	for _, typ := range supportedTypes {
		rs, _ := typ.RowSize(n)
		row := make([]byte, rs)
		if err := Quantize(typ, gaussian(r, n, 1), row); err != nil {
			b.Fatal(err)
		}
		dst := make([]float32, n)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				if err := Dequantize(typ, row, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
