package train

import (
	"math"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// attend computes s.tp.att from the rotated s.tp.q, s.tp.k and s.tp.v: each token's
// query heads attend to the tokens of its segment up to itself, through
// the serving path's own kernel (tensor.Attend). The work is split by
// key/value head, as the backward pass's must be.
func (t *Trainer) attend() {
	m, s := t.m, &t.s
	n, hd := s.n, m.HeadDim
	qd, kvd, group := m.Heads*hd, m.KVHeads*hd, m.Heads/m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	t.pool.For(m.KVHeads, 1, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < n; i++ {
					st := s.start[i]
					tensor.Attend(s.tp.att[i*qd+h*hd:i*qd+(h+1)*hd], s.tp.q[i*qd+h*hd:i*qd+(h+1)*hd],
						s.tp.k[st*kvd+g*hd:], s.tp.v[st*kvd+g*hd:], kvd, i-st+1, scale)
				}
			}
		}
	})
}

// probs fills p with the attention weights of query q (head group g,
// token i) over the keys of i's segment up to i, and returns them.
func (t *Trainer) probs(p, q []float32, g, i int, scale float32) []float32 {
	m, s := t.m, &t.s
	hd, kvd := m.HeadDim, m.KVHeads*m.HeadDim
	st := s.start[i]
	w := p[:i-st+1]
	tensor.Scores(w, q, s.tp.k[st*kvd+g*hd:], kvd, scale)
	mx := float32(math.Inf(-1))
	for _, v := range w {
		mx = max(mx, v)
	}
	for j := range w {
		w[j] -= mx
	}
	tensor.ExpF32(w)
	var z float32
	for _, v := range w {
		z += v
	}
	inv := 1 / z
	for j := range w {
		w[j] *= inv
	}
	return w
}

// attendBack adds to s.dq, s.dk and s.dv the gradients through attend
// given s.datt, recomputing each query's weights: with o = Σ_j p_j v_j
// and p = softmax(scale·q·k), dv_j += p_j do, and ds_j = p_j (do·v_j -
// Σ_j' p_j' do·v_j') reaches q through the keys and the keys through q.
func (t *Trainer) attendBack() {
	m, s := t.m, &t.s
	n, hd := s.n, m.HeadDim
	qd, kvd, group := m.Heads*hd, m.KVHeads*hd, m.Heads/m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	t.pool.For(m.KVHeads, 1, func(lo, hi int) {
		p := make([]float32, n)
		dp := make([]float32, n)
		for g := lo; g < hi; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < n; i++ {
					q := s.tp.q[i*qd+h*hd : i*qd+(h+1)*hd]
					w := t.probs(p, q, g, i, scale)
					do := s.datt[i*qd+h*hd : i*qd+(h+1)*hd]
					st := s.start[i]
					d := dp[:len(w)]
					tensor.Scores(d, do, s.tp.v[st*kvd+g*hd:], kvd, 1)
					var sum float32
					for j, pj := range w {
						sum += pj * d[j]
						tensor.AxpyF32(s.dv[(st+j)*kvd+g*hd:(st+j)*kvd+(g+1)*hd], pj, do)
					}
					for j, pj := range w {
						d[j] = pj * (d[j] - sum) * scale
					}
					tensor.WeightedSum(s.dq[i*qd+h*hd:i*qd+(h+1)*hd], s.tp.k[st*kvd+g*hd:], kvd, d)
					for j, ds := range d {
						if ds != 0 {
							tensor.AxpyF32(s.dk[(st+j)*kvd+g*hd:(st+j)*kvd+(g+1)*hd], ds, q)
						}
					}
				}
			}
		}
	})
}
