package tensor

import (
	"encoding/binary"
	"math"
)

// Portable integer dot products of one weight row with one row of quantized
// activations (see Acts). They are the reference the vector kernels are
// tested against, and what runs on CPUs without them. Each multiplies
// quants by quants in int32 per block or sub-block and applies the scales
// once per block, as ggml's generic ggml_vec_dot_*_q8_* do.
//
// Arguments: w holds len(d) blocks of the weight type (super-blocks for the
// k-quants); q holds the matching activation quants, d their block scales,
// s the Q8_1 sums and bs the Q8_K sums of 16 (nil when the activation type
// has none).
type qdotFunc func(w []byte, q []int8, d, s []float32, bs []int16) float32

func qdotQ8_0(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[34]byte)(w[b*34:])
		xs := (*[qk]int8)(q[b*qk:])
		var s0, s1 int32
		for j := 0; j < qk; j += 2 {
			s0 += int32(int8(blk[2+j])) * int32(xs[j])
			s1 += int32(int8(blk[3+j])) * int32(xs[j+1])
		}
		sum += float32(s0+s1) * (halfAt(blk[:]) * d[b])
	}
	return sum
}

func qdotQ4_0(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[18]byte)(w[b*18:])
		xs := (*[qk]int8)(q[b*qk:])
		var si int32
		for j := 0; j < 16; j++ {
			v := blk[2+j]
			si += (int32(v&0xf)-8)*int32(xs[j]) + (int32(v>>4)-8)*int32(xs[j+16])
		}
		sum += float32(si) * (halfAt(blk[:]) * d[b])
	}
	return sum
}

func qdotQ4_1(w []byte, q []int8, d, s []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[20]byte)(w[b*20:])
		xs := (*[qk]int8)(q[b*qk:])
		var si int32
		for j := 0; j < 16; j++ {
			v := blk[4+j]
			si += int32(v&0xf)*int32(xs[j]) + int32(v>>4)*int32(xs[j+16])
		}
		sum += float32(si)*(halfAt(blk[:])*d[b]) + halfAt(blk[2:])*s[b]
	}
	return sum
}

func qdotQ5_0(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[22]byte)(w[b*22:])
		xs := (*[qk]int8)(q[b*qk:])
		qh := binary.LittleEndian.Uint32(blk[2:6])
		var si int32
		for j := 0; j < 16; j++ {
			v := blk[6+j]
			lo := int32(v&0xf|uint8(qh>>uint(j)&1)<<4) - 16
			hi := int32(v>>4|uint8(qh>>uint(j+16)&1)<<4) - 16
			si += lo*int32(xs[j]) + hi*int32(xs[j+16])
		}
		sum += float32(si) * (halfAt(blk[:]) * d[b])
	}
	return sum
}

func qdotQ5_1(w []byte, q []int8, d, s []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[24]byte)(w[b*24:])
		xs := (*[qk]int8)(q[b*qk:])
		qh := binary.LittleEndian.Uint32(blk[4:8])
		var si int32
		for j := 0; j < 16; j++ {
			v := blk[8+j]
			lo := int32(v&0xf | uint8(qh>>uint(j)&1)<<4)
			hi := int32(v>>4 | uint8(qh>>uint(j+16)&1)<<4)
			si += lo*int32(xs[j]) + hi*int32(xs[j+16])
		}
		sum += float32(si)*(halfAt(blk[:])*d[b]) + halfAt(blk[2:])*s[b]
	}
	return sum
}

func qdotQ2_K(w []byte, q []int8, d, _ []float32, bs []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[q2KSize]byte)(w[b*q2KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		sb := (*[16]int16)(bs[16*b:])
		var sumi, summ int32
		for n := 0; n < 2; n++ {
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for h := 0; h < 2; h++ {
					is := 8*n + 2*j + h
					qs := (*[16]byte)(blk[16+32*n+16*h:])
					x := (*[16]int8)(xs[128*n+32*j+16*h:])
					var si int32
					for l, v := range qs {
						si += int32(v>>shift&3) * int32(x[l])
					}
					sc := blk[is]
					sumi += int32(sc&0xf) * si
					summ += int32(sc>>4) * int32(sb[is])
				}
			}
		}
		sum += d[b]*halfAt(blk[80:])*float32(sumi) - d[b]*halfAt(blk[82:])*float32(summ)
	}
	return sum
}

func qdotQ3_K(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var scales [16]int8
	var sum float32
	for b := range d {
		blk := (*[q3KSize]byte)(w[b*q3KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		q3KScales(blk[96:108], &scales)
		var sumi int32
		for n := 0; n < 2; n++ {
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				hbit := uint(4*n + j)
				for h := 0; h < 2; h++ {
					qs := (*[16]byte)(blk[32+32*n+16*h:])
					hm := (*[16]byte)(blk[16*h:])
					x := (*[16]int8)(xs[128*n+32*j+16*h:])
					var si int32
					for l, v := range qs {
						lv := int32(v>>shift&3) - 4 + 4*int32(hm[l]>>hbit&1)
						si += lv * int32(x[l])
					}
					sumi += int32(scales[8*n+2*j+h]) * si
				}
			}
		}
		sum += d[b] * halfAt(blk[108:]) * float32(sumi)
	}
	return sum
}

func qdotQ4_K(w []byte, q []int8, d, _ []float32, bs []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[q4KSize]byte)(w[b*q4KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		sb := (*[16]int16)(bs[16*b:])
		scales := blk[4:16]
		var sumi, summ int32
		for k := 0; k < 4; k++ {
			qs := (*[32]byte)(blk[16+32*k:])
			lo := (*[32]int8)(xs[64*k:])
			hi := (*[32]int8)(xs[64*k+32:])
			var s1, s2 int32
			for l, v := range qs {
				s1 += int32(v&0xf) * int32(lo[l])
				s2 += int32(v>>4) * int32(hi[l])
			}
			sc1, m1 := scaleMinK4(2*k, scales)
			sc2, m2 := scaleMinK4(2*k+1, scales)
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summ += int32(m1)*(int32(sb[4*k])+int32(sb[4*k+1])) + int32(m2)*(int32(sb[4*k+2])+int32(sb[4*k+3]))
		}
		sum += d[b]*halfAt(blk[:])*float32(sumi) - d[b]*halfAt(blk[2:])*float32(summ)
	}
	return sum
}

func qdotQ5_K(w []byte, q []int8, d, _ []float32, bs []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[q5KSize]byte)(w[b*q5KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		sb := (*[16]int16)(bs[16*b:])
		scales := blk[4:16]
		qh := (*[32]byte)(blk[16:48])
		var sumi, summ int32
		for k := 0; k < 4; k++ {
			qs := (*[32]byte)(blk[48+32*k:])
			lo := (*[32]int8)(xs[64*k:])
			hi := (*[32]int8)(xs[64*k+32:])
			shift := uint(2 * k)
			var s1, s2 int32
			for l, v := range qs {
				h := qh[l] >> shift
				s1 += int32(v&0xf|(h&1)<<4) * int32(lo[l])
				s2 += int32(v>>4|(h&2)<<3) * int32(hi[l])
			}
			sc1, m1 := scaleMinK4(2*k, scales)
			sc2, m2 := scaleMinK4(2*k+1, scales)
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summ += int32(m1)*(int32(sb[4*k])+int32(sb[4*k+1])) + int32(m2)*(int32(sb[4*k+2])+int32(sb[4*k+3]))
		}
		sum += d[b]*halfAt(blk[:])*float32(sumi) - d[b]*halfAt(blk[2:])*float32(summ)
	}
	return sum
}

func qdotQ6_K(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[q6KSize]byte)(w[b*q6KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		var sumi int32
		for n := 0; n < 2; n++ {
			ql := (*[64]byte)(blk[64*n:])
			qh := (*[32]byte)(blk[128+32*n:])
			sc := (*[8]byte)(blk[192+8*n:])
			x := (*[128]int8)(xs[128*n:])
			for is := 0; is < 2; is++ {
				var s1, s2, s3, s4 int32
				for l := 16 * is; l < 16*is+16; l++ {
					h := qh[l]
					s1 += (int32(ql[l]&0xf|(h&3)<<4) - 32) * int32(x[l])
					s2 += (int32(ql[l+32]&0xf|(h>>2&3)<<4) - 32) * int32(x[l+32])
					s3 += (int32(ql[l]>>4|(h>>4&3)<<4) - 32) * int32(x[l+64])
					s4 += (int32(ql[l+32]>>4|(h>>6&3)<<4) - 32) * int32(x[l+96])
				}
				sumi += int32(int8(sc[is]))*s1 + int32(int8(sc[is+2]))*s2 +
					int32(int8(sc[is+4]))*s3 + int32(int8(sc[is+6]))*s4
			}
		}
		sum += d[b] * halfAt(blk[208:]) * float32(sumi)
	}
	return sum
}

func qdotQ8_K(w []byte, q []int8, d, _ []float32, _ []int16) float32 {
	var sum float32
	for b := range d {
		blk := (*[q8KSize]byte)(w[b*q8KSize:])
		xs := (*[QK_K]int8)(q[b*QK_K:])
		var si int32
		for j, v := range blk[4 : 4+QK_K] {
			si += int32(int8(v)) * int32(xs[j])
		}
		dw := math.Float32frombits(binary.LittleEndian.Uint32(blk[:4]))
		sum += d[b] * dw * float32(si)
	}
	return sum
}
