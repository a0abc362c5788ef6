package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withLevels runs f at every kernel level the CPU has.
func withLevels(t *testing.T, f func(t *testing.T, l Level)) {
	for _, l := range levels() {
		prev := SetLevel(l)
		t.Run(l.String(), func(t *testing.T) { f(t, l) })
		SetLevel(prev)
	}
}

func TestDotAxpyF32(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	withLevels(t, func(t *testing.T, l Level) {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 100} {
			a, b := gaussian(r, n, 1), gaussian(r, n, 1)
			var want, mag float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if got := DotF32(a, b); math.Abs(float64(got)-want) > 1e-6*mag {
				t.Errorf("n=%d: DotF32 = %g, want %g", n, got, want)
			}
			y := gaussian(r, n, 1)
			y0 := append([]float32(nil), y...)
			AxpyF32(y, 0.75, a)
			for i := range y {
				if w := y0[i] + 0.75*a[i]; math.Abs(float64(y[i]-w)) > 1e-6*(math.Abs(float64(w))+1) {
					t.Errorf("n=%d: AxpyF32 y[%d] = %g, want %g", n, i, y[i], w)
				}
			}
		}
	})
}

// TestAxpy8F32 checks the eight-row update against a float64 sum, at
// lengths on both sides of the kernel's 16-element blocks and strides wider
// than a row.
func TestAxpy8F32(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	withLevels(t, func(t *testing.T, l Level) {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 128, 130} {
			for _, stride := range []int{n, n + 5} {
				x := gaussian(r, 7*stride+n, 1)
				var a [8]float32
				copy(a[:], gaussian(r, 8, 1))
				y := gaussian(r, n, 1)
				y0 := append([]float32(nil), y...)
				Axpy8F32(y, &a, x, stride)
				for i := range y {
					w, mag := float64(y0[i]), math.Abs(float64(y0[i]))
					for k, v := range a {
						w += float64(v) * float64(x[k*stride+i])
						mag += math.Abs(float64(v) * float64(x[k*stride+i]))
					}
					if math.Abs(float64(y[i])-w) > 1e-6*(mag+1) {
						t.Errorf("n=%d stride=%d: y[%d] = %g, want %g", n, stride, i, y[i], w)
					}
				}
			}
		}
	})
}

// TestExpF32 compares ExpF32 with math.Exp over the whole float32 range of
// exponents, densely around 0 where softmax lives, and at the edges.
func TestExpF32(t *testing.T) {
	var xs []float32
	for v := float32(-90); v <= 90; v += 0.01 {
		xs = append(xs, v)
	}
	for v := float32(-1); v <= 1; v += 1.0 / 4096 {
		xs = append(xs, v)
	}
	xs = append(xs, 0, -0.5*float32(math.Ln2), 0.5*float32(math.Ln2), float32(math.Inf(-1)), float32(math.Inf(1)), -1e30, 1e30)
	withLevels(t, func(t *testing.T, l Level) {
		got := append([]float32(nil), xs...)
		ExpF32(got)
		for i, x := range xs {
			want := math.Exp(float64(x))
			g := float64(got[i])
			switch {
			case want < 1.2e-38: // below the normal range: 0 or tiny
				if g < 0 || g > 2.4e-38 {
					t.Errorf("exp(%g) = %g, want about %g", x, g, want)
				}
			case want > math.MaxFloat32:
				if !math.IsInf(g, 1) {
					t.Errorf("exp(%g) = %g, want +Inf", x, g)
				}
			case math.Abs(g-want) > 3e-7*want:
				t.Errorf("exp(%g) = %g, want %g (rel %.2g)", x, g, want, math.Abs(g-want)/want)
			}
		}
		nan := []float32{float32(math.NaN())}
		ExpF32(nan)
		if !math.IsNaN(float64(nan[0])) {
			t.Errorf("exp(NaN) = %g", nan[0])
		}
	})
}

// TestAttend checks Attend against a float64 softmax-weighted sum, with
// keys and values interleaved in a cache row as a transformer lays them.
func TestAttend(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	withLevels(t, func(t *testing.T, l Level) {
		for _, tc := range []struct{ hd, n, stride int }{{64, 1, 64}, {64, 37, 256}, {80, 9, 160}, {7, 5, 9}, {128, 3, 128}, {136, 6, 200}, {8, 2, 8}, {64, 700, 64}, {64, 513, 72}} {
			q := gaussian(r, tc.hd, 1)
			k := gaussian(r, tc.n*tc.stride, 2)
			v := gaussian(r, tc.n*tc.stride, 1)
			scale := float32(1 / math.Sqrt(float64(tc.hd)))
			out := make([]float32, tc.hd)
			Attend(out, q, k, v, tc.stride, tc.n, scale)
			s := make([]float64, tc.n)
			mx, sum := math.Inf(-1), 0.0
			for p := range s {
				for i := 0; i < tc.hd; i++ {
					s[p] += float64(q[i]) * float64(k[p*tc.stride+i])
				}
				s[p] *= float64(scale)
				mx = math.Max(mx, s[p])
			}
			for p := range s {
				s[p] = math.Exp(s[p] - mx)
				sum += s[p]
			}
			for i := 0; i < tc.hd; i++ {
				var want float64
				for p := range s {
					want += s[p] / sum * float64(v[p*tc.stride+i])
				}
				if math.Abs(float64(out[i])-want) > 1e-5 {
					t.Errorf("%+v: out[%d] = %g, want %g", tc, i, out[i], want)
				}
			}
			// The half-precision cache holds k and v rounded; the reference
			// below then sees the same values.
			kh, vh := make([]uint16, len(k)), make([]uint16, len(v))
			ToF16(kh, k)
			ToF16(vh, v)
			for i := range k {
				if kh[i] != F32ToF16(k[i]) {
					t.Fatalf("ToF16(%g) = %#x, want %#x", k[i], kh[i], F32ToF16(k[i]))
				}
			}
			outH := make([]float32, tc.hd)
			AttendF16(outH, q, kh, vh, tc.stride, tc.n, scale)
			for i := range k {
				k[i], v[i] = F16ToF32(kh[i]), F16ToF32(vh[i])
			}
			outR := make([]float32, tc.hd)
			Attend(outR, q, k, v, tc.stride, tc.n, scale)
			for i := range outH {
				if math.Abs(float64(outH[i]-outR[i])) > 1e-5 {
					t.Errorf("%+v: AttendF16 out[%d] = %g, Attend on the rounded cache %g", tc, i, outH[i], outR[i])
				}
			}
		}
	})
	out := []float32{7}
	Attend(out, []float32{1}, nil, nil, 1, 0, 1)
	AttendF16(out, []float32{1}, nil, nil, 1, 0, 1)
	if out[0] != 7 {
		t.Errorf("Attend over no positions set out to %v", out)
	}
}

// BenchmarkAttend runs one 64-wide head over 512 positions of a cache.
func BenchmarkAttend(b *testing.B) {
	r := rand.New(rand.NewPCG(45, 46))
	const hd, n, stride = 64, 512, 256
	q := gaussian(r, hd, 1)
	k, v := gaussian(r, n*stride, 1), gaussian(r, n*stride, 1)
	kh, vh := make([]uint16, len(k)), make([]uint16, len(v))
	ToF16(kh, k)
	ToF16(vh, v)
	out := make([]float32, hd)
	for _, l := range levels() {
		b.Run(fmt.Sprintf("F32/%s", l), func(b *testing.B) {
			prev := SetLevel(l)
			defer SetLevel(prev)
			for b.Loop() {
				Attend(out, q, k, v, stride, n, 0.125)
			}
		})
		b.Run(fmt.Sprintf("F16/%s", l), func(b *testing.B) {
			prev := SetLevel(l)
			defer SetLevel(prev)
			for b.Loop() {
				AttendF16(out, q, kh, vh, stride, n, 0.125)
			}
		})
	}
}

func TestSwiGLU(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	withLevels(t, func(t *testing.T, l Level) {
		for _, n := range []int{1, 7, 300, 600} {
			g, u := gaussian(r, n, 4), gaussian(r, n, 1)
			g[0] = -100 // e^100 overflows: silu is -0
			got := append([]float32(nil), g...)
			SwiGLU(got, u)
			for i := range g {
				x := float64(g[i])
				want := x / (1 + math.Exp(-x)) * float64(u[i])
				if math.Abs(float64(got[i])-want) > 1e-6*(math.Abs(want)+1e-30) {
					t.Errorf("n=%d: swiglu(%g, %g) = %g, want %g", n, g[i], u[i], got[i], want)
				}
			}
		}
	})
}

// BenchmarkSwiGLU runs the activation over one token's 5632 FFN values.
func BenchmarkSwiGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(49, 50))
	g, u := gaussian(r, 5632, 1), gaussian(r, 5632, 1)
	buf := make([]float32, len(g))
	for _, l := range levels() {
		b.Run(fmt.Sprint(l), func(b *testing.B) {
			prev := SetLevel(l)
			defer SetLevel(prev)
			for b.Loop() {
				copy(buf, g)
				SwiGLU(buf, u)
			}
		})
	}
}

// TestVecAllocs checks that the primitives the decode loop calls allocate
// nothing, at every level: their blocks of scores live on the stack.
func TestVecAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	const hd, n, stride = 64, 300, 128
	q, k, v := gaussian(r, hd, 1), gaussian(r, n*stride, 1), gaussian(r, n*stride, 1)
	kh, vh := make([]uint16, len(k)), make([]uint16, len(v))
	out, g, u := make([]float32, hd), gaussian(r, 600, 1), gaussian(r, 600, 1)
	withLevels(t, func(t *testing.T, l Level) {
		if a := testing.AllocsPerRun(20, func() {
			Attend(out, q, k, v, stride, n, 0.125)
			ToF16(kh, k)
			AttendF16(out, q, kh, vh, stride, n, 0.125)
			SwiGLU(g, u)
			ExpF32(u[:5])
		}); a != 0 {
			t.Errorf("%v allocations per run, want 0", a)
		}
	})
}
