package tensor

import (
	"encoding/binary"
	"math"
)

// Reference quantizers for the 32-element quants, reproducing ggml's
// quantize_row_*_ref (llama-quantize without an importance matrix).
// Float-to-int conversions truncate toward zero as C casts do; products
// that feed a sum are wrapped in float32() so the compiler cannot fuse them
// into an FMA, which would change the rounding and so the bytes.

func quantQ4_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:qk:qk]
		b := dst[:18:18]
		// The value of largest magnitude, with its sign, maps to -8, the
		// one level the other side of zero cannot reach.
		var amax, max float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax, max = a, v
			}
		}
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(b, d)
		for j := 0; j < 16; j++ {
			xi0 := minInt(15, int(int8(float32(x[j]*id)+8.5)))
			xi1 := minInt(15, int(int8(float32(x[j+16]*id)+8.5)))
			b[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
		src = src[qk:]
		dst = dst[18:]
	}
}

// minMax returns the smallest and largest of x, starting from ±FLT_MAX as
// ggml does.
func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func quantQ4_1(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:qk:qk]
		b := dst[:20:20]
		min, max := minMax(x)
		d := (max - min) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(b, d)
		putHalf(b[2:], min)
		for j := 0; j < 16; j++ {
			xi0 := minInt(15, int(int8(float32((x[j]-min)*id)+0.5)))
			xi1 := minInt(15, int(int8(float32((x[j+16]-min)*id)+0.5)))
			b[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
		src = src[qk:]
		dst = dst[20:]
	}
}

func quantQ5_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:qk:qk]
		b := dst[:22:22]
		var amax, max float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax, max = a, v
			}
		}
		d := max / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(b, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0 := uint8(minInt(31, int(int8(float32(x[j]*id)+16.5))))
			xi1 := uint8(minInt(31, int(int8(float32(x[j+16]*id)+16.5))))
			b[6+j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0>>4&1)<<uint(j) | uint32(xi1>>4&1)<<uint(j+16)
		}
		binary.LittleEndian.PutUint32(b[2:6], qh)
		src = src[qk:]
		dst = dst[22:]
	}
}

func quantQ5_1(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:qk:qk]
		b := dst[:24:24]
		min, max := minMax(x)
		d := (max - min) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(b, d)
		putHalf(b[2:], min)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0 := uint8(float32((x[j]-min)*id) + 0.5)
			xi1 := uint8(float32((x[j+16]-min)*id) + 0.5)
			b[8+j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0>>4&1)<<uint(j) | uint32(xi1>>4&1)<<uint(j+16)
		}
		binary.LittleEndian.PutUint32(b[4:8], qh)
		src = src[qk:]
		dst = dst[24:]
	}
}

func quantQ8_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:qk:qk]
		b := dst[:34:34]
		var amax float32
		for _, v := range x {
			if a := abs32(v); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(b, d)
		for j, v := range x {
			// roundf: halves away from zero, which math.Round also does.
			b[2+j] = uint8(int8(math.Round(float64(v * id))))
		}
		src = src[qk:]
		dst = dst[34:]
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
