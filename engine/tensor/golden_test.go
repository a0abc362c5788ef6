package tensor

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// goldenInput is a fixed mix of blocks that exercises the quantizers'
// corner cases: weight-like Gaussians, uniform values, outliers, one-signed
// blocks, tiny values, sparse blocks and values already on the half grid.
// It uses only integer arithmetic and int-to-float conversions, so it is
// the same on every platform and Go version.
func goldenInput() []float32 {
	s := uint64(0x9e3779b97f4a7c15)
	next := func() uint64 { // xorshift64*
		s ^= s >> 12
		s ^= s << 25
		s ^= s >> 27
		return s * 0x2545f4914f6cdd1d
	}
	// uniform is in [0, 1); gauss sums twelve of them (Irwin-Hall) for
	// mean 0 and variance 1.
	uniform := func() float32 { return float32(next()>>40) / (1 << 24) }
	gauss := func() float32 {
		var g float32
		for i := 0; i < 12; i++ {
			g += uniform()
		}
		return g - 6
	}
	var x []float32
	for blk := 0; blk < 64; blk++ {
		for i := 0; i < QK_K; i++ {
			var v float32
			switch blk % 8 {
			case 0, 1:
				v = gauss() * 0.02
			case 2:
				v = uniform()*2 - 1
			case 3:
				v = gauss()
				if next()%50 == 0 {
					v *= 30
				}
			case 4:
				v = abs32(gauss()) + 0.5
			case 5:
				v = -abs32(gauss()) * 1e-3
			case 6:
				if next()%4 == 0 {
					v = gauss()
				}
			case 7:
				v = F16ToF32(F32ToF16(gauss() * 0.05))
			}
			x = append(x, v)
		}
	}
	return x
}

// TestQuantizeGolden pins the bytes every quantizer produces for
// goldenInput. The hashes were recorded from outputs that matched, byte for
// byte, ggml's quantize_row_*_ref built with gcc -O2 on x86-64 (the
// llama.cpp oracle files check Q8_0, Q4_K and Q6_K independently), so a
// change here means a departure from ggml, not just a new result.
func TestQuantizeGolden(t *testing.T) {
	x := goldenInput()
	for _, typ := range supportedTypes {
		rs, _ := typ.RowSize(int64(len(x)))
		q := make([]byte, rs)
		if err := Quantize(typ, x, q); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(q)
		got := hex.EncodeToString(sum[:8])
		if want, ok := goldenHashes[typ]; !ok || got != want {
			t.Errorf("%s: quantized bytes hash to %s, want %s", typ, got, want)
		}
	}
}

// goldenHashes holds the first 8 bytes of the SHA-256 of each type's
// quantization of goldenInput.
var goldenHashes = map[DType]string{
	F32:  "4d9f6ba254a12968",
	F16:  "9f2a44238860bb15",
	BF16: "4426c2205bb59d41",
	Q4_0: "69d366c6573c6067",
	Q4_1: "e6cdd928991cc6a2",
	Q5_0: "7a34851cc7c9cedc",
	Q5_1: "96784d654eb34945",
	Q8_0: "88dfb7270a3ccaa9",
	Q2_K: "ff509a846e05f640",
	Q3_K: "171cd7440bb18a04",
	Q4_K: "7a0f7e00157b73c9",
	Q5_K: "22235028447f10ca",
	Q6_K: "f31a2d43c536eada",
	Q8_K: "bb70399088932375",
}
