package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hearth-ai/hearth/engine/synth"
)

// TestGradients checks every LoRA gradient against central finite
// differences of the loss, one projection kind and matrix at a time, along
// a random direction: for llama (adjacent-pair RoPE) and qwen2 (NeoX RoPE,
// Q/K/V biases), with grouped-query attention, for one sequence and for
// packed segments. Every kind of block 0 reaches the loss through both
// blocks' attention, norms, SwiGLU and the classifier, so a wrong term in
// any of them shows.
func TestGradients(t *testing.T) {
	for _, arch := range Architectures {
		for _, segs := range [][]int{nil, {9, 7, 8}} {
			t.Run(fmt.Sprintf("%s/segments=%v", arch, segs), func(t *testing.T) {
				checkGradients(t, tinySpec(arch), segs)
			})
		}
	}
}

func checkGradients(t *testing.T, spec synth.Spec, segs []int) {
	m := synthModel(t, spec)
	tr, err := New(m, Config{Targets: allKinds(), Rank: 3, Alpha: 6, LR: 1e-3, Seed: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range tr.params { // B starts at zero, where A has no gradient
		for i := range p.b {
			p.b[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	seq := randomSeq(rng, m.Vocab, 24, segs)
	ctx := context.Background()
	if _, _, err := tr.Backward(ctx, seq); err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		l, _, err := tr.Loss(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, p := range tr.params {
		for _, mat := range []struct {
			name string
			w, g []float32
		}{{"A", p.a, p.ga}, {"B", p.b, p.gb}} {
			d := make([]float64, len(mat.w))
			var norm float64
			for i := range d {
				d[i] = rng.NormFloat64()
				norm += d[i] * d[i]
			}
			var analytic float64
			for i := range d {
				d[i] /= math.Sqrt(norm)
				analytic += d[i] * float64(mat.g[i])
			}
			orig := append([]float32(nil), mat.w...)
			const eps = 3e-3
			shift := func(h float64) float64 {
				for i := range mat.w {
					mat.w[i] = float32(float64(orig[i]) + h*d[i])
				}
				return loss()
			}
			numeric := (shift(eps) - shift(-eps)) / (2 * eps)
			copy(mat.w, orig)
			if diff := math.Abs(numeric - analytic); diff > 2e-2*math.Abs(numeric)+2e-3 {
				t.Errorf("%s %s: analytic %.6g, finite differences %.6g", p.name, mat.name, analytic, numeric)
			}
		}
	}
}
