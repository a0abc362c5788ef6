package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// relRMSE is the rms error of got against want, relative to the rms of want.
func relRMSE(want, got []float32) float64 {
	var e, s float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		e += d * d
		s += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(e / s)
}

func roundTrip(t *testing.T, typ DType, x []float32) []float32 {
	t.Helper()
	rs, err := typ.RowSize(int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, rs)
	if err := Quantize(typ, x, q); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(typ, q, y); err != nil {
		t.Fatal(err)
	}
	return y
}

// TestRoundTripError quantizes Gaussian data and bounds the relative rms
// error of each type. A uniform quantizer with step Δ has rms error Δ/√12;
// Δ is the block's range over its number of levels, and for Gaussian data
// the range of a block is about ±2.1σ (32 values), ±1.8σ (16) or ±2.8σ
// (256). So for example Q8_0: 2.1/127/√12 ≈ 0.48%, Q4_K: 4.2/15/√12 ≈ 8%
// before its scale search, Q6_K: 1.8/32/√12 ≈ 1.6%. Each bound is that
// estimate with some margin; a layout or scale bug lands far above it.
func TestRoundTripError(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := gaussian(r, 64*QK_K, 0.02) // the spread of typical weights
	bounds := map[DType]float64{
		F32:  0,
		F16:  0.0003, // relative rounding error uniform in ±2^-11: 2^-11/√3
		BF16: 0.0023, // ±2^-8: 2^-8/√3
		Q8_0: 0.006,
		Q4_0: 0.095, // 2.5/8/√12: the far side gets only 7 levels
		Q4_1: 0.085,
		Q5_0: 0.048,
		Q5_1: 0.041,
		Q2_K: 0.33, // 3.5/3/√12
		Q3_K: 0.17, // ±4 levels of 1.8σ/4, plus clipping at +3
		Q4_K: 0.08,
		Q5_K: 0.04,
		Q6_K: 0.02,
		Q8_K: 0.008,
	}
	for _, typ := range supportedTypes {
		bound, ok := bounds[typ]
		if !ok {
			t.Errorf("%s: no error bound", typ)
			continue
		}
		e := relRMSE(x, roundTrip(t, typ, x))
		t.Logf("%s: relative rms error %.4f%% (bound %.2f%%)", typ, 100*e, 100*bound)
		if e > bound {
			t.Errorf("%s: relative rms error %.4f%%, want at most %.2f%%", typ, 100*e, 100*bound)
		}
	}
}

// TestRoundTripDegenerate feeds blocks that are all zero, constant, or one
// spike: the cases with zero ranges and divisions by zero.
func TestRoundTripDegenerate(t *testing.T) {
	n := 2 * QK_K
	zeros := make([]float32, n)
	consts := make([]float32, n)
	spike := make([]float32, n)
	for i := range consts {
		consts[i] = -0.75
	}
	spike[100] = 3
	for _, typ := range supportedTypes {
		for name, x := range map[string][]float32{"zeros": zeros, "constant": consts, "spike": spike} {
			y := roundTrip(t, typ, x)
			for i := range y {
				if math.IsNaN(float64(y[i])) || math.Abs(float64(y[i]-x[i])) > 0.05*math.Abs(float64(x[i]))+1e-6 {
					t.Errorf("%s %s: element %d = %g, want about %g", typ, name, i, y[i], x[i])
					break
				}
			}
		}
	}
}

// TestQuantizeNonFinite only asks that NaNs and infinities, which a broken
// model file can hold, come through without a panic.
func TestQuantizeNonFinite(t *testing.T) {
	x := make([]float32, 2*QK_K)
	for i := range x {
		switch i % 5 {
		case 0:
			x[i] = float32(math.NaN())
		case 1:
			x[i] = float32(math.Inf(1))
		case 2:
			x[i] = float32(math.Inf(-1))
		case 3:
			x[i] = math.MaxFloat32
		default:
			x[i] = 1
		}
	}
	for _, typ := range supportedTypes {
		roundTrip(t, typ, x)
	}
}
