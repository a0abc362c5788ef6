package train

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Trainer trains LoRA updates of a frozen model. It is not safe for
// concurrent use.
type Trainer struct {
	m     *model.Transformer
	c     Config
	pool  *parallel.Pool
	scale float32 // Alpha / Rank

	params []*param      // in the order of model.Projections
	blocks [][7]*param   // per block, per kind index; nil where untargeted
	base   []model.Layer // the blocks' weights without any LoRA attached

	step    int     // optimizer steps taken
	calls   int     // Backward calls since the last Update: the sequence index of dropout
	lossSum float64 // since the last Update
	targets int

	dropping bool  // this pass applies dropout (Backward with Dropout > 0)
	budget   int64 // bytes of block activations kept (SetActivationBudget)
	s        scratch
	tscratch chan *tensor.TScratch // one per thread, reused by matT
}

// param is one projection's low-rank update with its gradients and Adam
// moments, all (Rank, In) for A and (Out, Rank) for B.
type param struct {
	name    string
	kind    int
	in, out int
	a, b    []float32
	bt      []float32 // (Rank, Out) B transposed, refreshed by each pass
	ga, gb  []float32
	ma, va  []float32
	mb, vb  []float32
}

// StepStats describes one optimizer step.
type StepStats struct {
	Step     int
	LR       float64
	GradNorm float64 // before clipping
	Loss     float64 // mean over the targets of the step
	Targets  int
}

// New prepares a trainer of c's projections of m: each A drawn uniformly
// in ±1/sqrt(in) from c.Seed, each B zero, so training starts at the base
// model. pool runs the products; nil means the calling goroutine alone.
func New(m *model.Transformer, c Config, pool *parallel.Pool) (*Trainer, error) {
	if err := supported(m); err != nil {
		return nil, err
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	if pool == nil {
		pool = parallel.New(1)
	}
	t := &Trainer{m: m, c: c, pool: pool, scale: float32(c.Alpha / float64(c.Rank)), budget: DefaultActivationBudget,
		tscratch: make(chan *tensor.TScratch, pool.Threads())}
	t.base = make([]model.Layer, len(m.Layers))
	copy(t.base, m.Layers)
	t.blocks = make([][7]*param, len(m.Layers))
	for i := range t.base {
		L := &t.base[i]
		for _, lin := range []*model.Linear{&L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down} {
			lin.LoRA = nil
		}
	}
	for _, p := range m.Projections() {
		k := slices.Index(Kinds, model.Kind(p.Name))
		if k < 0 || !slices.Contains(c.Targets, Kinds[k]) {
			continue
		}
		in, out := p.W.Cols, p.W.Rows
		if c.Rank > min(in, out) {
			return nil, fmt.Errorf("train: rank %d exceeds the %d x %d projection %s", c.Rank, out, in, p.Name)
		}
		q := &param{name: p.Name, kind: k, in: in, out: out}
		na, nb := c.Rank*in, out*c.Rank
		q.a, q.ga, q.ma, q.va = make([]float32, na), make([]float32, na), make([]float32, na), make([]float32, na)
		q.b, q.gb, q.mb, q.vb = make([]float32, nb), make([]float32, nb), make([]float32, nb), make([]float32, nb)
		q.bt = make([]float32, nb)
		h := fnv.New64a()
		h.Write([]byte(p.Name))
		rng := rand.New(rand.NewPCG(c.Seed, h.Sum64()))
		bound := 1 / math.Sqrt(float64(in))
		for i := range q.a {
			q.a[i] = float32((2*rng.Float64() - 1) * bound)
		}
		t.params = append(t.params, q)
		t.blocks[p.Layer][k] = q
	}
	if len(t.params) == 0 {
		return nil, fmt.Errorf("train: the model has no projections of kinds %v", c.Targets)
	}
	return t, nil
}

// Step returns the optimizer steps taken.
func (t *Trainer) Step() int { return t.step }

// Config returns the run's settings, defaults filled in.
func (t *Trainer) Config() Config { return t.c }

// LoRA returns copies of the current updates by base weight name, ready
// for model.WithLoRA or an adapter file.
func (t *Trainer) LoRA() map[string]*model.LoRA {
	out := make(map[string]*model.LoRA, len(t.params))
	for _, p := range t.params {
		out[p.name] = &model.LoRA{Rank: t.c.Rank, A: slices.Clone(p.a), B: slices.Clone(p.b), Scale: t.scale}
	}
	return out
}

// Backward runs s forward and back, adding the gradients of its summed
// cross-entropy over the targets to those since the last Update. It
// returns that sum and the number of targets.
func (t *Trainer) Backward(ctx context.Context, s Sequence) (lossSum float64, targets int, err error) {
	loss, n, err := t.run(ctx, s, true, true)
	if err != nil {
		return 0, 0, err
	}
	t.calls++
	t.lossSum += loss
	t.targets += n
	return loss, n, nil
}

// Loss runs s forward only and returns its summed cross-entropy over the
// targets and their number; gradients are untouched.
func (t *Trainer) Loss(ctx context.Context, s Sequence) (lossSum float64, targets int, err error) {
	return t.run(ctx, s, false, false)
}

// Update takes one AdamW step with the gradients accumulated since the
// last Update, averaged over their targets and clipped to the global norm
// c.Clip, and clears them. Without any target accumulated it does nothing
// and returns a zero StepStats.
func (t *Trainer) Update() StepStats {
	if t.targets == 0 {
		return StepStats{Step: t.step}
	}
	inv := 1 / float64(t.targets)
	var ss float64
	for _, p := range t.params {
		for _, g := range [][]float32{p.ga, p.gb} {
			for _, v := range g {
				x := float64(v) * inv
				ss += x * x
			}
		}
	}
	norm := math.Sqrt(ss)
	gscale := inv
	if t.c.Clip > 0 && norm > t.c.Clip {
		gscale *= t.c.Clip / norm
	}
	t.step++
	lr := t.c.lr(t.step)
	b1, b2 := t.c.Beta1, t.c.Beta2
	c1 := 1 - math.Pow(b1, float64(t.step))
	c2 := 1 - math.Pow(b2, float64(t.step))
	for _, p := range t.params {
		adamw(p.a, p.ga, p.ma, p.va, gscale, lr, b1, b2, c1, c2, t.c.Eps, t.c.WeightDecay)
		adamw(p.b, p.gb, p.mb, p.vb, gscale, lr, b1, b2, c1, c2, t.c.Eps, t.c.WeightDecay)
	}
	st := StepStats{Step: t.step, LR: lr, GradNorm: norm, Loss: t.lossSum * inv, Targets: t.targets}
	t.lossSum, t.targets, t.calls = 0, 0, 0
	return st
}

// adamw updates w by one AdamW step on the gradient g*gscale, and zeroes g.
func adamw(w, g, m, v []float32, gscale, lr, b1, b2, c1, c2, eps, wd float64) {
	for i := range w {
		gi := float64(g[i]) * gscale
		mi := b1*float64(m[i]) + (1-b1)*gi
		vi := b2*float64(v[i]) + (1-b2)*gi*gi
		m[i], v[i] = float32(mi), float32(vi)
		wi := float64(w[i])
		wi -= lr * (mi/c1/(math.Sqrt(vi/c2)+eps) + wd*wi)
		w[i] = float32(wi)
		g[i] = 0
	}
}
