package synth

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hearth-ai/hearth/engine/model"
)

// LoRA returns a seeded random rank-r update of m's projections of the
// given kinds ("q", "k", ..., as model.Kind names them), keyed by base
// weight name as model.WithLoRA and NewAdapter take it: A of standard
// deviation 1/sqrt(inputs), so that A x has the spread of x, B of std, and
// scale 2/rank. A trained adapter's B is small; std 0.05 moves a small
// model's choices now and then, 0.5 most of the time.
func LoRA(m *model.Transformer, rank int, kinds []string, std float64, seed uint64) map[string]*model.LoRA {
	r := rand.New(rand.NewPCG(seed, 0x10a))
	set := map[string]*model.LoRA{}
	for _, p := range m.Projections() {
		if !slices.Contains(kinds, model.Kind(p.Name)) {
			continue
		}
		in, out := p.W.Cols, p.W.Rows
		l := &model.LoRA{Rank: rank, A: make([]float32, rank*in), B: make([]float32, out*rank), Scale: 2 / float32(rank)}
		for i := range l.A {
			l.A[i] = float32(r.NormFloat64() / math.Sqrt(float64(in)))
		}
		for i := range l.B {
			l.B[i] = float32(r.NormFloat64() * std)
		}
		set[p.Name] = l
	}
	return set
}
