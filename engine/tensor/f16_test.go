package tensor

import (
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
)

func TestF16RoundTripAll(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		got := F32ToF16(f)
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN", h, f)
			}
			if want := h&0x8000 | 0x7e00; got != want {
				t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x, want %#04x", h, got, want)
			}
			continue
		}
		if got != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x) = %g) = %#04x", h, f, got)
		}
		if math.Float32bits(f16Table[h]) != math.Float32bits(f) {
			t.Fatalf("f16Table[%#04x] = %g, want %g", h, f16Table[h], f)
		}
	}
}

// f16Value decodes a half from first principles, as a check on F16ToF32.
func f16Value(h uint16) float64 {
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	var v float64
	switch e {
	case 0:
		v = m * math.Pow(2, -24)
	case 0x1f:
		v = math.Inf(1)
	default:
		v = (1 + m/1024) * math.Pow(2, float64(e-15))
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func TestF16ToF32Values(t *testing.T) {
	for i := 0; i < 0x7c00; i++ { // every finite positive half
		h := uint16(i)
		if got, want := F16ToF32(h), f16Value(h); float64(got) != want {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
		if got, want := F16ToF32(h|0x8000), -f16Value(h); float64(got) != want || math.Signbit(float64(got)) != true {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h|0x8000, got, want)
		}
	}
}

// refF32ToF16 rounds f to the nearest half by searching the sorted
// finite halves, ties to the even bit pattern: an independent statement
// of IEEE round-to-nearest-even.
var positiveHalves = func() []float64 {
	v := make([]float64, 0x7c00)
	for i := range v {
		v[i] = f16Value(uint16(i))
	}
	return v
}()

func refF32ToF16(f float32) uint16 {
	var sign uint16
	a := float64(f)
	if math.Signbit(a) {
		sign, a = 0x8000, -a
	}
	if math.IsInf(a, 0) || a >= 65520 { // 65520 is halfway from 65504 to 2^16
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(positiveHalves, a) // first half >= a
	if i < len(positiveHalves) && positiveHalves[i] == a {
		return sign | uint16(i)
	}
	lo, hi := i-1, i
	if hi == len(positiveHalves) {
		return sign | uint16(lo)
	}
	dl, dh := a-positiveHalves[lo], positiveHalves[hi]-a
	switch {
	case dl < dh:
		return sign | uint16(lo)
	case dh < dl:
		return sign | uint16(hi)
	case lo%2 == 0:
		return sign | uint16(lo)
	default:
		return sign | uint16(hi)
	}
}

func TestF32ToF16Rounding(t *testing.T) {
	check := func(f float32) {
		t.Helper()
		if got, want := F32ToF16(f), refF32ToF16(f); got != want {
			t.Fatalf("F32ToF16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	// Every midpoint between neighbouring halves (exact in float32) and the
	// floats just either side of it: the cases where rounding decides.
	for i := 0; i < 0x7bff; i++ {
		mid := float32((f16Value(uint16(i)) + f16Value(uint16(i+1))) / 2)
		for _, f := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9)} {
			check(f)
			check(-f)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		f := math.Float32frombits(r.Uint32())
		if f != f {
			continue
		}
		check(f)
	}
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519.996, 0x7bff},
		{65520, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{0x1p-24, 0x0001},
		{0x1p-25, 0x0000},     // tie between 0 and the smallest subnormal: even wins
		{0x1.8p-25, 0x0001},   // above the tie
		{0x1.8p-24, 0x0002},   // tie between 1 and 2 subnormal units: even wins
		{0x1.ffcp-15, 0x0400}, // rounds up from subnormal to the smallest normal
		{float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.f); got != tt.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
	nan := math.Float32frombits(0x7f800001)
	if got := F32ToF16(nan); got != 0x7e00 {
		t.Errorf("F32ToF16(signalling NaN) = %#04x, want 0x7e00", got)
	}
	if got := F32ToF16(-nan); got != 0xfe00 {
		t.Errorf("F32ToF16(-NaN) = %#04x, want 0xfe00", got)
	}
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		b := uint16(i)
		f := BF16ToF32(b)
		if math.Float32bits(f) != uint32(b)<<16 {
			t.Fatalf("BF16ToF32(%#04x) bits = %#08x", b, math.Float32bits(f))
		}
		want := b
		if f != f {
			want |= 0x40 // NaNs come back quiet
		}
		if got := F32ToBF16(f); got != want {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x, want %#04x", b, got, want)
		}
	}
	tests := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up to even
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to infinity
		{0x7f800001, 0x7fc0}, // signalling NaN whose payload is all in the low half stays NaN
		{0xff800000, 0xff80}, // -inf
	}
	for _, tt := range tests {
		if got := F32ToBF16(math.Float32frombits(tt.bits)); got != tt.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", tt.bits, got, tt.want)
		}
	}
}

// TestF32ToF16Exhaustive checks every float32 against the reference
// rounding. It takes about 30 s, so it runs only with HEARTH_EXHAUSTIVE=1.
func TestF32ToF16Exhaustive(t *testing.T) {
	if os.Getenv("HEARTH_EXHAUSTIVE") == "" {
		t.Skip("set HEARTH_EXHAUSTIVE=1 to check all 2^32 float32 values")
	}
	for u := uint64(0); u < 1<<32; u++ {
		f := math.Float32frombits(uint32(u))
		if f != f {
			continue
		}
		if got, want := F32ToF16(f), refF32ToF16(f); got != want {
			t.Fatalf("F32ToF16(%#08x) = %#04x, want %#04x", u, got, want)
		}
	}
}
