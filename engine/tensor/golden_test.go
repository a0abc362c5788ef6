package tensor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
)

// goldenInput is a fixed mix of blocks that exercises the quantizers'
// corner cases: weight-like Gaussians, uniform values, outliers, one-signed
// blocks, tiny values, sparse blocks and values already on the half grid.
// It uses only integer arithmetic and int-to-float conversions, so it is
// the same on every platform and Go version.
func goldenInput() []float32 {
	g := goldenRand(0x9e3779b97f4a7c15)
	next, uniform, gauss := g.next, g.uniform, g.gauss
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

// goldenRand is a xorshift64* generator.
type goldenRand uint64

func (s *goldenRand) next() uint64 {
	*s ^= *s >> 12
	*s ^= *s << 25
	*s ^= *s >> 27
	return uint64(*s) * 0x2545f4914f6cdd1d
}

// uniform is in [0, 1).
func (s *goldenRand) uniform() float32 { return float32(s.next()>>40) / (1 << 24) }

// gauss sums twelve uniforms (Irwin-Hall) for mean 0 and variance 1.
func (s *goldenRand) gauss() float32 {
	var g float32
	for i := 0; i < 12; i++ {
		g += s.uniform()
	}
	return g - 6
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

// goldenBlocks returns 64·QK_K elements of type typ filled with random bits,
// except that the half-precision scales are finite, so every bit of every
// other field is exercised.
func goldenBlocks(typ DType) []byte {
	g := goldenRand(0x2545f4914f6cdd1d)
	bs := typ.TypeSize()
	nb := 64 * QK_K / typ.BlockSize()
	b := make([]byte, nb*bs)
	for i := range b {
		b[i] = byte(g.next())
	}
	var halves []int
	switch typ {
	case Q4_0, Q5_0, Q8_0:
		halves = []int{0}
	case Q4_1, Q5_1, Q4_K, Q5_K:
		halves = []int{0, 2}
	case Q2_K:
		halves = []int{80, 82}
	case Q3_K:
		halves = []int{108}
	case Q6_K:
		halves = []int{208}
	}
	for blk := 0; blk < nb; blk++ {
		for _, off := range halves {
			h := F32ToF16(g.gauss())
			b[blk*bs+off] = byte(h)
			b[blk*bs+off+1] = byte(h >> 8)
		}
	}
	return b
}

// TestDequantizeGolden pins the float32 bits Dequantize produces for
// goldenBlocks. They were recorded when they matched ggml's dequantize_row_*
// built with gcc -O2 on x86-64 bit for bit.
func TestDequantizeGolden(t *testing.T) {
	for typ, want := range dequantHashes {
		b := goldenBlocks(typ)
		y := make([]float32, 64*QK_K)
		if err := Dequantize(typ, b, y); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, v := range y {
			var w [4]byte
			binary.LittleEndian.PutUint32(w[:], math.Float32bits(v))
			h.Write(w[:])
		}
		if got := hex.EncodeToString(h.Sum(nil)[:8]); got != want {
			t.Errorf("%s: dequantized values hash to %s, want %s", typ, got, want)
		}
	}
}

// dequantHashes holds the first 8 bytes of the SHA-256 of the
// little-endian float32s that Dequantize makes of goldenBlocks.
var dequantHashes = map[DType]string{
	Q4_0: "ab64c3856c360788",
	Q4_1: "54c2ada5109e04b4",
	Q5_0: "dbda230682e284e9",
	Q5_1: "26957c176a8e7a97",
	Q8_0: "c3cda9117c00ee1a",
	Q2_K: "c596a3076936d67d",
	Q3_K: "9c0d508274a64f2e",
	Q4_K: "41003c12f608f7d8",
	Q5_K: "bc3cd30bd00759c9",
	Q6_K: "9a8e48b7176a80f3",
}
