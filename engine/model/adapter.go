package model

import (
	"fmt"
	"sort"
)

// Projection kinds, the order of a block's projections in Layer and in
// the forward pass.
const (
	projQ = iota
	projK
	projV
	projO
	projGate
	projUp
	projDown
	numProj
)

// Adapter is a set of low-rank updates that one sequence of a batch runs
// with, while the other sequences of the same step run with theirs or with
// none: the base weights are read once for the whole batch, then each
// sequence's update is added to its own rows (Seq.Adapter). An Adapter is
// read-only once made and may be shared by any number of sequences.
type Adapter struct {
	layers [][numProj]*LoRA // by layer, by projection kind
	bytes  int64
}

// NewAdapter checks a set of updates, keyed by base weight name as
// WithLoRA takes them, against m's projections and returns them as an
// Adapter for m's sequences.
func (m *Transformer) NewAdapter(set map[string]*LoRA) (*Adapter, error) {
	type slot struct {
		layer, kind int
		lin         *Linear
	}
	byName := map[string]slot{}
	for i := range m.Layers {
		L := &m.Layers[i]
		for k, p := range []*Linear{&L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down} {
			if p.W != nil {
				byName[p.W.Name] = slot{i, k, p}
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	a := &Adapter{layers: make([][numProj]*LoRA, len(m.Layers))}
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("model: adapter tensor for %s: the model has no such projection", n)
		}
		l := set[n]
		if err := l.check(s.lin.W.Cols, s.lin.W.Rows); err != nil {
			return nil, fmt.Errorf("model: adapter tensor for %s: %w", n, err)
		}
		a.layers[s.layer][s.kind] = l
		a.bytes += int64(len(l.A)+len(l.B)) * 4
	}
	return a, nil
}

// Bytes is the memory the adapter's matrices take.
func (a *Adapter) Bytes() int64 { return a.bytes }

// MaxRank is the largest rank among the adapter's updates.
func (a *Adapter) MaxRank() int {
	r := 0
	for _, ls := range a.layers {
		for _, l := range ls {
			if l != nil {
				r = max(r, l.Rank)
			}
		}
	}
	return r
}

// adapterRun is a run of consecutive tokens of a batch that share an
// adapter.
type adapterRun struct {
	lo, n int
	a     *Adapter
}

// adapt adds the updates of projection kind of layer to dst for each run
// of the batch's tokens that has an adapter; x is the projection's input,
// of in elements per token, dst its output, of out.
func (m *Transformer) adapt(sc *Scratch, layer, kind int, dst, x []float32, in, out int) {
	for _, r := range sc.runs {
		l := r.a.layers[layer][kind]
		if l == nil {
			continue
		}
		sc.lora = grow(sc.lora, r.n*l.Rank)
		l.apply(m.pool, dst[r.lo*out:], x[r.lo*in:], sc.lora, r.n, in, out)
	}
}
