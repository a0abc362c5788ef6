package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
)

// Adapter returns a LoRA adapter for base with seeded random weights: rank
// rank on the projections of the given kinds ("q", "k", "v", "o", "gate",
// "up", "down"; model.Kind), alpha twice the rank as the trainer's
// default. A is normal with std 1/sqrt(inputs) and B normal with std
// 0.02, so the update is the size of a trained one: it does the work of a
// real adapter and moves the output a little. The same seed gives the
// same adapter.
func Adapter(base *model.Transformer, rank int, kinds []string, seed uint64) (*adapter.Adapter, error) {
	if rank <= 0 || rank > 4096 {
		return nil, fmt.Errorf("synth: adapter rank %d: want 1..4096", rank)
	}
	rng := rand.New(rand.NewPCG(seed, 0x10ca))
	a := &adapter.Adapter{Arch: base.Arch, Alpha: float32(2 * rank), LoRA: map[string]*model.LoRA{}}
	for _, p := range base.Projections() {
		if !slices.Contains(kinds, model.Kind(p.Name)) {
			continue
		}
		in, out := p.W.Cols, p.W.Rows
		l := &model.LoRA{Rank: rank, Scale: adapter.Scale(a.Alpha, rank), A: make([]float32, rank*in), B: make([]float32, out*rank)}
		sa := 1 / math.Sqrt(float64(in))
		for i := range l.A {
			l.A[i] = float32(rng.NormFloat64() * sa)
		}
		for i := range l.B {
			l.B[i] = float32(rng.NormFloat64() * 0.02)
		}
		a.LoRA[p.Name] = l
	}
	if len(a.LoRA) == 0 {
		return nil, fmt.Errorf("synth: adapter: the model has no projection of the kinds %v", kinds)
	}
	return a, nil
}
