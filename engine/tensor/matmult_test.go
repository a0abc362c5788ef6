package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatMulTAdd checks the transposed product against dequantizing the
// whole matrix and summing naively, for every type that dequantizes. The
// 1100 rows make a chunk of 1024 that quantized types run through the
// integer kernels and a tail of 76 (not whole Q8_0 blocks) in float32.
func TestMatMulTAdd(t *testing.T) {
	const rows, cols, n = 1100, 512, 5
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	g := make([]float32, n*rows)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	for typ := range kernels {
		if !CanQuantize(typ) {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			rb, _ := typ.RowSize(cols)
			w := make([]byte, rows*int(rb))
			for r := 0; r < rows; r++ {
				if err := Quantize(typ, src[r*cols:(r+1)*cols], w[r*int(rb):(r+1)*int(rb)]); err != nil {
					t.Fatal(err)
				}
			}
			deq := make([]float32, rows*cols)
			for r := 0; r < rows; r++ {
				if err := Dequantize(typ, w[r*int(rb):(r+1)*int(rb)], deq[r*cols:(r+1)*cols]); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]float32, n*cols)
			got[3] = 1                          // it adds to what dst holds
			for c0 := 0; c0 < cols; c0 += 256 { // in two column ranges
				if err := MatMulTAdd(got, typ, w, rows, cols, g, n, c0, c0+256, new(TScratch)); err != nil {
					t.Fatal(err)
				}
			}
			// Float types are exact float32 sums; quantized ones are
			// requantized to Q8_0, gradients too: an error of about 0.75%
			// of the rms, bounded at 2%, and no element far off.
			exact := typ == F32 || typ == F16 || typ == BF16
			var errSq, wantSq, worst float64
			for tk := 0; tk < n; tk++ {
				for c := 0; c < cols; c++ {
					var want float64
					if tk == 0 && c == 3 {
						want = 1
					}
					for r := 0; r < rows; r++ {
						want += float64(deq[r*cols+c]) * float64(g[tk*rows+r])
					}
					d := math.Abs(float64(got[tk*cols+c]) - want)
					if exact && d > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("token %d col %d: got %v, want %v", tk, c, got[tk*cols+c], want)
					}
					errSq, wantSq, worst = errSq+d*d, wantSq+want*want, max(worst, d)
				}
			}
			rms := math.Sqrt(wantSq / float64(n*cols))
			if rel := math.Sqrt(errSq / wantSq); rel > 0.02 || worst > 0.1*rms {
				t.Fatalf("relative rms error %.3g, worst %.3g of rms %.3g", rel, worst, rms)
			}
		})
	}
}

func TestMatMulTAddShapes(t *testing.T) {
	w := make([]byte, 4*32*4)
	if err := MatMulTAdd(make([]float32, 32), F32, w, 5, 32, make([]float32, 5), 1, 0, 32, new(TScratch)); err == nil {
		t.Fatal("short weights accepted")
	}
	if err := MatMulTAdd(make([]float32, 32), F32, w, 4, 32, make([]float32, 3), 1, 0, 32, new(TScratch)); err == nil {
		t.Fatal("short gradients accepted")
	}
	if err := MatMulTAdd(make([]float32, 32), DType(255), w, 4, 32, make([]float32, 4), 1, 0, 32, new(TScratch)); err == nil {
		t.Fatal("an unknown type accepted")
	}
	if err := MatMulTAdd(make([]float32, 256), Q8_0, make([]byte, 34*8), 1, 256, make([]float32, 1), 1, 16, 256, new(TScratch)); err == nil {
		t.Fatal("a column range off the block boundaries accepted")
	}
}

// TestMatMulTAddOddShapes covers the tails: columns not a multiple of the
// vector width and tiles of fewer than eight rows, at every SIMD level.
func TestMatMulTAddOddShapes(t *testing.T) {
	const rows, cols, n = 13, 50, 3
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, rows*cols)
	g := make([]float32, n*rows)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	raw := make([]byte, 4*len(w))
	if err := Quantize(F32, w, raw); err != nil {
		t.Fatal(err)
	}
	for _, lv := range []Level{LevelPortable, CPULevel()} {
		prev := SetLevel(lv)
		got := make([]float32, n*cols)
		if err := MatMulTAdd(got, F32, raw, rows, cols, g, n, 0, cols, new(TScratch)); err != nil {
			t.Fatal(err)
		}
		SetLevel(prev)
		for tk := 0; tk < n; tk++ {
			for c := 0; c < cols; c++ {
				var want float64
				for r := 0; r < rows; r++ {
					want += float64(w[r*cols+c]) * float64(g[tk*rows+r])
				}
				if math.Abs(float64(got[tk*cols+c])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("level %v token %d col %d: got %v, want %v", lv, tk, c, got[tk*cols+c], want)
				}
			}
		}
	}
}
