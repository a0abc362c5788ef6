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
// in the same order as ggml's; products that feed a sum are wrapped in
// float32() so they cannot be fused into an FMA.

// groupMaxEps is the magnitude below which a group counts as all zeros.
const groupMaxEps float32 = 1e-15

// nearestInt rounds to the nearest integer, ties to even, the way ggml does:
// adding 1.5·2^23 leaves the rounded integer in the low mantissa bits. For
// |f| > 2^22 (or NaN) the result is garbage, exactly ggml's garbage, which
// the callers then clamp.
func nearestInt(f float32) int {
	// The conversion keeps an inlined caller's product from fusing with
	// the addition.
	v := float32(f) + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }

// makeQxQuants finds a scale for the symmetric levels -nmax..nmax-1 that
// minimises Σ x²·(x - scale·l)², trying 19 starting scales around
// nmax/max|x|. L receives l+nmax. This is ggml's make_qx_quants with
// rmse_type 1 and no quant weights.
func makeQxQuants(x []float32, nmax int, L []int8) float32 {
	var max, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := v * v
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
			w := v * v
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: start from the
// nearest levels of nmax/max|x|, then for up to five passes move single
// values to the level that most lowers Σ x²·(x - scale·l)². L receives
// l+nmax.
func makeQ3Quants(x []float32, nmax int, L []int8) float32 {
	var max, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				newL := clampInt(nearestInt(v*sl2/slx), -nmax, nmax-1)
				if newL != int(L[i]) {
					fl := float32(newL)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQkx2Quants fits x ≈ scale·l - min with levels 0..nmax, min ≥ 0,
// minimising the weighted squared (or, with useMad, absolute) error: a
// first guess from the range of x, then nstep+1 rescaled guesses each
// refined by a weighted least-squares fit of scale and min. This is ggml's
// make_qkx2_quants. It returns the scale and min; L receives the levels,
// and laux is scratch of the same length.
func makeQkx2Quants(x, weights []float32, nmax int, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range x {
			L[i] = 0
		}
		return 0, -min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale = 1 / iscale
	errOf := func(diff float32) float32 {
		if useMad {
			return abs32(diff)
		}
		return diff * diff
	}
	var bestErr float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*(v-min)), 0, nmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + min - v
		bestErr += float32(weights[i] * errOf(diff))
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		// min moves as better fits are found, and so does this range.
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(iscale*(v-min)), 0, nmax)
			laux[i] = uint8(l)
			w := weights[i]
			wl := float32(w * float32(l))
			sumL += wl
			sumL2 += float32(wl * float32(l))
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var cur float32
			for i, v := range x {
				diff := float32(thisScale*float32(laux[i])) + thisMin - v
				cur += float32(weights[i] * errOf(diff))
			}
			if cur < bestErr {
				copy(L[:n], laux[:n])
				bestErr = cur
				scale, min = thisScale, thisMin
			}
		}
	}
	return scale, -min
}

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
