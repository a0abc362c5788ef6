package model

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
// read-only once made and may be shared by any number of sequences; it
// keeps each B transposed for the grouped kernels (see lowRank), so the
// LoRAs it was made from must not change afterwards.
type Adapter struct {
	layers [][numProj]*lowRank // by layer, by projection kind
	bytes  int64
}

// NewAdapter checks a set of updates, keyed by base weight name as
// WithLoRA takes them (llama.cpp's layout, see LoRA), against m's
// projections and returns them as an Adapter for m's sequences.
func (m *Transformer) NewAdapter(set map[string]*LoRA) (*Adapter, error) {
	a := &Adapter{layers: make([][numProj]*lowRank, len(m.Layers))}
	err := eachLoRA(m.Projections(), set, func(p NamedLinear, l *LoRA) {
		lr := newLowRank(l, p.W.Rows)
		a.layers[p.Layer][p.kind] = lr
		a.bytes += lr.bytes()
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Bytes is the memory the adapter's matrices take: each A, which it shares
// with the LoRA it was made from, and each B transposed, its own copy (the
// LoRA's B is not kept). A budget that holds Adapters counts this.
func (a *Adapter) Bytes() int64 { return a.bytes }

// MaxRank is the largest rank among the adapter's updates.
func (a *Adapter) MaxRank() int {
	r := 0
	for _, ls := range a.layers {
		for _, l := range ls {
			if l != nil {
				r = max(r, l.rank)
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

// adaptOut is one projection an adapt call updates: its kind and output,
// of out elements per token.
type adaptOut struct {
	kind int
	dst  []float32
	out  int
}

// adapt adds, for each run of the batch's tokens that has an adapter, its
// updates of the given projections of layer, which all read x (of in
// elements per token). One grouped job covers them all (see lowRankJob).
func (m *Transformer) adapt(sc *Scratch, layer int, x []float32, in int, projs ...adaptOut) {
	j := sc.lr
	j.reset(x, in)
	for _, p := range projs {
		j.target(p.dst, p.out)
		for _, r := range sc.runs {
			if lr := r.a.layers[layer][p.kind]; lr != nil {
				j.seg(r.lo, r.n, lr)
			}
		}
	}
	j.run(m.pool)
}
