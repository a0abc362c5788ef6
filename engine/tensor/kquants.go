package tensor

import (
	"encoding/binary"
	"math"
)

// The k-quants: super-blocks of QK_K = 256 elements split into sub-blocks
// that each carry a small integer scale (and, for Q2_K/Q4_K/Q5_K, a
// minimum) relative to the half-precision super-block scales d and dmin.
// Byte offsets of each block, from ggml-common.h:
//
//	Q2_K  84 bytes: scales[16] (lo nibble scale, hi nibble min), qs[64], d, dmin
//	Q3_K 110 bytes: hmask[32], qs[64], scales[12] (6-bit, packed), d
//	Q4_K 144 bytes: d, dmin, scales[12] (6-bit scales and mins), qs[128]
//	Q5_K 176 bytes: d, dmin, scales[12], qh[32], qs[128]
//	Q6_K 210 bytes: ql[128], qh[64], scales[16] (int8), d
//	Q8_K 292 bytes: d (float32), qs[256] (int8), bsums[16] (int16)
//
// As for the legacy quants, dequantizers repeat ggml's float operation order
// and the dot kernels regroup per sub-block.

const (
	q2KSize = 84
	q3KSize = 110
	q4KSize = 144
	q5KSize = 176
	q6KSize = 210
	q8KSize = 292
)

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from the
// 12 packed bytes of a Q4_K or Q5_K block: sub-blocks 0-3 use the low six
// bits of bytes j and j+4; sub-blocks 4-7 put their low four bits in byte
// j+4 and their top two bits in the spare high bits of bytes j-4 and j.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q3KScales unpacks the sixteen 6-bit Q3_K scales (stored with a +32 bias):
// the low nibbles sit in bytes 0-7 (sub-blocks 0-7 low, 8-15 high nibble),
// the top two bits in bytes 8-11, four to a byte.
func q3KScales(s []byte, out *[16]int8) {
	s = s[:12:12]
	for j := 0; j < 16; j++ {
		var lo uint8
		if j < 8 {
			lo = s[j] & 0xf
		} else {
			lo = s[j-8] >> 4
		}
		hi := (s[8+j%4] >> (2 * uint(j/4))) & 3
		out[j] = int8(lo|hi<<4) - 32
	}
}

func dequantQ2_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b := src[:q2KSize:q2KSize]
		y := dst[:QK_K:QK_K]
		d, min := halfAt(b[80:]), halfAt(b[82:])
		scales := b[0:16]
		is := 0
		for n := 0; n < 2; n++ {
			q := b[16+32*n : 16+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for h := 0; h < 2; h++ {
					sc := scales[is]
					is++
					dl, ml := d*float32(sc&0xf), float32(min*float32(sc>>4))
					out := y[128*n+32*j+16*h : 128*n+32*j+16*h+16]
					for l := range out {
						out[l] = float32(dl*float32((q[16*h+l]>>shift)&3)) - ml
					}
				}
			}
		}
		src = src[q2KSize:]
		dst = dst[QK_K:]
	}
}

func dotQ2_K(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= QK_K {
		b := row[:q2KSize:q2KSize]
		xb := x[:QK_K:QK_K]
		scales := b[0:16]
		var sq, sm float32 // Σ scale·Σq·x and Σ min·Σx over the sub-blocks
		// Byte l of a 16-byte group holds elements l, l+32, l+64 and l+96
		// of its stretch of x, which fall in four different sub-blocks
		// (scales 8n+h, +2, +4, +6): one pass over the group feeds all four.
		for n := 0; n < 2; n++ {
			for h := 0; h < 2; h++ {
				q := (*[16]byte)(b[16+32*n+16*h:])
				xs := (*[112]float32)(xb[128*n+16*h:])
				var s0, s1, s2, s3, x0, x1, x2, x3 float32
				for l, qv := range q {
					a, c, d, e := xs[l], xs[l+32], xs[l+64], xs[l+96]
					s0 += float32(qv&3) * a
					s1 += float32(qv>>2&3) * c
					s2 += float32(qv>>4&3) * d
					s3 += float32(qv>>6) * e
					x0 += a
					x1 += c
					x2 += d
					x3 += e
				}
				sc := scales[8*n+h : 8*n+h+7]
				sq += float32(sc[0]&0xf)*s0 + float32(sc[2]&0xf)*s1 + float32(sc[4]&0xf)*s2 + float32(sc[6]&0xf)*s3
				sm += float32(sc[0]>>4)*x0 + float32(sc[2]>>4)*x1 + float32(sc[4]>>4)*x2 + float32(sc[6]>>4)*x3
			}
		}
		sum += halfAt(b[80:])*sq - halfAt(b[82:])*sm
		row = row[q2KSize:]
		x = x[QK_K:]
	}
	return sum
}

func dequantQ3_K(src []byte, dst []float32) {
	var scales [16]int8
	for len(dst) > 0 {
		b := src[:q3KSize:q3KSize]
		y := dst[:QK_K:QK_K]
		dAll := halfAt(b[108:])
		hm := b[0:32]
		q3KScales(b[96:108], &scales)
		is := 0
		m := uint8(1)
		for n := 0; n < 2; n++ {
			q := b[32+32*n : 32+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for h := 0; h < 2; h++ {
					dl := dAll * float32(scales[is])
					is++
					out := y[128*n+32*j+16*h : 128*n+32*j+16*h+16]
					for l := range out {
						hb := hm[16*h+l] & m
						u := (q[16*h+l] >> shift) & 3
						if hb != 0 {
							u |= 4
						}
						out[l] = dl * q3Level[u]
					}
				}
				m <<= 1
			}
		}
		src = src[q3KSize:]
		dst = dst[QK_K:]
	}
}

// q3Level maps two low bits and the high bit (as 4) to the signed level:
// a clear high bit means 4 lower.
var q3Level = [8]float32{-4, -3, -2, -1, 0, 1, 2, 3}

func dotQ3_K(row []byte, x []float32) float32 {
	var scales [16]int8
	var sum float32
	for len(x) >= QK_K {
		b := row[:q3KSize:q3KSize]
		xb := x[:QK_K:QK_K]
		hm := b[0:32]
		q3KScales(b[96:108], &scales)
		var acc float32
		// As in dotQ2_K, one pass over 16 bytes covers four sub-blocks;
		// the high bits of those elements are bits 4n..4n+3 of hmask.
		for n := 0; n < 2; n++ {
			hshift := uint(4 * n)
			for h := 0; h < 2; h++ {
				q := (*[16]byte)(b[32+32*n+16*h:])
				hh := (*[16]byte)(hm[16*h:])
				xs := (*[112]float32)(xb[128*n+16*h:])
				var s0, s1, s2, s3 float32
				for l, qv := range q {
					hb := hh[l] >> hshift
					s0 += q3Level[qv&3|hb<<2&4] * xs[l]
					s1 += q3Level[qv>>2&3|hb<<1&4] * xs[l+32]
					s2 += q3Level[qv>>4&3|hb&4] * xs[l+64]
					s3 += q3Level[qv>>6|hb>>1&4] * xs[l+96]
				}
				sc := scales[8*n+h : 8*n+h+7]
				acc += float32(sc[0])*s0 + float32(sc[2])*s1 + float32(sc[4])*s2 + float32(sc[6])*s3
			}
		}
		sum += halfAt(b[108:]) * acc
		row = row[q3KSize:]
		x = x[QK_K:]
	}
	return sum
}

func dequantQ4_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b := src[:q4KSize:q4KSize]
		y := dst[:QK_K:QK_K]
		d, min := halfAt(b), halfAt(b[2:])
		scales := b[4:16]
		for k := 0; k < 4; k++ {
			q := b[16+32*k : 16+32*k+32]
			sc, m := scaleMinK4(2*k, scales)
			d1, m1 := d*float32(sc), float32(min*float32(m))
			sc, m = scaleMinK4(2*k+1, scales)
			d2, m2 := d*float32(sc), float32(min*float32(m))
			lo := y[64*k : 64*k+32]
			hi := y[64*k+32 : 64*k+64]
			for l := range lo {
				lo[l] = float32(d1*float32(q[l]&0xf)) - m1
				hi[l] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
		src = src[q4KSize:]
		dst = dst[QK_K:]
	}
}

func dotQ4_K(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= QK_K {
		b := row[:q4KSize:q4KSize]
		xb := x[:QK_K:QK_K]
		scales := b[4:16]
		var sq, sm float32
		for k := 0; k < 4; k++ {
			q := (*[32]byte)(b[16+32*k:])
			lo := (*[32]float32)(xb[64*k:])
			hi := (*[32]float32)(xb[64*k+32:])
			var s1, s2, sx1, sx2 float32
			for l, qv := range q {
				s1 += float32(qv&0xf) * lo[l]
				s2 += float32(qv>>4) * hi[l]
				sx1 += lo[l]
				sx2 += hi[l]
			}
			sc1, m1 := scaleMinK4(2*k, scales)
			sc2, m2 := scaleMinK4(2*k+1, scales)
			sq += float32(sc1)*s1 + float32(sc2)*s2
			sm += float32(m1)*sx1 + float32(m2)*sx2
		}
		sum += halfAt(b)*sq - halfAt(b[2:])*sm
		row = row[q4KSize:]
		x = x[QK_K:]
	}
	return sum
}

func dequantQ5_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b := src[:q5KSize:q5KSize]
		y := dst[:QK_K:QK_K]
		d, min := halfAt(b), halfAt(b[2:])
		scales := b[4:16]
		qh := b[16:48]
		for k := 0; k < 4; k++ {
			ql := b[48+32*k : 48+32*k+32]
			u1, u2 := uint8(1)<<uint(2*k), uint8(2)<<uint(2*k)
			sc, m := scaleMinK4(2*k, scales)
			d1, m1 := d*float32(sc), float32(min*float32(m))
			sc, m = scaleMinK4(2*k+1, scales)
			d2, m2 := d*float32(sc), float32(min*float32(m))
			lo := y[64*k : 64*k+32]
			hi := y[64*k+32 : 64*k+64]
			for l := range lo {
				v1, v2 := ql[l]&0xf, ql[l]>>4
				if qh[l]&u1 != 0 {
					v1 += 16
				}
				if qh[l]&u2 != 0 {
					v2 += 16
				}
				lo[l] = float32(d1*float32(v1)) - m1
				hi[l] = float32(d2*float32(v2)) - m2
			}
		}
		src = src[q5KSize:]
		dst = dst[QK_K:]
	}
}

func dotQ5_K(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= QK_K {
		b := row[:q5KSize:q5KSize]
		xb := x[:QK_K:QK_K]
		scales := b[4:16]
		qh := (*[32]byte)(b[16:48])
		var sq, sm float32
		for k := 0; k < 4; k++ {
			ql := (*[32]byte)(b[48+32*k:])
			lo := (*[32]float32)(xb[64*k:])
			hi := (*[32]float32)(xb[64*k+32:])
			shift := uint(2 * k)
			var s1, s2, sx1, sx2 float32
			for l, qv := range ql {
				h := qh[l] >> shift
				s1 += float32(qv&0xf|(h&1)<<4) * lo[l]
				s2 += float32(qv>>4|(h&2)<<3) * hi[l]
				sx1 += lo[l]
				sx2 += hi[l]
			}
			sc1, m1 := scaleMinK4(2*k, scales)
			sc2, m2 := scaleMinK4(2*k+1, scales)
			sq += float32(sc1)*s1 + float32(sc2)*s2
			sm += float32(m1)*sx1 + float32(m2)*sx2
		}
		sum += halfAt(b)*sq - halfAt(b[2:])*sm
		row = row[q5KSize:]
		x = x[QK_K:]
	}
	return sum
}

// Q6_K: each 128-element half uses ql[64], qh[32] and scales[8]. For l in
// 0..31, the four elements l, l+32, l+64, l+96 take their low nibbles from
// ql[l] (lo), ql[l+32] (lo), ql[l] (hi), ql[l+32] (hi) and their top two
// bits from bits 0-1, 2-3, 4-5, 6-7 of qh[l]; a scale covers 16 elements.

func dequantQ6_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b := src[:q6KSize:q6KSize]
		y := dst[:QK_K:QK_K]
		d := halfAt(b[208:])
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			sc := b[192+8*n : 192+8*n+8]
			out := y[128*n : 128*n+128]
			// ggml computes (d·scale)·q, so the products can be hoisted.
			var ds [8]float32
			for k := range ds {
				ds[k] = d * float32(int8(sc[k]))
			}
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				out[l] = ds[is] * float32(q1)
				out[l+32] = ds[is+2] * float32(q2)
				out[l+64] = ds[is+4] * float32(q3)
				out[l+96] = ds[is+6] * float32(q4)
			}
		}
		src = src[q6KSize:]
		dst = dst[QK_K:]
	}
}

func dotQ6_K(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= QK_K {
		b := row[:q6KSize:q6KSize]
		xb := x[:QK_K:QK_K]
		var acc float32
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			sc := b[192+8*n : 192+8*n+8]
			xs := xb[128*n : 128*n+128]
			for is := 0; is < 2; is++ {
				var s1, s2, s3, s4 float32
				for l := 16 * is; l < 16*is+16; l++ {
					h := qh[l]
					s1 += float32(int(ql[l]&0xf|(h&3)<<4)-32) * xs[l]
					s2 += float32(int(ql[l+32]&0xf|(h>>2&3)<<4)-32) * xs[l+32]
					s3 += float32(int(ql[l]>>4|(h>>4&3)<<4)-32) * xs[l+64]
					s4 += float32(int(ql[l+32]>>4|(h>>6&3)<<4)-32) * xs[l+96]
				}
				acc += float32(int8(sc[is]))*s1 + float32(int8(sc[is+2]))*s2 +
					float32(int8(sc[is+4]))*s3 + float32(int8(sc[is+6]))*s4
			}
		}
		sum += halfAt(b[208:]) * acc
		row = row[q6KSize:]
		x = x[QK_K:]
	}
	return sum
}

func dequantQ8_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b := src[:q8KSize:q8KSize]
		y := dst[:QK_K:QK_K]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		qs := b[4 : 4+QK_K]
		for j := range y {
			y[j] = d * float32(int8(qs[j]))
		}
		src = src[q8KSize:]
		dst = dst[QK_K:]
	}
}

func dotQ8_K(row []byte, x []float32) float32 {
	var sum float32
	for len(x) >= QK_K {
		b := row[:q8KSize:q8KSize]
		xs := x[:QK_K:QK_K]
		qs := b[4 : 4+QK_K]
		var s0, s1, s2, s3 float32
		for j := 0; j < QK_K; j += 4 {
			s0 += float32(int8(qs[j])) * xs[j]
			s1 += float32(int8(qs[j+1])) * xs[j+1]
			s2 += float32(int8(qs[j+2])) * xs[j+2]
			s3 += float32(int8(qs[j+3])) * xs[j+3]
		}
		sum += math.Float32frombits(binary.LittleEndian.Uint32(b)) * ((s0 + s1) + (s2 + s3))
		row = row[q8KSize:]
		x = x[QK_K:]
	}
	return sum
}
