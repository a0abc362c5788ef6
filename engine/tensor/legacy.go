package tensor

import "encoding/binary"

// The 32-element "legacy" quants. Each block starts with a half scale d
// (and for the _1 types a half minimum m); element j of a block lives in
// the low nibble of qs[j] for j < 16 and in the high nibble of qs[j-16]
// otherwise. The _5 types keep the fifth bit of element j in bit j of the
// little-endian uint32 qh.
//
// Dequantizers follow ggml's order of float operations, so they give the
// same float32 bits as ggml's dequantize_row_*. The dot kernels regroup the
// sums per block (d·Σq·x instead of Σ(q·d)·x) to do fewer multiplies.

const qk = 32 // elements per legacy block

func dequantQ4_0(src []byte, dst []float32) {
	for i := 0; len(dst) > 0; i++ {
		b := src[i*18 : i*18+18]
		y := dst[:qk:qk]
		d := halfAt(b)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = float32(int(qs[j]&0xf)-8) * d
			y[j+16] = float32(int(qs[j]>>4)-8) * d
		}
		dst = dst[qk:]
	}
}

func dotQ4_0(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= qk {
		b := row[:18:18]
		xs := x[:qk:qk]
		qs := b[2:18]
		var s0, s1, sx float32
		for j := 0; j < 16; j++ {
			q := qs[j]
			s0 += float32(q&0xf) * xs[j]
			s1 += float32(q>>4) * xs[j+16]
			sx += xs[j] + xs[j+16]
		}
		// Σ(q-8)·x = Σq·x - 8·Σx
		sum += halfAt(b) * (s0 + s1 - 8*sx)
		row = row[18:]
		x = x[qk:]
	}
	return sum
}

func dequantQ4_1(src []byte, dst []float32) {
	for i := 0; len(dst) > 0; i++ {
		b := src[i*20 : i*20+20]
		y := dst[:qk:qk]
		d, m := halfAt(b), halfAt(b[2:])
		qs := b[4:20]
		for j := 0; j < 16; j++ {
			y[j] = float32(float32(qs[j]&0xf)*d) + m
			y[j+16] = float32(float32(qs[j]>>4)*d) + m
		}
		dst = dst[qk:]
	}
}

func dotQ4_1(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= qk {
		b := row[:20:20]
		xs := x[:qk:qk]
		qs := b[4:20]
		var s0, s1, sx float32
		for j := 0; j < 16; j++ {
			q := qs[j]
			s0 += float32(q&0xf) * xs[j]
			s1 += float32(q>>4) * xs[j+16]
			sx += xs[j] + xs[j+16]
		}
		sum += halfAt(b)*(s0+s1) + halfAt(b[2:])*sx
		row = row[20:]
		x = x[qk:]
	}
	return sum
}

// q5Lo and q5Hi return the 5-bit quants of elements j and j+16 of a _5 block.
func q5Lo(qs []byte, qh uint32, j int) int { return int(qs[j]&0xf) | int(qh>>uint(j)&1)<<4 }
func q5Hi(qs []byte, qh uint32, j int) int { return int(qs[j]>>4) | int(qh>>uint(j+16)&1)<<4 }

func dequantQ5_0(src []byte, dst []float32) {
	for i := 0; len(dst) > 0; i++ {
		b := src[i*22 : i*22+22]
		y := dst[:qk:qk]
		d := halfAt(b)
		qh := binary.LittleEndian.Uint32(b[2:6])
		qs := b[6:22]
		for j := 0; j < 16; j++ {
			y[j] = float32(q5Lo(qs, qh, j)-16) * d
			y[j+16] = float32(q5Hi(qs, qh, j)-16) * d
		}
		dst = dst[qk:]
	}
}

func dotQ5_0(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= qk {
		b := row[:22:22]
		xs := (*[qk]float32)(x)
		qh := binary.LittleEndian.Uint32(b[2:6])
		qs := (*[16]byte)(b[6:])
		var s0, s1, sx float32
		for j, q := range qs {
			// Shift the fifth bits down as we go instead of by j.
			s0 += float32(q&0xf|uint8(qh&1)<<4) * xs[j]
			s1 += float32(q>>4|uint8(qh>>16&1)<<4) * xs[j+16]
			sx += xs[j] + xs[j+16]
			qh >>= 1
		}
		sum += halfAt(b) * (s0 + s1 - 16*sx)
		row = row[22:]
		x = x[qk:]
	}
	return sum
}

func dequantQ5_1(src []byte, dst []float32) {
	for i := 0; len(dst) > 0; i++ {
		b := src[i*24 : i*24+24]
		y := dst[:qk:qk]
		d, m := halfAt(b), halfAt(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:8])
		qs := b[8:24]
		for j := 0; j < 16; j++ {
			y[j] = float32(float32(q5Lo(qs, qh, j))*d) + m
			y[j+16] = float32(float32(q5Hi(qs, qh, j))*d) + m
		}
		dst = dst[qk:]
	}
}

func dotQ5_1(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= qk {
		b := row[:24:24]
		xs := (*[qk]float32)(x)
		qh := binary.LittleEndian.Uint32(b[4:8])
		qs := (*[16]byte)(b[8:])
		var s0, s1, sx float32
		for j, q := range qs {
			// Shift the fifth bits down as we go instead of by j.
			s0 += float32(q&0xf|uint8(qh&1)<<4) * xs[j]
			s1 += float32(q>>4|uint8(qh>>16&1)<<4) * xs[j+16]
			sx += xs[j] + xs[j+16]
			qh >>= 1
		}
		sum += halfAt(b)*(s0+s1) + halfAt(b[2:])*sx
		row = row[24:]
		x = x[qk:]
	}
	return sum
}

func dequantQ8_0(src []byte, dst []float32) {
	for i := 0; len(dst) > 0; i++ {
		b := src[i*34 : i*34+34]
		y := dst[:qk:qk]
		d := halfAt(b)
		qs := b[2:34]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
		dst = dst[qk:]
	}
}

func dotQ8_0(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= qk {
		b := row[:34:34]
		xs := x[:qk:qk]
		qs := b[2:34]
		// Four accumulators break the add dependency chain.
		var s0, s1, s2, s3 float32
		for j := 0; j < qk; j += 4 {
			s0 += float32(int8(qs[j])) * xs[j]
			s1 += float32(int8(qs[j+1])) * xs[j+1]
			s2 += float32(int8(qs[j+2])) * xs[j+2]
			s3 += float32(int8(qs[j+3])) * xs[j+3]
		}
		sum += halfAt(b) * ((s0 + s1) + (s2 + s3))
		row = row[34:]
		x = x[qk:]
	}
	return sum
}
