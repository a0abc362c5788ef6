package model

import (
	"context"
	"fmt"
	"math"
)

// Pool runs tokens through the model and returns the mean of their final
// hidden states (after the output norm), scaled to unit length: a sentence
// embedding from a decoder, as llama.cpp's mean pooling computes it. The
// state's cache must be empty; it is left holding the tokens.
func (m *Transformer) Pool(ctx context.Context, s *State, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("model: embedding of no tokens")
	}
	if s.Pos != 0 {
		return nil, fmt.Errorf("model: embedding needs an empty state, this one holds %d tokens", s.Pos)
	}
	if len(tokens) > s.cap {
		return nil, fmt.Errorf("model: %d tokens exceed the context of %d", len(tokens), s.cap)
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	dim := m.Dim
	sum := make([]float64, dim)
	normed := make([]float32, dim)
	for rest := tokens; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(len(rest), s.scratch.maxTokens)
		m.step(s.scratch, []Seq{{Cache: s.Cache, Tokens: rest[:n]}})
		for t := 0; t < n; t++ {
			rmsnorm(normed, s.scratch.x[t*dim:(t+1)*dim], m.OutNorm, m.NormEps)
			for i, v := range normed {
				sum[i] += float64(v)
			}
		}
		rest = rest[n:]
	}
	var norm float64
	for i := range sum {
		sum[i] /= float64(len(tokens))
		norm += sum[i] * sum[i]
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		norm = 1
	}
	out := make([]float32, dim)
	for i, v := range sum {
		out[i] = float32(v / norm)
	}
	return out, nil
}

func (m *Transformer) checkTokens(tokens []int32) error {
	for _, t := range tokens {
		if t < 0 || int(t) >= m.Vocab {
			return fmt.Errorf("model: token id %d outside the vocabulary of %d", t, m.Vocab)
		}
	}
	return nil
}
