package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// TestForwardMatchesModel checks that the trainer's forward pass over a
// whole sequence gives the serving forward pass's loss: the same model
// code, run another way.
func TestForwardMatchesModel(t *testing.T) {
	for _, arch := range Architectures {
		t.Run(arch, func(t *testing.T) {
			m := synthModel(t, tinySpec(arch))
			tr, err := New(m, Config{Targets: allKinds(), Rank: 4, Alpha: 8, LR: 1e-3, Seed: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			seq := randomSeq(rng, m.Vocab, 40, nil)
			got, n, err := tr.Loss(context.Background(), seq)
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			st := m.NewState(0)
			for i := 0; i+1 < len(seq.Tokens); i++ {
				logits, err := m.Forward(context.Background(), st, seq.Tokens[i:i+1])
				if err != nil {
					t.Fatal(err)
				}
				want += nll(logits, seq.Tokens[i+1])
			}
			if n != len(seq.Tokens)-1 {
				t.Fatalf("%d targets, want %d", n, len(seq.Tokens)-1)
			}
			if math.Abs(got-want) > 1e-4*math.Abs(want) {
				t.Fatalf("trainer loss %v, model loss %v", got, want)
			}
		})
	}
}

// TestSegmentsAreIndependent checks packing: the loss of two segments
// packed together is the sum of their losses run alone.
func TestSegmentsAreIndependent(t *testing.T) {
	m := synthModel(t, tinySpec("qwen2"))
	tr, err := New(m, Config{Targets: []string{"q"}, Rank: 2, Alpha: 2, LR: 1e-3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	packed := randomSeq(rng, m.Vocab, 30, []int{12, 18})
	a := Sequence{Tokens: packed.Tokens[:12], Loss: packed.Loss[:12]}
	b := Sequence{Tokens: packed.Tokens[12:], Loss: packed.Loss[12:]}
	ctx := context.Background()
	lp, _, err := tr.Loss(ctx, packed)
	if err != nil {
		t.Fatal(err)
	}
	la, _, _ := tr.Loss(ctx, a)
	lb, _, _ := tr.Loss(ctx, b)
	if math.Abs(lp-(la+lb)) > 1e-4*lp {
		t.Fatalf("packed loss %v, apart %v + %v = %v", lp, la, lb, la+lb)
	}
}

func nll(logits []float32, tgt int32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(z) - float64(logits[tgt])
}

// TestLogitsMatchModel checks the trainer's forward pass logit for logit
// against model.Forward run token by token through its cache, with the
// trainer's current updates attached by model.WithLoRA (B random, so the
// updates count), for llama and qwen2, F32 and Q4_K weights.
func TestLogitsMatchModel(t *testing.T) {
	for _, arch := range Architectures {
		for _, typ := range []tensor.DType{tensor.F32, tensor.Q4_K} {
			t.Run(fmt.Sprintf("%s/%v", arch, typ), func(t *testing.T) {
				spec := tinySpec(arch)
				spec.Type = typ
				if typ != tensor.F32 {
					spec.Dim, spec.FFN = 256, 256 // whole k-quant blocks
				}
				m := synthModel(t, spec)
				tr, err := New(m, Config{Targets: allKinds(), Rank: 4, Alpha: 8, LR: 1e-3, Seed: 1}, nil)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(3, 4))
				for _, p := range tr.params {
					for i := range p.b {
						p.b[i] = float32(rng.NormFloat64() * 0.1)
					}
				}
				seq := randomSeq(rng, m.Vocab, 30, nil)
				ctx := context.Background()
				if _, _, err := tr.run(ctx, seq, false, false); err != nil {
					t.Fatal(err)
				}
				n, dim := len(seq.Tokens), m.Dim
				hx := make([]float32, n*dim)
				last := tr.s.xs[len(m.Layers)]
				for i := 0; i < n; i++ {
					model.RMSNorm(hx[i*dim:(i+1)*dim], last[i*dim:(i+1)*dim], m.OutNorm, m.NormEps)
				}
				got := make([]float32, n*m.Vocab)
				out := model.Linear{W: m.Output}
				out.Forward(tr.pool, got, hx, n)

				adapted, err := m.WithLoRA(tr.LoRA())
				if err != nil {
					t.Fatal(err)
				}
				st := adapted.NewState(0)
				for i, tok := range seq.Tokens {
					want, err := adapted.Forward(ctx, st, []int32{tok})
					if err != nil {
						t.Fatal(err)
					}
					var worst, scale float64
					for j, w := range want {
						worst = max(worst, math.Abs(float64(got[i*m.Vocab+j]-w)))
						scale = max(scale, math.Abs(float64(w)))
					}
					if worst > 1e-4*scale {
						t.Fatalf("position %d: logits differ by %.3g (largest logit %.3g)", i, worst, scale)
					}
				}
			})
		}
	}
}
