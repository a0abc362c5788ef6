package train

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGradientsDropoutAndInput extends TestGradients to what a direction
// over one tensor does not reach: with dropout on the LoRA inputs (the
// masks of the Backward call reproduced in the finite differences), it
// samples entries of every A and B, and checks the gradient reaching the
// embeddings, the input side of the whole pass, as sums over each
// token's positions. A mask applied in the forward pass but not the
// backward (or the reverse), or a dropped input-side term, misses by far
// more than the 1% allowed.
func TestGradientsDropoutAndInput(t *testing.T) {
	for _, arch := range Architectures {
		t.Run(arch, func(t *testing.T) {
			m := synthModel(t, tinySpec(arch))
			embed := *m.Embed // rewritten below: the test's own copy
			embed.Data = slices.Clone(embed.Data)
			m.Embed = &embed
			tr, err := New(m, Config{Targets: allKinds(), Rank: 2, Alpha: 4, Dropout: 0.25, LR: 1e-3, Seed: 7}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(8, 9))
			for _, p := range tr.params {
				for _, w := range [][]float32{p.a, p.b} {
					for i := range w {
						w[i] = float32(rng.NormFloat64() * 0.3)
					}
				}
			}
			seq := randomSeq(rng, m.Vocab, 24, []int{10, 14})
			ctx := context.Background()
			if _, _, err := tr.Backward(ctx, seq); err != nil {
				t.Fatal(err)
			}
			dx0 := slices.Clone(tr.s.dx[:len(seq.Tokens)*m.Dim])
			loss := func() float64 { // with the Backward call's masks
				tr.calls = 0
				l, _, err := tr.run(ctx, seq, false, true)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			const h = 3e-3
			for _, p := range tr.params {
				for _, w := range []struct {
					name    string
					x, grad []float32
				}{{"A", p.a, p.ga}, {"B", p.b, p.gb}} {
					var got, want []float64
					for range 6 {
						i := rng.IntN(len(w.x))
						v := w.x[i]
						w.x[i] = v + h
						up := loss()
						w.x[i] = v - h
						down := loss()
						w.x[i] = v
						got, want = append(got, float64(w.grad[i])), append(want, (up-down)/(2*h))
					}
					if e := relErr(got, want); e > 0.01 {
						t.Errorf("%s %s: relative error %.3g\n got %.5g\nwant %.5g", p.name, w.name, e, got, want)
					}
				}
			}
			dim := m.Dim
			var got, want []float64
			for range 12 {
				pos, c := rng.IntN(len(seq.Tokens)), rng.IntN(dim)
				tok := seq.Tokens[pos]
				var g float64
				for i, tk := range seq.Tokens {
					if tk == tok {
						g += float64(dx0[i*dim+c])
					}
				}
				b := embed.Data[4*(int(tok)*dim+c):][:4]
				v := math.Float32frombits(binary.LittleEndian.Uint32(b))
				binary.LittleEndian.PutUint32(b, math.Float32bits(v+h))
				up := loss()
				binary.LittleEndian.PutUint32(b, math.Float32bits(v-h))
				down := loss()
				binary.LittleEndian.PutUint32(b, math.Float32bits(v))
				got, want = append(got, g), append(want, (up-down)/(2*h))
			}
			if e := relErr(got, want); e > 0.01 {
				t.Errorf("embedding: relative error %.3g\n got %.5g\nwant %.5g", e, got, want)
			}
		})
	}
}

// relErr is |got - want| / |want| as vectors.
func relErr(got, want []float64) float64 {
	var d, w float64
	for i := range got {
		d += (got[i] - want[i]) * (got[i] - want[i])
		w += want[i] * want[i]
	}
	return math.Sqrt(d / max(w, 1e-30))
}
