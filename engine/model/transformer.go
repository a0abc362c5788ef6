package model

import (
	"context"
	"fmt"
	"math"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
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

	// KVF16 makes NewCache keep keys and values as F16: half the memory
	// of F32, at a rounding error attention barely notices. Set it
	// before making caches.
	KVF16 bool

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

// Scratch holds the activations of one forward step over a batch of
// tokens, allocated once so that steps allocate nothing.
type Scratch struct {
	maxTokens, maxSeqs int

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
	logits []float32 // (seqs, vocab)

	// Per token of the batch: which sequence's cache and which position.
	tokCache []*Cache
	tokPos   []int
	last     []int // (seqs) index in the batch of each sequence's last token

	// Runs of tokens that have an adapter, and the job that adds their
	// updates.
	runs []adapterRun
	lr   *lowRankJob

	// The attention loop body, bound once so that handing it to the pool
	// allocates nothing; it reads the layer from attnLayer.
	attnFn    func(lo, hi int)
	attnLayer int
}

// NewScratch allocates buffers for steps of up to maxTokens tokens from up
// to maxSeqs sequences.
func (m *Transformer) NewScratch(maxTokens, maxSeqs int) *Scratch {
	maxTokens = max(maxTokens, 1)
	maxSeqs = max(min(maxSeqs, maxTokens), 1)
	qDim, kvDim := m.Heads*m.HeadDim, m.KVHeads*m.HeadDim
	b := maxTokens
	sc := &Scratch{
		maxTokens: maxTokens, maxSeqs: maxSeqs,
		x: make([]float32, b*m.Dim), xb: make([]float32, b*m.Dim), xb2: make([]float32, b*m.Dim),
		q: make([]float32, b*qDim), att: make([]float32, b*qDim),
		k: make([]float32, b*kvDim), v: make([]float32, b*kvDim),
		hb: make([]float32, b*m.FFN), hb2: make([]float32, b*m.FFN),
		cos: make([]float64, b*m.RopeDim/2), sin: make([]float64, b*m.RopeDim/2),
		logits:   make([]float32, maxSeqs*m.Vocab),
		tokCache: make([]*Cache, b), tokPos: make([]int, b), last: make([]int, maxSeqs),
		lr: newLowRankJob(),
	}
	sc.attnFn = func(lo, hi int) { m.attendRange(sc, lo, hi) }
	return sc
}

// MaxTokens is the most tokens one step over this scratch can take.
func (s *Scratch) MaxTokens() int { return s.maxTokens }

// State is a single sequence with its own scratch: the simple way to run
// one sequence at a time.
type State struct {
	*Cache
	// Adapter, when set, is the adapter the sequence runs with.
	Adapter *Adapter
	scratch *Scratch
}

// NewState allocates a sequence able to hold ctx tokens (<= 0: the trained
// context length), with scratch for batches of MaxBatch tokens.
func (m *Transformer) NewState(ctx int) *State {
	return &State{Cache: m.NewCache(ctx), scratch: m.NewScratch(MaxBatch, 1)}
}

// Reset empties the cache so the state can run a new sequence.
func (s *State) Reset() { s.Pos = 0 }

// Forward runs tokens through the model after the s.Pos tokens already in
// the cache, appends them to the cache, and returns the logits that predict
// the token after the last one. The slice is owned by s and overwritten by
// the next call.
func (m *Transformer) Forward(ctx context.Context, s *State, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("model: forward of no tokens")
	}
	if s.Pos+len(tokens) > s.cap {
		return nil, fmt.Errorf("model: context full: %d cached + %d new tokens exceed %d", s.Pos, len(tokens), s.cap)
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	seq := []Seq{{Cache: s.Cache, Adapter: s.Adapter}}
	for len(tokens) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(len(tokens), s.scratch.maxTokens)
		seq[0].Tokens, seq[0].Logits = tokens[:n], len(tokens) == n
		m.step(s.scratch, seq)
		tokens = tokens[n:]
	}
	return s.scratch.logits[:m.Vocab], nil
}

// Seq is one sequence's share of a batched step: tokens to append to its
// cache, and whether to compute the logits after the last of them.
type Seq struct {
	Cache  *Cache
	Tokens []int32
	Logits bool
	// Adapter, when set, adds its low-rank updates to this sequence's
	// projections; nil runs the model as it is.
	Adapter *Adapter
}

// ForwardBatch runs one step over several sequences at once: their tokens
// share the weight reads of every projection (the point of batching), and
// each attends only to its own cache. It returns, for each sequence with
// Logits set, its logits in order, as views into sc valid until the next
// step. Tokens must fit sc and each cache.
func (m *Transformer) ForwardBatch(sc *Scratch, seqs []Seq) ([][]float32, error) {
	n, outs := 0, 0
	for i := range seqs {
		s := &seqs[i]
		if len(s.Tokens) == 0 {
			return nil, fmt.Errorf("model: sequence %d has no tokens", i)
		}
		if s.Cache.Pos+len(s.Tokens) > s.Cache.cap {
			return nil, fmt.Errorf("model: sequence %d: %d cached + %d new tokens exceed its cache of %d", i, s.Cache.Pos, len(s.Tokens), s.Cache.cap)
		}
		if err := m.checkTokens(s.Tokens); err != nil {
			return nil, err
		}
		n += len(s.Tokens)
		if s.Logits {
			outs++
		}
	}
	if n > sc.maxTokens || outs > sc.maxSeqs {
		return nil, fmt.Errorf("model: batch of %d tokens and %d outputs exceeds the scratch (%d, %d)", n, outs, sc.maxTokens, sc.maxSeqs)
	}
	m.step(sc, seqs)
	res := make([][]float32, 0, outs)
	for i := 0; i < outs; i++ {
		res = append(res, sc.logits[i*m.Vocab:(i+1)*m.Vocab])
	}
	return res, nil
}

// step runs one batch: the tokens of every sequence, at positions following
// what each cache holds. Callers have checked sizes and token ids.
func (m *Transformer) step(sc *Scratch, seqs []Seq) {
	dim, hd := m.Dim, m.HeadDim
	qDim, kvDim := m.Heads*hd, m.KVHeads*hd
	p := m.pool

	// Lay the sequences' tokens out as one batch; embed them.
	n, outs := 0, 0
	sc.runs = sc.runs[:0]
	for _, s := range seqs {
		if s.Adapter != nil {
			if k := len(sc.runs); k > 0 && sc.runs[k-1].a == s.Adapter && sc.runs[k-1].lo+sc.runs[k-1].n == n {
				sc.runs[k-1].n += len(s.Tokens)
			} else {
				sc.runs = append(sc.runs, adapterRun{lo: n, n: len(s.Tokens), a: s.Adapter})
			}
		}
		for j, tok := range s.Tokens {
			sc.tokCache[n], sc.tokPos[n] = s.Cache, s.Cache.Pos+j
			// Rows of a model's own embedding always dequantize.
			_ = m.Embed.RowFloat(int(tok), sc.x[n*dim:(n+1)*dim])
			n++
		}
		if s.Logits {
			sc.last[outs] = n - 1
			outs++
		}
	}
	m.ropeAngles(sc, n)

	for l := range m.Layers {
		L := &m.Layers[l]

		// Attention: xb = rmsnorm(x); q, k, v = projections of xb.
		for t := 0; t < n; t++ {
			rmsnorm(sc.xb[t*dim:(t+1)*dim], sc.x[t*dim:(t+1)*dim], L.AttnNorm, m.NormEps)
		}
		L.Q.Forward(p, sc.q, sc.xb, n)
		L.K.Forward(p, sc.k, sc.xb, n)
		L.V.Forward(p, sc.v, sc.xb, n)
		if len(sc.runs) > 0 {
			m.adapt(sc, l, sc.xb, dim, adaptOut{projQ, sc.q, qDim}, adaptOut{projK, sc.k, kvDim}, adaptOut{projV, sc.v, kvDim})
		}

		// Rotate q and k by position, then write k and v into each token's
		// cache at its position.
		half := m.RopeDim / 2
		for t := 0; t < n; t++ {
			for h := 0; h < m.Heads; h++ {
				m.rope(sc.q[t*qDim+h*hd:t*qDim+(h+1)*hd], sc.cos[t*half:], sc.sin[t*half:])
			}
			for h := 0; h < m.KVHeads; h++ {
				m.rope(sc.k[t*kvDim+h*hd:t*kvDim+(h+1)*hd], sc.cos[t*half:], sc.sin[t*half:])
			}
			sc.tokCache[t].put(l, sc.tokPos[t], sc.k[t*kvDim:(t+1)*kvDim], sc.v[t*kvDim:(t+1)*kvDim])
		}

		// Causal attention of every (token, head) over its own cache.
		m.attention(sc, l, n)

		// Output projection and residual.
		L.O.Forward(p, sc.xb2, sc.att, n)
		if len(sc.runs) > 0 {
			m.adapt(sc, l, sc.att, qDim, adaptOut{projO, sc.xb2, dim})
		}
		add(sc.x[:n*dim], sc.xb2[:n*dim])

		// Feed-forward: xb = rmsnorm(x), then x += down(silu(gate(xb)) * up(xb)).
		for t := 0; t < n; t++ {
			rmsnorm(sc.xb[t*dim:(t+1)*dim], sc.x[t*dim:(t+1)*dim], L.FFNNorm, m.NormEps)
		}
		L.Gate.Forward(p, sc.hb, sc.xb, n)
		L.Up.Forward(p, sc.hb2, sc.xb, n)
		if len(sc.runs) > 0 {
			m.adapt(sc, l, sc.xb, dim, adaptOut{projGate, sc.hb, m.FFN}, adaptOut{projUp, sc.hb2, m.FFN})
		}
		tensor.SwiGLU(sc.hb[:n*m.FFN], sc.hb2[:n*m.FFN])
		L.Down.Forward(p, sc.xb2, sc.hb, n)
		if len(sc.runs) > 0 {
			m.adapt(sc, l, sc.hb, m.FFN, adaptOut{projDown, sc.xb2, dim})
		}
		add(sc.x[:n*dim], sc.xb2[:n*dim])
	}
	for i := range seqs {
		seqs[i].Cache.Pos += len(seqs[i].Tokens)
	}

	// Logits only for the tokens that predict a sequence's next token: the
	// final norm of their rows, gathered, then the classifier.
	if outs == 0 {
		return
	}
	for i := 0; i < outs; i++ {
		t := sc.last[i]
		rmsnorm(sc.xb[i*dim:(i+1)*dim], sc.x[t*dim:(t+1)*dim], m.OutNorm, m.NormEps)
	}
	out := Linear{W: m.Output}
	out.Forward(p, sc.logits, sc.xb[:outs*dim], outs)
}

// attention computes, for each of the n tokens of the batch and each query
// head, the softmax-weighted sum of its cache's values over positions up to
// its own, splitting the (token, head) pairs across the pool.
func (m *Transformer) attention(sc *Scratch, layer, n int) {
	sc.attnLayer = layer
	m.pool.For(n*m.Heads, 1, sc.attnFn)
}

// attendRange runs attention for (token, head) pairs lo..hi-1: each query
// head attends over its own sequence's cache up to its position, through
// the key/value head its group shares (tensor.Attend: an online softmax
// that reads each cached key and value once).
func (m *Transformer) attendRange(sc *Scratch, lo, hi int) {
	hd := m.HeadDim
	qDim, kvDim := m.Heads*hd, m.KVHeads*hd
	group := m.Heads / m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	layer := sc.attnLayer
	for i := lo; i < hi; i++ {
		t, h := i/m.Heads, i%m.Heads
		c := sc.tokCache[t]
		kvOff := (h / group) * hd
		out, q := sc.att[t*qDim+h*hd:t*qDim+(h+1)*hd], sc.q[t*qDim+h*hd:t*qDim+(h+1)*hd]
		if c.k16 != nil {
			tensor.AttendF16(out, q, c.k16[layer][kvOff:], c.v16[layer][kvOff:], kvDim, sc.tokPos[t]+1, scale)
		} else {
			tensor.Attend(out, q, c.k[layer][kvOff:], c.v[layer][kvOff:], kvDim, sc.tokPos[t]+1, scale)
		}
	}
}

// ropeAngles fills the cos/sin tables for the batch's positions.
func (m *Transformer) ropeAngles(s *Scratch, n int) {
	half := m.RopeDim / 2
	for t := 0; t < n; t++ {
		m.RopeAngles(s.tokPos[t], s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half])
	}
}

// RopeAngles fills cos and sin (RopeDim/2 each) with the rotation angles
// of position pos. With sin negated, Rope turns a vector back: the trainer
// uses that to carry gradients through the rotation.
func (m *Transformer) RopeAngles(pos int, cos, sin []float64) {
	p := float64(pos) * m.RopeScale
	for i, f := range m.invFreq {
		sin[i], cos[i] = math.Sincos(p * f)
	}
}

// Rope rotates one head's vector in place by angles from RopeAngles.
func (m *Transformer) Rope(x []float32, cos, sin []float64) { m.rope(x, cos, sin) }

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

// RMSNorm sets out = x / sqrt(mean(x^2) + eps) * w, as the forward pass
// does (exported for the trainer, which runs the same norm).
func RMSNorm(out, x, w []float32, eps float32) { rmsnorm(out, x, w, eps) }

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

func add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
