package model

import (
	"context"
	"fmt"
	"math"

	"github.com/hearth-ai/hearth/engine/parallel"
)

// Layer holds one transformer block's weights.
type Layer struct {
	AttnNorm   []float32 // (dim) RMSNorm weight before attention
	Q, K, V, O Linear    // (heads*headDim, dim), (kvHeads*headDim, dim) x2, (dim, heads*headDim)
	FFNNorm    []float32 // (dim) RMSNorm weight before the feed-forward network
	Gate, Up   Linear    // (ffn, dim) each
	Down       Linear    // (dim, ffn)
}

// Transformer is a decoder-only, pre-norm transformer in the Llama mould:
// RMSNorm, rotary position embeddings, grouped-query attention and a SwiGLU
// feed-forward network. Architectures differ in their hyperparameters and
// which optional weights (biases, rope factors) they bind.
type Transformer struct {
	Config
	Embed   *Matrix   // (vocab, dim) token embeddings
	Layers  []Layer   // (layers)
	OutNorm []float32 // (dim) final RMSNorm weight
	Output  *Matrix   // (vocab, dim) classifier; Embed itself when tied

	pool    *parallel.Pool
	invFreq []float64 // (ropeDim/2) rotation speed of each pair
}

// MaxBatch is the most tokens one forward step processes; longer prompts
// are run in chunks of this size.
const MaxBatch = 64

// SetPool sets the worker pool the forward pass uses; nil means run on the
// calling goroutine alone.
func (m *Transformer) SetPool(p *parallel.Pool) {
	if p == nil {
		p = serialPool
	}
	m.pool = p
}

var serialPool = parallel.New(1)

// init finishes a model once its weights are bound.
func (m *Transformer) init() {
	m.pool = serialPool
	half := m.RopeDim / 2
	m.invFreq = make([]float64, half)
	for i := range m.invFreq {
		f := math.Pow(m.RopeBase, -2*float64(i)/float64(m.RopeDim))
		if m.RopeFactor != nil {
			f /= float64(m.RopeFactor[i])
		}
		m.invFreq[i] = f
	}
}

// State is one sequence's key/value cache and the scratch buffers of its
// forward pass, all allocated once so that decoding allocates nothing.
type State struct {
	m   *Transformer
	Pos int // tokens already in the cache

	ctx    int         // cache capacity in tokens
	kCache [][]float32 // (layer)(ctx, kvHeads*headDim)
	vCache [][]float32 // (layer)(ctx, kvHeads*headDim)

	x      []float32 // (batch, dim) residual stream
	xb     []float32 // (batch, dim) normed input
	q      []float32 // (batch, heads*headDim)
	k, v   []float32 // (batch, kvHeads*headDim)
	att    []float32 // (batch, heads*headDim) attention output
	xb2    []float32 // (batch, dim) projection output
	hb     []float32 // (batch, ffn) gate
	hb2    []float32 // (batch, ffn) up
	cos    []float64 // (batch, ropeDim/2)
	sin    []float64 // (batch, ropeDim/2)
	logits []float32 // (vocab)
}

// NewState allocates a sequence state able to hold ctx tokens; ctx <= 0
// means the model's trained context length.
func (m *Transformer) NewState(ctx int) *State {
	if ctx <= 0 {
		ctx = m.Context
	}
	kvDim := m.KVHeads * m.HeadDim
	qDim := m.Heads * m.HeadDim
	s := &State{m: m, ctx: ctx}
	s.kCache = make([][]float32, m.Blocks)
	s.vCache = make([][]float32, m.Blocks)
	for l := range s.kCache {
		s.kCache[l] = make([]float32, ctx*kvDim)
		s.vCache[l] = make([]float32, ctx*kvDim)
	}
	b := MaxBatch
	s.x = make([]float32, b*m.Dim)
	s.xb = make([]float32, b*m.Dim)
	s.xb2 = make([]float32, b*m.Dim)
	s.q = make([]float32, b*qDim)
	s.att = make([]float32, b*qDim)
	s.k = make([]float32, b*kvDim)
	s.v = make([]float32, b*kvDim)
	s.hb = make([]float32, b*m.FFN)
	s.hb2 = make([]float32, b*m.FFN)
	s.cos = make([]float64, b*m.RopeDim/2)
	s.sin = make([]float64, b*m.RopeDim/2)
	s.logits = make([]float32, m.Vocab)
	return s
}

// Capacity is the number of tokens the state's cache holds.
func (s *State) Capacity() int { return s.ctx }

// Reset empties the cache so the state can run a new sequence.
func (s *State) Reset() { s.Pos = 0 }

// Truncate drops cached tokens from position n on, keeping a shared prefix.
func (s *State) Truncate(n int) {
	if n < s.Pos && n >= 0 {
		s.Pos = n
	}
}

// Forward runs tokens through the model after the s.Pos tokens already in
// the cache, appends them to the cache, and returns the logits that predict
// the token after the last one. The slice is owned by s and overwritten by
// the next call.
func (m *Transformer) Forward(ctx context.Context, s *State, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("model: forward of no tokens")
	}
	if s.Pos+len(tokens) > s.ctx {
		return nil, fmt.Errorf("model: context full: %d cached + %d new tokens exceed %d", s.Pos, len(tokens), s.ctx)
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	for len(tokens) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(len(tokens), MaxBatch)
		if err := m.step(s, tokens[:n], len(tokens) == n); err != nil {
			return nil, err
		}
		tokens = tokens[n:]
	}
	return s.logits, nil
}

// step runs one batch of n tokens at positions s.Pos..s.Pos+n-1.
func (m *Transformer) step(s *State, tokens []int32, wantLogits bool) error {
	n := len(tokens)
	dim, hd := m.Dim, m.HeadDim
	qDim, kvDim := m.Heads*hd, m.KVHeads*hd
	p := m.pool

	// Token embeddings into the residual stream.
	for t, tok := range tokens {
		if err := m.Embed.RowFloat(int(tok), s.x[t*dim:(t+1)*dim]); err != nil {
			return fmt.Errorf("model: embed token %d: %w", tok, err)
		}
	}
	m.ropeAngles(s, n)

	for l := range m.Layers {
		L := &m.Layers[l]

		// Attention: xb = rmsnorm(x); q, k, v = projections of xb.
		for t := 0; t < n; t++ {
			rmsnorm(s.xb[t*dim:(t+1)*dim], s.x[t*dim:(t+1)*dim], L.AttnNorm, m.NormEps)
		}
		L.Q.Forward(p, s.q, s.xb, n)
		L.K.Forward(p, s.k, s.xb, n)
		L.V.Forward(p, s.v, s.xb, n)

		// Rotate q and k by position, then append k and v to the cache.
		for t := 0; t < n; t++ {
			for h := 0; h < m.Heads; h++ {
				m.rope(s.q[t*qDim+h*hd:t*qDim+(h+1)*hd], s.cos[t*m.RopeDim/2:], s.sin[t*m.RopeDim/2:])
			}
			for h := 0; h < m.KVHeads; h++ {
				m.rope(s.k[t*kvDim+h*hd:t*kvDim+(h+1)*hd], s.cos[t*m.RopeDim/2:], s.sin[t*m.RopeDim/2:])
			}
		}
		kc, vc := s.kCache[l], s.vCache[l]
		copy(kc[s.Pos*kvDim:], s.k[:n*kvDim])
		copy(vc[s.Pos*kvDim:], s.v[:n*kvDim])

		// Causal attention of every (token, head) over the cache.
		m.attention(s, kc, vc, n)

		// Output projection and residual.
		L.O.Forward(p, s.xb2, s.att, n)
		add(s.x[:n*dim], s.xb2[:n*dim])

		// Feed-forward: x += down(silu(gate(xb)) * up(xb)), xb = rmsnorm(x).
		for t := 0; t < n; t++ {
			rmsnorm(s.xb[t*dim:(t+1)*dim], s.x[t*dim:(t+1)*dim], L.FFNNorm, m.NormEps)
		}
		L.Gate.Forward(p, s.hb, s.xb, n)
		L.Up.Forward(p, s.hb2, s.xb, n)
		swiglu(s.hb[:n*m.FFN], s.hb2[:n*m.FFN])
		L.Down.Forward(p, s.xb2, s.hb, n)
		add(s.x[:n*dim], s.xb2[:n*dim])
	}
	s.Pos += n

	if wantLogits {
		// Only the last token's logits are needed to continue.
		last := s.x[(n-1)*dim : n*dim]
		rmsnorm(s.xb[:dim], last, m.OutNorm, m.NormEps)
		out := Linear{W: m.Output}
		out.Forward(p, s.logits, s.xb[:dim], 1)
	}
	return nil
}

// attention computes, for each of the n new tokens and each query head, the
// softmax-weighted sum of cached values over positions up to the token's
// own. It uses an online softmax (running max and sum), so it needs no
// buffer of scores and reads each cached key and value once.
func (m *Transformer) attention(s *State, kc, vc []float32, n int) {
	hd := m.HeadDim
	qDim, kvDim := m.Heads*hd, m.KVHeads*hd
	group := m.Heads / m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	m.pool.For(n*m.Heads, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t, h := i/m.Heads, i%m.Heads
			q := s.q[t*qDim+h*hd : t*qDim+(h+1)*hd]
			out := s.att[t*qDim+h*hd : t*qDim+(h+1)*hd]
			kvOff := (h / group) * hd
			clear(out)
			maxScore := float32(math.Inf(-1))
			var sum float32
			for pos := 0; pos <= s.Pos+t; pos++ {
				k := kc[pos*kvDim+kvOff : pos*kvDim+kvOff+hd]
				score := dot(q, k) * scale
				v := vc[pos*kvDim+kvOff : pos*kvDim+kvOff+hd]
				if score > maxScore {
					// Rescale what has been summed so far to the new max.
					c := float32(math.Exp(float64(maxScore - score)))
					sum *= c
					for j := range out {
						out[j] *= c
					}
					maxScore = score
				}
				w := float32(math.Exp(float64(score - maxScore)))
				sum += w
				for j, vj := range v {
					out[j] += w * vj
				}
			}
			inv := 1 / sum
			for j := range out {
				out[j] *= inv
			}
		}
	})
}

// ropeAngles fills the cos/sin tables for the batch's positions.
func (m *Transformer) ropeAngles(s *State, n int) {
	half := m.RopeDim / 2
	for t := 0; t < n; t++ {
		pos := float64(s.Pos+t) * m.RopeScale
		for i, f := range m.invFreq {
			s.sin[t*half+i], s.cos[t*half+i] = math.Sincos(pos * f)
		}
	}
}

// rope rotates one head's vector in place.
func (m *Transformer) rope(x []float32, cos, sin []float64) {
	half := m.RopeDim / 2
	for i := 0; i < half; i++ {
		var a, b int
		if m.RopeStyle == RopeNeoX {
			a, b = i, i+half
		} else {
			a, b = 2*i, 2*i+1
		}
		c, sn := cos[i], sin[i]
		x0, x1 := float64(x[a]), float64(x[b])
		x[a] = float32(x0*c - x1*sn)
		x[b] = float32(x0*sn + x1*c)
	}
}

// rmsnorm sets out = x / sqrt(mean(x^2) + eps) * w.
func rmsnorm(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// swiglu sets gate = silu(gate) * up, where silu(x) = x * sigmoid(x).
func swiglu(gate, up []float32) {
	for i, g := range gate {
		gate[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

func add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
