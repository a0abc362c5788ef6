package tensor

import (
	"encoding/binary"
	"math"
)

// Reference quantizers for the k-quants, reproducing ggml's
// quantize_row_q{2..6,8}_K_ref, which is what llama-quantize runs when it has
// no importance matrix. They search for sub-block scales (and mins) that
// minimise a weighted squared error, then quantize those scales against a
// half-precision super-block scale and requantize the values with the
// scales as they will be decoded. Every float operation happens in float32
// in the same order as ggml's, with no fused multiply-adds (see
// scalefit.go, which also holds the scale searches).

// packQ2 stores 2-bit levels four to a byte: byte l of each 32-byte group
// holds elements l, l+32, l+64, l+96 of its 128-element half.
func packQ2(L []uint8, qs []byte) {
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

func quantQ2_K(src []float32, dst []byte) {
	var (
		L       [QK_K]uint8
		laux    [16]uint8
		weights [16]float32
		mins    [16]float32
		scales  [16]float32
	)
	const q4scale = 15
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q2KSize:q2KSize]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = abs32(v)
			}
			scales[j], mins[j] = makeQkx2Quants(xs, weights[:], 3, L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		sc := b[0:16]
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range sc {
				sc[j] = uint8(nearestInt(iscale * scales[j]))
			}
			putHalf(b[80:], maxScale/q4scale)
		} else {
			clear(sc)
			putHalf(b[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
			}
			putHalf(b[82:], maxMin/q4scale)
		} else {
			putHalf(b[82:], 0)
		}
		d, dmin := halfAt(b[80:]), halfAt(b[82:])
		for j := 0; j < 16; j++ {
			dl := d * float32(sc[j]&0xf)
			if dl == 0 {
				continue
			}
			dm := float32(dmin * float32(sc[j]>>4))
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = uint8(clampInt(nearestInt((x[16*j+ii]+dm)/dl), 0, 3))
			}
		}
		packQ2(L[:], b[16:80])
		src = src[QK_K:]
		dst = dst[q2KSize:]
	}
}

func quantQ3_K(src []float32, dst []byte) {
	var (
		L      [QK_K]int8
		scales [16]float32
		dec    [16]int8
		L2     [QK_K]uint8
	)
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q3KSize:q3KSize]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(x[16*j:16*j+16], 4, L[16*j:16*j+16])
			if s := abs32(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		sb := b[96:108]
		clear(sb)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := uint8(clampInt(int(int8(nearestInt(iscale*scales[j]))), -32, 31) + 32)
				if j < 8 {
					sb[j] = l & 0xf
				} else {
					sb[j-8] |= (l & 0xf) << 4
				}
				sb[8+j%4] |= (l >> 4) << (2 * uint(j/4))
			}
			putHalf(b[108:], 1/iscale)
		} else {
			putHalf(b[108:], 0)
		}
		q3KScales(sb, &dec)
		dAll := halfAt(b[108:])
		for j := 0; j < 16; j++ {
			d := dAll * float32(dec[j])
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/d), -4, 3) + 4)
			}
		}
		// The third bit of element j goes to bit j/32 of hmask[j%32].
		hm := b[0:32]
		clear(hm)
		for j := 0; j < QK_K; j++ {
			l := uint8(L[j])
			if l > 3 {
				hm[j%32] |= 1 << uint(j/32)
				l -= 4
			}
			L2[j] = l
		}
		packQ2(L2[:], b[32:96])
		src = src[QK_K:]
		dst = dst[q3KSize:]
	}
}

// packScaleMinK4 is the inverse of scaleMinK4 for all eight sub-blocks.
func packScaleMinK4(ls, lm *[8]uint8, q []byte) {
	for j := 0; j < 8; j++ {
		if j < 4 {
			q[j] = ls[j]
			q[j+4] = lm[j]
		} else {
			q[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			q[j-4] |= (ls[j] >> 4) << 6
			q[j] |= (lm[j] >> 4) << 6
		}
	}
}

// quantScalesMinsK4 is the shared Q4_K/Q5_K step after the per-sub-block
// fits: quantize scales and mins to 6 bits against their maxima, store them
// and the half super-block scales, and requantize x with the decoded
// scales into L (levels 0..nmax).
func quantScalesMinsK4(x []float32, scales, mins *[8]float32, maxScale, maxMin float32, nmax int, b []byte, L []uint8) {
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(invScale*scales[j])))
		lm[j] = min(63, uint8(nearestInt(invMin*mins[j])))
	}
	packScaleMinK4(&ls, &lm, b[4:16])
	putHalf(b, maxScale/63)
	putHalf(b[2:], maxMin/63)
	d, dmin := halfAt(b), halfAt(b[2:])
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, b[4:16])
		dl := d * float32(sc)
		if dl == 0 {
			continue
		}
		dm := float32(dmin * float32(m))
		for ii := 0; ii < 32; ii++ {
			L[32*j+ii] = uint8(clampInt(nearestInt((x[32*j+ii]+dm)/dl), 0, nmax))
		}
	}
}

// fitK4 runs the per-sub-block fits of Q4_K and Q5_K, weighting each value
// by the sub-block's rms plus its own magnitude.
func fitK4(x []float32, nmax int, rmin, rdelta float32, nstep int, L []uint8, scales, mins *[8]float32) (maxScale, maxMin float32) {
	var weights [32]float32
	var laux [32]uint8
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQkx2Quants(xs, weights[:], nmax, L[32*j:32*j+32], laux[:], rmin, rdelta, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	return maxScale, maxMin
}

func quantQ4_K(src []float32, dst []byte) {
	var (
		L            [QK_K]uint8
		scales, mins [8]float32
	)
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q4KSize:q4KSize]
		maxScale, maxMin := fitK4(x, 15, -1, 0.1, 20, L[:], &scales, &mins)
		quantScalesMinsK4(x, &scales, &mins, maxScale, maxMin, 15, b, L[:])
		// Byte l of each 32-byte group: element l (low nibble) and l+32
		// (high nibble) of its 64-element chunk.
		qs := b[16:144]
		for j := 0; j < QK_K; j += 64 {
			for l := 0; l < 32; l++ {
				qs[j/2+l] = L[j+l] | L[j+l+32]<<4
			}
		}
		src = src[QK_K:]
		dst = dst[q4KSize:]
	}
}

func quantQ5_K(src []float32, dst []byte) {
	var (
		L            [QK_K]uint8
		scales, mins [8]float32
	)
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q5KSize:q5KSize]
		maxScale, maxMin := fitK4(x, 31, -0.5, 0.1, 15, L[:], &scales, &mins)
		quantScalesMinsK4(x, &scales, &mins, maxScale, maxMin, 31, b, L[:])
		// As Q4_K for the low four bits; the fifth bit of chunk k's low
		// and high halves goes to bits 2k and 2k+1 of qh[l].
		qh := b[16:48]
		qs := b[48:176]
		clear(qh)
		for k := 0; k < 4; k++ {
			for l := 0; l < 32; l++ {
				l1, l2 := L[64*k+l], L[64*k+l+32]
				if l1 > 15 {
					l1 -= 16
					qh[l] |= 1 << uint(2*k)
				}
				if l2 > 15 {
					l2 -= 16
					qh[l] |= 2 << uint(2*k)
				}
				qs[32*k+l] = l1 | l2<<4
			}
		}
		src = src[QK_K:]
		dst = dst[q5KSize:]
	}
}

func quantQ6_K(src []float32, dst []byte) {
	var (
		L      [QK_K]int8
		scales [16]float32
	)
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q6KSize:q6KSize]
		var maxScale, maxAbs float32
		for ib := 0; ib < 16; ib++ {
			scales[ib] = makeQxQuants(x[16*ib:16*ib+16], 32, L[16*ib:16*ib+16])
			if a := abs32(scales[ib]); a > maxAbs {
				maxAbs, maxScale = a, scales[ib]
			}
		}
		if maxAbs < groupMaxEps {
			clear(b)
			src = src[QK_K:]
			dst = dst[q6KSize:]
			continue
		}
		iscale := -128 / maxScale
		putHalf(b[208:], 1/iscale)
		sc := b[192:208]
		for ib := range sc {
			sc[ib] = uint8(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		d := halfAt(b[208:])
		for j := 0; j < 16; j++ {
			dl := d * float32(int8(sc[j]))
			if dl == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/dl), -32, 31) + 32)
			}
		}
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			Ln := L[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := uint8(Ln[l]), uint8(Ln[l+32]), uint8(Ln[l+64]), uint8(Ln[l+96])
				ql[l] = q1&0xf | (q3&0xf)<<4
				ql[l+32] = q2&0xf | (q4&0xf)<<4
				qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
		src = src[QK_K:]
		dst = dst[q6KSize:]
	}
}

func quantQ8_K(src []float32, dst []byte) {
	for len(src) > 0 {
		x := src[:QK_K:QK_K]
		b := dst[:q8KSize:q8KSize]
		var max, amax float32
		for _, v := range x {
			if a := abs32(v); a > amax {
				amax, max = a, v
			}
		}
		if amax == 0 {
			clear(b)
			src = src[QK_K:]
			dst = dst[q8KSize:]
			continue
		}
		iscale := -127 / max
		qs := b[4 : 4+QK_K]
		for j, v := range x {
			qs[j] = uint8(int8(min(127, nearestInt(iscale*v))))
		}
		for j := 0; j < 16; j++ {
			var sum int
			for _, q := range qs[16*j : 16*j+16] {
				sum += int(int8(q))
			}
			binary.LittleEndian.PutUint16(b[260+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
		src = src[QK_K:]
		dst = dst[q8KSize:]
	}
}
