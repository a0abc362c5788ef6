package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// candidate is one token still in the running, with its working logit.
type candidate struct {
	id    int32
	logit float32
}

// Sampler draws token ids from logits. It is not safe for concurrent use:
// give each sequence its own Sampler.
type Sampler struct {
	p     Params
	lastN int // resolved penalty window; -1 is the whole history

	pcg *rand.PCG
	rng *rand.Rand

	// Scratch owned by the sampler so Sample never allocates after the
	// first call with a given vocabulary size.
	cands   []candidate
	counts  []int32 // occurrences per id in the penalty window; all zero between calls
	seen    []int32 // ids whose count is non-zero during a call
	weights []float64
}

// New returns a Sampler for logits of vocabSize entries.
func New(p Params, vocabSize int) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if vocabSize <= 0 {
		return nil, fmt.Errorf("sample: vocabulary size %d, want > 0", vocabSize)
	}
	s := &Sampler{p: p, lastN: p.RepeatLastN}
	if s.lastN == 0 {
		s.lastN = DefaultRepeatLastN
	}
	s.pcg = rand.NewPCG(0, 0)
	s.rng = rand.New(s.pcg)
	s.Reseed(p.Seed)
	s.grow(vocabSize)
	return s, nil
}

// Params returns the parameters the sampler was built with.
func (s *Sampler) Params() Params { return s.p }

// Reseed restarts the sampler's generator from seed, as if it were new.
func (s *Sampler) Reseed(seed uint64) {
	// The second PCG word only selects a stream; any fixed odd-looking
	// constant keeps seeds 0, 1, 2... far apart.
	s.pcg.Seed(seed, seed^0x9e3779b97f4a7c15)
}

// Skip advances the generator past the draws of n sampled tokens, as if
// it had sampled them: a response that another node started (and this
// one continues) goes on as that node would have gone on, given the same
// seed. Greedy sampling draws nothing, so Skip changes nothing there.
func (s *Sampler) Skip(n int) {
	if s.p.Greedy() {
		return
	}
	for range n {
		s.rng.Float64()
	}
}

// grow makes the scratch buffers hold n entries.
func (s *Sampler) grow(n int) {
	if cap(s.cands) >= n {
		return
	}
	s.cands = make([]candidate, n)
	s.counts = make([]int32, n)
	s.weights = make([]float64, n)
	// At most min(window, vocabulary) distinct ids can be seen in a call.
	w := n
	if s.lastN >= 0 && s.lastN < n {
		w = s.lastN
	}
	s.seen = make([]int32, 0, w)
}

// Sample picks the next token from logits, given the tokens so far in
// history (used only by the penalties). It does not modify logits or
// history. NaN logits count as -Inf. An empty logits slice yields -1.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	n := len(logits)
	if n == 0 {
		return -1
	}
	s.grow(n)
	cur := s.cands[:n]
	for i, l := range logits {
		if l != l { // NaN
			l = float32(math.Inf(-1))
		}
		cur[i] = candidate{id: int32(i), logit: l}
	}
	s.penalize(cur, history)

	if s.p.Greedy() {
		return argmax(cur)
	}
	sorted := false
	if k := s.p.TopK; k > 0 && k < len(cur) {
		cur = topK(cur, k)
		sorted = true
	}
	if p := s.p.TopP; p > 0 && p < 1 {
		cur = topP(cur, float64(p), sorted)
		sorted = true
	}
	if p := s.p.MinP; p > 0 {
		cur = minP(cur, float64(p), sorted)
	}
	return s.draw(cur, float64(s.p.Temperature))
}

// argmax returns the id with the highest logit, the lowest id on ties.
func argmax(c []candidate) int32 {
	best := 0
	for i := 1; i < len(c); i++ {
		if c[i].logit > c[best].logit {
			best = i
		}
	}
	return c[best].id
}

// draw samples from softmax(logit/temp) over c, accumulating in float64.
func (s *Sampler) draw(c []candidate, temp float64) int32 {
	// Exactly one draw per sampled token, taken first, so that Skip can
	// put a generator where it would be after n tokens.
	r := s.rng.Float64()
	top := c[0].logit
	for _, x := range c[1:] {
		if x.logit > top {
			top = x.logit
		}
	}
	if math.IsInf(float64(top), -1) {
		// Nothing has any probability left; fall back to the lowest id.
		return lowestID(c)
	}
	w := s.weights[:len(c)]
	sum := 0.0
	for i, x := range c {
		w[i] = math.Exp((float64(x.logit) - float64(top)) / temp)
		sum += w[i]
	}
	u := r * sum
	acc := 0.0
	for i, x := range c {
		acc += w[i]
		if u < acc {
			return x.id
		}
	}
	// Rounding can leave u just above the last partial sum: take the last
	// token with non-zero weight.
	for i := len(c) - 1; i >= 0; i-- {
		if !math.IsInf(float64(c[i].logit), -1) {
			return c[i].id
		}
	}
	return c[len(c)-1].id
}

func lowestID(c []candidate) int32 {
	id := c[0].id
	for _, x := range c[1:] {
		id = min(id, x.id)
	}
	return id
}
