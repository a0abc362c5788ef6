package train

import (
	"math"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// attend computes s.att from the rotated s.q, s.k and s.v: each token's
// query heads attend to the tokens of its segment up to itself. The work
// is split by key/value head, as the backward pass's must be.
func (t *Trainer) attend() {
	m, s := t.m, &t.s
	n, hd := s.n, m.HeadDim
	qd, kvd, group := m.Heads*hd, m.KVHeads*hd, m.Heads/m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	t.pool.For(m.KVHeads, 1, func(lo, hi int) {
		p := make([]float32, n)
		for g := lo; g < hi; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < n; i++ {
					q := s.q[i*qd+h*hd : i*qd+(h+1)*hd]
					w := t.probs(p, q, g, i, scale)
					out := s.att[i*qd+h*hd : i*qd+(h+1)*hd]
					clear(out)
					for j, pj := range w {
						tensor.AxpyF32(out, pj, s.v[(s.start[i]+j)*kvd+g*hd:])
					}
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
	w := p[:i-s.start[i]+1]
	mx := float32(math.Inf(-1))
	for j := range w {
		w[j] = scale * tensor.DotF32(q, s.k[(s.start[i]+j)*kvd+g*hd:])
		mx = max(mx, w[j])
	}
	var z float64
	for j, v := range w {
		e := math.Exp(float64(v - mx))
		w[j] = float32(e)
		z += e
	}
	inv := float32(1 / z)
	for j := range w {
		w[j] *= inv
	}
	return w
}

// attendBack adds to s.dq, s.dk and s.dv the gradients through attend
// given s.datt, recomputing each query's weights.
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
					q := s.q[i*qd+h*hd : i*qd+(h+1)*hd]
					w := t.probs(p, q, g, i, scale)
					do := s.datt[i*qd+h*hd : i*qd+(h+1)*hd]
					st := s.start[i]
					var sum float64
					for j, pj := range w {
						dp[j] = tensor.DotF32(do, s.v[(st+j)*kvd+g*hd:])
						sum += float64(pj) * float64(dp[j])
						tensor.AxpyF32(s.dv[(st+j)*kvd+g*hd:(st+j)*kvd+(g+1)*hd], pj, do)
					}
					dq := s.dq[i*qd+h*hd : i*qd+(h+1)*hd]
					for j, pj := range w {
						ds := pj * (dp[j] - float32(sum)) * scale
						if ds == 0 {
							continue
						}
						tensor.AxpyF32(dq, ds, s.k[(st+j)*kvd+g*hd:])
						tensor.AxpyF32(s.dk[(st+j)*kvd+g*hd:(st+j)*kvd+(g+1)*hd], ds, q)
					}
				}
			}
		}
	})
}
