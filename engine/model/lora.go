package model

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// LoRA is a low-rank update of a frozen projection (Hu et al., 2021): the
// projection computes W x + Scale * B (A x). A and B are float32 and small
// (Rank rows of the input width, output-width rows of Rank), so the update
// costs a few percent of the base product at the ranks people train, and
// the base weights stay in their stored type.
//
// The layout is llama.cpp's: its lora_a tensor, of ggml shape [in, rank],
// is A row-major, and lora_b, [rank, out], is B row-major.
type LoRA struct {
	Rank  int
	A     []float32 // (Rank, In)
	B     []float32 // (Out, Rank)
	Scale float32   // alpha / rank, times the user's scale
}

// check reports whether l fits a projection of in inputs and out outputs.
func (l *LoRA) check(in, out int) error {
	switch {
	case l.Rank <= 0:
		return fmt.Errorf("rank %d", l.Rank)
	case len(l.A) != l.Rank*in:
		return fmt.Errorf("its A has %d elements, want rank %d x %d inputs", len(l.A), l.Rank, in)
	case len(l.B) != out*l.Rank:
		return fmt.Errorf("its B has %d elements, want %d outputs x rank %d", len(l.B), out, l.Rank)
	}
	return nil
}

// apply adds Scale * B (A x[t]) to dst[t] for n tokens, with u as scratch
// of at least n*Rank floats. It is the simple reference the grouped kernels
// (lowRankJob) are tested against, and runs a LoRA set on a Linear other
// than by WithLoRA.
func (l *LoRA) apply(p *parallel.Pool, dst, x, u []float32, n, in, out int) {
	r := l.Rank
	p.For(n, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			xt, ut := x[t*in:(t+1)*in], u[t*r:(t+1)*r]
			for k := range ut {
				ut[k] = l.Scale * tensor.DotF32(l.A[k*in:(k+1)*in], xt)
			}
			row := dst[t*out : (t+1)*out]
			for o := range row {
				row[o] += tensor.DotF32(l.B[o*r:(o+1)*r], ut)
			}
		}
	})
}

// Projections returns the model's adaptable projections by the name of
// their base weight ("blk.0.attn_q.weight"), in the order of the forward
// pass. The classifier is not among them.
func (m *Transformer) Projections() []NamedLinear {
	var out []NamedLinear
	for i := range m.Layers {
		L := &m.Layers[i]
		for k, p := range []*Linear{&L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down} {
			if p.W != nil {
				out = append(out, NamedLinear{Name: p.W.Name, Layer: i, Linear: p, kind: k})
			}
		}
	}
	return out
}

// NamedLinear is one projection of a model, found by Projections.
type NamedLinear struct {
	Name  string
	Layer int
	*Linear
	kind int // projQ..projDown
}

// Kind names which projection of its block a weight is: "q", "k", "v",
// "o", "gate", "up" or "down" (the names training targets use), or "" for
// a name that is none of them.
func Kind(weight string) string {
	var blk int
	var rest string
	if _, err := fmt.Sscanf(weight, "blk.%d.%s", &blk, &rest); err != nil {
		return ""
	}
	switch rest {
	case "attn_q.weight":
		return "q"
	case "attn_k.weight":
		return "k"
	case "attn_v.weight":
		return "v"
	case "attn_output.weight":
		return "o"
	case "ffn_gate.weight":
		return "gate"
	case "ffn_up.weight":
		return "up"
	case "ffn_down.weight":
		return "down"
	}
	return ""
}

// WithLoRA returns a model that shares m's weights and adds the given
// low-rank updates, keyed by base weight name, to its projections; m
// itself is unchanged, so one loaded base serves with and without an
// adapter. An empty set returns a plain copy. The model keeps each B
// transposed for its kernels, so the LoRAs must not change once attached.
func (m *Transformer) WithLoRA(set map[string]*LoRA) (*Transformer, error) {
	c := *m
	c.Layers = make([]Layer, len(m.Layers))
	copy(c.Layers, m.Layers)
	ps := c.Projections()
	for _, p := range ps {
		p.LoRA, p.lr = nil, nil
	}
	err := eachLoRA(ps, set, func(p NamedLinear, l *LoRA) {
		p.LoRA, p.lr = l, newLowRank(l, p.W.Rows)
		p.lr.src = l
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// eachLoRA checks each update of set, in name order, against the
// projection of ps it names and calls fn with the two.
func eachLoRA(ps []NamedLinear, set map[string]*LoRA, fn func(NamedLinear, *LoRA)) error {
	byName := make(map[string]NamedLinear, len(ps))
	for _, p := range ps {
		byName[p.Name] = p
	}
	for _, n := range slices.Sorted(maps.Keys(set)) {
		p, ok := byName[n]
		if !ok {
			return fmt.Errorf("model: adapter tensor for %s: the model has no such projection", n)
		}
		if err := set[n].check(p.W.Cols, p.W.Rows); err != nil {
			return fmt.Errorf("model: adapter tensor for %s: %w", n, err)
		}
		fn(p, set[n])
	}
	return nil
}
