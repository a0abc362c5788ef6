package tensor

import "math"

// Vector primitives for the parts of the forward pass that are not matrix
// products, attention above all: at a 512-token prompt a head's scores,
// softmax and weighted sum of values cost more than the projections when
// done one float at a time. Each dispatches to the vector kernels of the
// current level (see SetLevel).

// DotF32 returns the dot product of a and b[:len(a)].
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	if s, ok := dotF32Fast(a, b); ok {
		return s
	}
	return dotF32Go(a, b)
}

// AxpyF32 adds a·x to y, element by element, for len(y) elements of x.
func AxpyF32(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	if !axpyF32Fast(y, a, x) {
		axpyF32Go(y, a, x)
	}
}

// Axpy8F32 adds Σ_r a[r]·x[r·stride+i] to y[i] for i < len(y): eight
// scaled rows of x at once, so y is loaded and stored once per eight
// products (a low-rank update's rows, a transposed product's tile). x must
// hold 7·stride+len(y) elements.
func Axpy8F32(y []float32, a *[8]float32, x []float32, stride int) {
	if len(y) == 0 {
		return
	}
	x = x[:7*stride+len(y)]
	if !axpy8F32Fast(y, a, x, stride) {
		for r, v := range a {
			axpyF32Go(y, v, x[r*stride:r*stride+len(y)])
		}
	}
}

// ExpF32 replaces every x[i] by e^x[i]. The vector kernels use a
// polynomial good to a few ulp (checked against math.Exp by the tests);
// results below the smallest normal float32 (x < -87.3) are 0 or nearly;
// above the largest (x > 88.72) they are +Inf.
func ExpF32(x []float32) {
	if !expF32Fast(x) {
		expF32Go(x)
	}
}

// attendBlock is the positions Attend scores at a time, in a buffer on the
// stack: the online softmax rescales its running sums between blocks, so
// Attend needs no scratch however long the cache.
const attendBlock = 256

// Attend computes one attention head over n cached positions: with the key
// of position p at k[p*stride:][:len(q)] and its value at v[p*stride:]
// [:len(q)], it sets out[:len(q)] to Σ_p softmax(scale·q·k_p)·v_p. Nothing
// is set when n is 0.
func Attend(out, q, k, v []float32, stride, n int, scale float32) {
	if n <= 0 {
		return
	}
	hd := len(q)
	out = out[:hd]
	_ = k[(n-1)*stride+hd-1]
	_ = v[(n-1)*stride+hd-1]
	var a attention
	a.start(out)
	var buf [attendBlock]float32
	for p0 := 0; p0 < n; p0 += attendBlock {
		s := buf[:min(attendBlock, n-p0)]
		kb, vb := k[p0*stride:], v[p0*stride:]
		scoresBlock(s, q, kb, stride, scale)
		a.weights(s, out)
		sumBlock(out, vb, stride, s)
	}
	a.finish(out)
}

// scoresBlock sets s[p] = scale·(q·k_p) for one block of positions.
func scoresBlock(s, q, kb []float32, stride int, scale float32) {
	if !attnScoresFast(q, kb, stride, scale, s) {
		hd := len(q)
		for p := range s {
			s[p] = DotF32(q, kb[p*stride:p*stride+hd]) * scale
		}
	}
}

// sumBlock adds Σ_p w[p]·v_p to out for one block of positions.
func sumBlock(out, vb []float32, stride int, w []float32) {
	if !attnSumFast(out, vb, stride, w) {
		hd := len(out)
		for p, x := range w {
			AxpyF32(out, x, vb[p*stride:p*stride+hd])
		}
	}
}

// AttendF16 is Attend with the keys and values stored as halves (IEEE
// binary16 bits), as in llama.cpp's default cache, which halves the
// cache's memory and bandwidth. (llama.cpp also rounds q to half before
// the product; a caller after its exact numbers rounds q with ToF16.)
func AttendF16(out, q []float32, k, v []uint16, stride, n int, scale float32) {
	if n <= 0 {
		return
	}
	hd := len(q)
	out = out[:hd]
	_ = k[(n-1)*stride+hd-1]
	_ = v[(n-1)*stride+hd-1]
	t := f16Table
	var a attention
	a.start(out)
	var buf [attendBlock]float32
	for p0 := 0; p0 < n; p0 += attendBlock {
		s := buf[:min(attendBlock, n-p0)]
		kb, vb := k[p0*stride:], v[p0*stride:]
		if !attnScoresF16Fast(q, kb, stride, scale, s) {
			for p := range s {
				var sum float32
				for i, h := range kb[p*stride : p*stride+hd] {
					sum += q[i] * t[h]
				}
				s[p] = sum * scale
			}
		}
		a.weights(s, out)
		if !attnSumF16Fast(out, vb, stride, s) {
			for p, w := range s {
				for i, h := range vb[p*stride : p*stride+hd] {
					out[i] += w * t[h]
				}
			}
		}
	}
	a.finish(out)
}

// attention is the state of an online softmax: the largest score so far
// and the sum of e^(score - max) over the positions so far, out holding
// the values weighted likewise.
type attention struct {
	max, sum float32
}

func (a *attention) start(out []float32) {
	a.max, a.sum = float32(math.Inf(-1)), 0
	clear(out)
}

// weights turns a block's scores s into weights e^(s - max), first moving
// the running max, and what was summed under the old one, to the block's
// max if that is larger.
func (a *attention) weights(s, out []float32) {
	mx := a.max
	for _, v := range s {
		mx = max(mx, v)
	}
	if mx > a.max {
		if a.sum != 0 {
			c := float32(math.Exp(float64(a.max - mx)))
			a.sum *= c
			for i := range out {
				out[i] *= c
			}
		}
		a.max = mx
	}
	for p := range s {
		s[p] -= mx
	}
	ExpF32(s)
	for _, w := range s {
		a.sum += w
	}
}

func (a *attention) finish(out []float32) {
	inv := 1 / a.sum
	for i := range out {
		out[i] *= inv
	}
}

// ToF16 rounds src to half precision (nearest even, as F32ToF16) into dst,
// which must be at least as long.
func ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	if !toF16Fast(dst, src) {
		toF16Go(dst, src)
	}
}

// SwiGLU sets gate[i] = silu(gate[i])·up[i], where silu(x) = x/(1+e^-x),
// the gated activation of Llama's feed-forward layers, with the vector exp.
// For x below -88, e^-x overflows and silu(x) is -0, as it is in exact
// arithmetic to float32 precision.
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	var buf [256]float32
	for len(gate) > 0 {
		n := min(len(gate), len(buf))
		e := buf[:n]
		for i, g := range gate[:n] {
			e[i] = -g
		}
		ExpF32(e)
		for i, g := range gate[:n] {
			gate[i] = g / (1 + e[i]) * up[i]
		}
		gate, up = gate[n:], up[n:]
	}
}

func toF16Go(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = F32ToF16(v)
	}
}

func dotF32Go(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyF32Go(y []float32, a float32, x []float32) {
	for i := range y {
		y[i] += a * x[i]
	}
}

func expF32Go(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v)))
	}
}

// Scores sets s[p] = scale·(q·k_p) for p < len(s), with the key of
// position p at k[p*stride:][:len(q)]: the scores of attention, for
// callers that need them apart from Attend (the trainer's backward pass).
func Scores(s, q, k []float32, stride int, scale float32) {
	for p0 := 0; p0 < len(s); p0 += attendBlock {
		scoresBlock(s[p0:min(p0+attendBlock, len(s))], q, k[p0*stride:], stride, scale)
	}
}

// WeightedSum adds Σ_p w[p]·v_p to out, with v_p at v[p*stride:][:len(out)].
func WeightedSum(out, v []float32, stride int, w []float32) {
	for p0 := 0; p0 < len(w); p0 += attendBlock {
		sumBlock(out, v[p0*stride:], stride, w[p0:min(p0+attendBlock, len(w))])
	}
}
