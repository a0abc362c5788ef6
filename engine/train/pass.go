package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// scratch holds one pass's buffers, grown to the longest sequence seen.
type scratch struct {
	n int

	xs [][]float32 // (blocks+1) residual stream at each block's input, and the output

	// The tapes of the blocks kept whole (tapes[:kept]) and one more that
	// the other blocks share, recomputed block by block; tp is the block's
	// at hand.
	tapes []tape
	kept  int
	tp    *tape
	tmp   []float32

	// Gradients.
	dx, dx1, dxf, dg, du, dh, datt, dq, dk, dv, dxa, dlu []float32
	dyT, uT                                              []float32 // a projection's dy and u, transposed

	cos, sin   []float64 // (n, ropeDim/2)
	nsin       []float64 // -sin: turning by -angle carries gradients back through RoPE
	pos, start []int
}

// tape is one block's activations, what its backward pass reads.
type tape struct {
	xa, q, k, v, att, x1, xf, g, u, h []float32
	lu                                [7][]float32 // (n, rank) A x of each projection, unscaled
	mask                              [7][]float32 // (n, in) dropout factors: 0 or 1/(1-p)
	din                               [7][]float32 // (n, in) the dropped-out input of each projection
}

// DefaultActivationBudget is the memory a trainer spends, by default, on
// keeping blocks' activations from the forward pass so that the backward
// pass need not recompute them (see SetActivationBudget).
const DefaultActivationBudget = 512 << 20

// SetActivationBudget sets the bytes of block activations a step may keep
// beyond the one block it always holds: blocks whose activations fit are
// kept from the forward pass, the others recomputed. It changes speed and
// memory, never results.
func (t *Trainer) SetActivationBudget(bytes int64) { t.budget = max(bytes, 0) }

// tapeFloats is the floats one block's tape holds for n tokens.
func (t *Trainer) tapeFloats(n int) int {
	m := t.m
	f := n * (3*m.Dim + 2*m.Heads*m.HeadDim + 2*m.KVHeads*m.HeadDim + 3*m.FFN + 7*t.c.Rank)
	if t.c.Dropout > 0 {
		f += 2 * n * (4*m.Dim + m.Heads*m.HeadDim + m.FFN)
	}
	return f
}

func (t *Trainer) ensure(n int) *scratch {
	s, m := &t.s, t.m
	dim, qd, kvd, ffn := m.Dim, m.Heads*m.HeadDim, m.KVHeads*m.HeadDim, m.FFN
	if len(s.xs) != len(m.Layers)+1 {
		s.xs = make([][]float32, len(m.Layers)+1)
	}
	for i := range s.xs {
		s.xs[i] = grow(s.xs[i], n*dim)
	}
	s.kept = min(int(t.budget/int64(4*t.tapeFloats(n))), len(m.Layers)-1)
	if len(s.tapes) > s.kept+1 {
		s.tapes = s.tapes[:s.kept+1] // a longer sequence keeps fewer
	}
	for len(s.tapes) < s.kept+1 {
		s.tapes = append(s.tapes, tape{})
	}
	for i := range s.tapes {
		tp := &s.tapes[i]
		for _, b := range []*[]float32{&tp.xa, &tp.x1, &tp.xf} {
			*b = grow(*b, n*dim)
		}
		for _, b := range []*[]float32{&tp.q, &tp.att} {
			*b = grow(*b, n*qd)
		}
		for _, b := range []*[]float32{&tp.k, &tp.v} {
			*b = grow(*b, n*kvd)
		}
		for _, b := range []*[]float32{&tp.g, &tp.u, &tp.h} {
			*b = grow(*b, n*ffn)
		}
		for k := range tp.lu {
			tp.lu[k] = grow(tp.lu[k], n*t.c.Rank)
		}
	}
	s.tmp = grow(s.tmp, n*dim)
	for _, b := range []*[]float32{&s.dx, &s.dx1, &s.dxf, &s.dxa} {
		*b = grow(*b, n*dim)
	}
	for _, b := range []*[]float32{&s.dq, &s.datt} {
		*b = grow(*b, n*qd)
	}
	for _, b := range []*[]float32{&s.dk, &s.dv} {
		*b = grow(*b, n*kvd)
	}
	for _, b := range []*[]float32{&s.dg, &s.du, &s.dh} {
		*b = grow(*b, n*ffn)
	}
	s.dlu = grow(s.dlu, n*t.c.Rank)
	half := m.RopeDim / 2
	if cap(s.cos) < n*half {
		s.cos, s.sin, s.nsin = make([]float64, n*half), make([]float64, n*half), make([]float64, n*half)
	}
	s.cos, s.sin, s.nsin = s.cos[:n*half], s.sin[:n*half], s.nsin[:n*half]
	s.n = n
	return s
}

// use makes block l's tape the one at hand: its own if it is kept, else
// the shared one.
func (t *Trainer) use(l int) {
	s := &t.s
	s.tp = &s.tapes[min(l, s.kept)]
}

// run is Backward (grad) or Loss (!grad). drop applies dropout to the
// LoRA inputs, with the masks of the current (step, sequence index).
func (t *Trainer) run(ctx context.Context, seq Sequence, grad, drop bool) (float64, int, error) {
	pos, start, preds, err := t.layout(seq)
	if err != nil {
		return 0, 0, err
	}
	m := t.m
	n, dim := len(seq.Tokens), m.Dim
	s := t.ensure(n)
	s.pos, s.start = pos, start
	half := m.RopeDim / 2
	for i, p := range pos {
		m.RopeAngles(p, s.cos[i*half:(i+1)*half], s.sin[i*half:(i+1)*half])
	}
	for i, v := range s.sin {
		s.nsin[i] = -v
	}
	r := t.c.Rank
	for _, p := range t.params { // B as the products read it
		for o := range p.out {
			for j, v := range p.b[o*r : (o+1)*r] {
				p.bt[j*p.out+o] = v
			}
		}
	}
	for i, tok := range seq.Tokens {
		if err := m.Embed.RowFloat(int(tok), s.xs[0][i*dim:(i+1)*dim]); err != nil {
			return 0, 0, fmt.Errorf("train: embedding of token %d: %w", tok, err)
		}
	}
	t.dropping = drop && t.c.Dropout > 0
	for l := range t.base {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		t.use(l)
		t.block(l, s.xs[l], s.xs[l+1])
	}
	loss, dx := t.head(seq.Tokens, preds, grad)
	if !grad {
		return loss, len(preds), nil
	}
	for l := len(t.base) - 1; l >= 0; l-- {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		t.use(l)
		// A block on the shared tape is recomputed, but for the last:
		// the shared tape still holds its forward pass.
		if l >= s.kept && l != len(t.base)-1 {
			t.block(l, s.xs[l], s.tmp)
		}
		t.blockBack(l, dx)
	}
	return loss, len(preds), nil
}

// headChunk is the target tokens whose logits are held at once: 64 rows
// of a 32000-token vocabulary are 8 MiB, where a whole 512-token sequence's
// would be 64 MiB.
const headChunk = 64

// head applies the final norm and the classifier to the tokens that
// predict targets, and returns the summed cross-entropy and, with grad,
// the gradient with respect to the last block's output (in s.dx).
func (t *Trainer) head(tokens []int32, preds []int, grad bool) (float64, []float32) {
	m, s := t.m, &t.s
	dim, V := m.Dim, m.Vocab
	last := s.xs[len(t.base)]
	nc := min(len(preds), headChunk)
	hx, dhx := make([]float32, nc*dim), make([]float32, nc*dim)
	logits := make([]float32, nc*V)
	losses := make([]float64, len(preds))
	dx := s.dx[:s.n*dim]
	clear(dx)
	out := model.Linear{W: m.Output}
	for c0 := 0; c0 < len(preds); c0 += headChunk {
		chunk := preds[c0:min(c0+headChunk, len(preds))]
		r := len(chunk)
		for j, i := range chunk {
			model.RMSNorm(hx[j*dim:(j+1)*dim], last[i*dim:(i+1)*dim], m.OutNorm, m.NormEps)
		}
		out.Forward(t.pool, logits, hx[:r*dim], r)
		t.pool.For(r, 1, func(lo, hi int) {
			e := make([]float32, V)
			for j := lo; j < hi; j++ {
				row := logits[j*V : (j+1)*V]
				mx := row[0]
				for _, v := range row {
					mx = max(mx, v)
				}
				for i, v := range row {
					e[i] = v - mx
				}
				tensor.ExpF32(e)
				var z float64
				for _, v := range e {
					z += float64(v)
				}
				tgt := tokens[chunk[j]+1]
				losses[c0+j] = float64(mx) + math.Log(z) - float64(row[tgt])
				if grad { // d loss / d logits = softmax - one-hot
					inv := float32(1 / z)
					for i, v := range e {
						row[i] = v * inv
					}
					row[tgt]--
				}
			}
		})
		if !grad {
			continue
		}
		clear(dhx)
		t.matT(m.Output, logits[:r*V], dhx, r)
		for j, i := range chunk {
			rmsBack(dx[i*dim:(i+1)*dim], last[i*dim:(i+1)*dim], m.OutNorm, dhx[j*dim:(j+1)*dim], m.NormEps)
		}
	}
	var loss float64
	for _, v := range losses {
		loss += v
	}
	if !grad {
		return loss, nil
	}
	return loss, dx
}

// block runs block l forward from x into out, keeping its activations in
// the scratch.
func (t *Trainer) block(l int, x, out []float32) {
	m, s, L := t.m, &t.s, &t.base[l]
	n, dim, hd := s.n, m.Dim, m.HeadDim
	qd, kvd, half := m.Heads*hd, m.KVHeads*hd, m.RopeDim/2
	for i := 0; i < n; i++ {
		model.RMSNorm(s.tp.xa[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], L.AttnNorm, m.NormEps)
	}
	t.proj(l, 0, &L.Q, s.tp.xa, s.tp.q)
	t.proj(l, 1, &L.K, s.tp.xa, s.tp.k)
	t.proj(l, 2, &L.V, s.tp.xa, s.tp.v)
	for i := 0; i < n; i++ {
		c, sn := s.cos[i*half:(i+1)*half], s.sin[i*half:(i+1)*half]
		for h := 0; h < m.Heads; h++ {
			m.Rope(s.tp.q[i*qd+h*hd:i*qd+(h+1)*hd], c, sn)
		}
		for h := 0; h < m.KVHeads; h++ {
			m.Rope(s.tp.k[i*kvd+h*hd:i*kvd+(h+1)*hd], c, sn)
		}
	}
	t.attend()
	t.proj(l, 3, &L.O, s.tp.att, s.tmp)
	for i := range s.tp.x1[:n*dim] {
		s.tp.x1[i] = x[i] + s.tmp[i]
	}
	for i := 0; i < n; i++ {
		model.RMSNorm(s.tp.xf[i*dim:(i+1)*dim], s.tp.x1[i*dim:(i+1)*dim], L.FFNNorm, m.NormEps)
	}
	t.proj(l, 4, &L.Gate, s.tp.xf, s.tp.g)
	t.proj(l, 5, &L.Up, s.tp.xf, s.tp.u)
	h := s.tp.h[:n*m.FFN]
	copy(h, s.tp.g[:n*m.FFN])
	tensor.SwiGLU(h, s.tp.u[:n*m.FFN])
	t.proj(l, 6, &L.Down, h, s.tmp)
	for i := range out[:n*dim] {
		out[i] = s.tp.x1[i] + s.tmp[i]
	}
}

// blockBack carries dx, the gradient with respect to block l's output,
// back to its input, in place, adding the LoRA gradients on the way. The
// scratch holds the block's activations.
func (t *Trainer) blockBack(l int, dx []float32) {
	m, s, L := t.m, &t.s, &t.base[l]
	n, dim, hd, ffn := s.n, m.Dim, m.HeadDim, m.FFN
	qd, kvd, half := m.Heads*hd, m.KVHeads*hd, m.RopeDim/2

	// out = x1 + down(silu(g) * u)
	dx1 := s.dx1[:n*dim]
	copy(dx1, dx[:n*dim])
	dh := s.dh[:n*ffn]
	clear(dh)
	t.projBack(l, 6, &L.Down, s.tp.h, dx1, dh)
	for i := range dh {
		g, u := float64(s.tp.g[i]), float64(s.tp.u[i])
		sig := 1 / (1 + math.Exp(-g))
		s.dg[i] = float32(float64(dh[i]) * u * sig * (1 + g*(1-sig)))
		s.du[i] = float32(float64(dh[i]) * g * sig)
	}
	dxf := s.dxf[:n*dim]
	clear(dxf)
	t.projBack(l, 4, &L.Gate, s.tp.xf, s.dg, dxf)
	t.projBack(l, 5, &L.Up, s.tp.xf, s.du, dxf)
	for i := 0; i < n; i++ {
		rmsBack(dx1[i*dim:(i+1)*dim], s.tp.x1[i*dim:(i+1)*dim], L.FFNNorm, dxf[i*dim:(i+1)*dim], m.NormEps)
	}

	// x1 = x + o(attention(rope(q), rope(k), v))
	datt := s.datt[:n*qd]
	clear(datt)
	t.projBack(l, 3, &L.O, s.tp.att, dx1, datt)
	clear(s.dq[:n*qd])
	clear(s.dk[:n*kvd])
	clear(s.dv[:n*kvd])
	t.attendBack()
	for i := 0; i < n; i++ {
		c, neg := s.cos[i*half:(i+1)*half], s.nsin[i*half:(i+1)*half]
		for h := 0; h < m.Heads; h++ {
			m.Rope(s.dq[i*qd+h*hd:i*qd+(h+1)*hd], c, neg)
		}
		for h := 0; h < m.KVHeads; h++ {
			m.Rope(s.dk[i*kvd+h*hd:i*kvd+(h+1)*hd], c, neg)
		}
	}
	dxa := s.dxa[:n*dim]
	clear(dxa)
	t.projBack(l, 0, &L.Q, s.tp.xa, s.dq, dxa)
	t.projBack(l, 1, &L.K, s.tp.xa, s.dk, dxa)
	t.projBack(l, 2, &L.V, s.tp.xa, s.dv, dxa)
	copy(dx[:n*dim], dx1)
	x := s.xs[l]
	for i := 0; i < n; i++ {
		rmsBack(dx[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], L.AttnNorm, dxa[i*dim:(i+1)*dim], m.NormEps)
	}
}

// rmsBack adds to dx the gradient through y = x / rms(x) * w given dy.
func rmsBack(dx, x, w, dy []float32, eps float32) {
	var ss, dot float64
	for i, v := range x {
		ss += float64(v) * float64(v)
		dot += float64(dy[i]) * float64(w[i]) * float64(v)
	}
	d := float64(len(x))
	r := 1 / math.Sqrt(ss/d+float64(eps))
	c := r * r * r * dot / d
	for i, v := range x {
		dx[i] += float32(r*float64(dy[i])*float64(w[i]) - c*float64(v))
	}
}

// proj computes out = W in (+ bias) + Scale * B A dropout(in) for the
// block's projection of kind k.
func (t *Trainer) proj(l, k int, lin *model.Linear, in, out []float32) {
	s := &t.s
	lin.Forward(t.pool, out, in, s.n)
	p := t.blocks[l][k]
	if p == nil {
		return
	}
	x := in[:s.n*p.in]
	if t.dropping {
		s.tp.mask[k] = grow(s.tp.mask[k], s.n*p.in)
		s.tp.din[k] = grow(s.tp.din[k], s.n*p.in)
		rng := rand.New(rand.NewPCG(t.c.Seed, uint64(t.step)<<40^uint64(t.calls)<<20^uint64(l)<<4^uint64(k)))
		keep := float32(1 / (1 - t.c.Dropout))
		for i := range x {
			f := keep
			if rng.Float64() < t.c.Dropout {
				f = 0
			}
			s.tp.mask[k][i], s.tp.din[k][i] = f, x[i]*f
		}
		x = s.tp.din[k]
	}
	r, nin, nout, sc := t.c.Rank, p.in, p.out, t.scale
	u := s.tp.lu[k]
	// u[t] = A x[t], then out[t] += Scale * sum_j u[t][j] B[:, j]: rows of
	// the transposed B, so that the rank is the short outer loop rather
	// than the length of out-many dot products.
	t.pool.For(s.n, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, ui := x[i*nin:(i+1)*nin], u[i*r:(i+1)*r]
			row := out[i*nout : (i+1)*nout]
			for j := range ui {
				ui[j] = tensor.DotF32(p.a[j*nin:(j+1)*nin], xi)
				tensor.AxpyF32(row, sc*ui[j], p.bt[j*nout:(j+1)*nout])
			}
		}
	})
}

// projBack adds to din the gradient through the projection of kind k
// given dy, and its LoRA's gradients to the parameter.
func (t *Trainer) projBack(l, k int, lin *model.Linear, in, dy, din []float32) {
	s := &t.s
	n := s.n
	t.matT(lin.W, dy, din, n)
	p := t.blocks[l][k]
	if p == nil {
		return
	}
	r, nin, nout, sc := t.c.Rank, p.in, p.out, t.scale
	x := in[:n*nin]
	if t.dropping {
		x = s.tp.din[k]
	}
	u, du := s.tp.lu[k], s.dlu
	// dB[o][j] += Scale * sum_t dy[t][o] u[t][j]: dot products over the
	// tokens of dy's and u's columns, transposed once.
	dyT, uT := grow(s.dyT, nout*n), grow(s.uT, r*n)
	s.dyT, s.uT = dyT, uT
	t.pool.For(nout, 64, func(lo, hi int) {
		for i := 0; i < n; i++ {
			for o, d := range dy[i*nout+lo : i*nout+hi] {
				dyT[(lo+o)*n+i] = d
			}
		}
	})
	for i := 0; i < n; i++ {
		for j, v := range u[i*r : (i+1)*r] {
			uT[j*n+i] = v
		}
	}
	t.pool.For(nout, 16, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			gb, d := p.gb[o*r:(o+1)*r], dyT[o*n:(o+1)*n]
			for j := range gb {
				gb[j] += sc * tensor.DotF32(d, uT[j*n:(j+1)*n])
			}
		}
	})
	// du[t][j] = Scale * B[:, j] . dy[t]
	t.pool.For(n, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dyi := dy[i*nout : (i+1)*nout]
			for j := range r {
				du[i*r+j] = sc * tensor.DotF32(p.bt[j*nout:(j+1)*nout], dyi)
			}
		}
	})
	// dA[j] += sum_t du[t][j] x[t]
	t.pool.For(r, 1, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			ga := p.ga[j*nin : (j+1)*nin]
			for i := 0; i < n; i++ {
				tensor.AxpyF32(ga, du[i*r+j], x[i*nin:(i+1)*nin])
			}
		}
	})
	// din[t] += mask * A^T du[t]
	t.pool.For(n, 4, func(lo, hi int) {
		row := make([]float32, nin)
		for i := lo; i < hi; i++ {
			clear(row)
			for j, d := range du[i*r : (i+1)*r] {
				tensor.AxpyF32(row, d, p.a[j*nin:(j+1)*nin])
			}
			di := din[i*nin : (i+1)*nin]
			if t.dropping {
				mk := s.tp.mask[k][i*nin : (i+1)*nin]
				for c, v := range row {
					di[c] += v * mk[c]
				}
			} else {
				for c, v := range row {
					di[c] += v
				}
			}
		}
	})
}

// matT adds W^T dy to dx for n tokens, split across the pool by column
// ranges of dx, each thread with a scratch kept from call to call.
func (t *Trainer) matT(w *model.Matrix, dy, dx []float32, n int) {
	rows, cols := w.Rows, w.Cols
	ranges := (cols + tensor.ColumnRange - 1) / tensor.ColumnRange
	t.pool.For(ranges, 1, func(lo, hi int) {
		var ts *tensor.TScratch
		select {
		case ts = <-t.tscratch:
		default:
			ts = new(tensor.TScratch)
		}
		for c := lo; c < hi; c++ {
			c0, c1 := c*tensor.ColumnRange, min((c+1)*tensor.ColumnRange, cols)
			if err := tensor.MatMulTAdd(dx, w.Type, w.Data, rows, cols, dy, n, c0, c1, ts); err != nil {
				// Shapes and types were checked when the model was bound.
				panic(fmt.Sprintf("train: %s: %v", w.Name, err))
			}
		}
		select {
		case t.tscratch <- ts:
		default:
		}
	})
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
