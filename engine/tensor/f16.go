package tensor

import "math"

// F16ToF32 converts an IEEE 754 half-precision value to float32. Every half
// value is exactly representable, so the conversion is exact; a NaN keeps its
// payload and comes back quiet, as it does from ggml on x86.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0x1f:
		if man != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | man<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	case 0:
		// Zero or subnormal: man * 2^-24, exact in float32.
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	default:
		// Rebias the exponent from 15 to 127.
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// F32ToF16 converts a float32 to half precision, rounding to nearest with
// ties to even, producing subnormals and infinities as IEEE 754 requires.
// Any NaN becomes the quiet NaN 0x7e00 with the input's sign, which is what
// ggml's GGML_FP32_TO_FP16 produces.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal (or zero): count in units of 2^-24.
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		m := man | 0x800000
		shift := uint(14 - e)
		q := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++ // may carry into the smallest normal, which is still right
		}
		return sign | uint16(q)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent rounds up to the next binade or to infinity
	}
	return sign | uint16(h)
}

// BF16ToF32 converts a bfloat16 value to float32 (exact: bfloat16 is the
// upper half of a float32).
func BF16ToF32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// F32ToBF16 converts a float32 to bfloat16 with round to nearest, ties to
// even, as ggml does. A NaN keeps its upper bits and is forced quiet so that
// truncating the payload can never turn it into an infinity.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// f16Table maps every half value to its float32, so that the F16 kernels pay
// one load per element instead of the bit juggling above.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return &t
}()

// halfAt reads the little-endian half at b[0:2] as a float32.
func halfAt(b []byte) float32 {
	return f16Table[uint16(b[0])|uint16(b[1])<<8]
}

// putHalf stores f as a little-endian half at b[0:2].
func putHalf(b []byte, f float32) {
	h := F32ToF16(f)
	b[0] = byte(h)
	b[1] = byte(h >> 8)
}
