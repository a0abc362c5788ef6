package train

import "fmt"

// Sequence is one packed training sequence. Loss[i] says whether token i
// is a target, predicted from the tokens before it in its segment (so
// Loss[0] never is). Seg, if set, gives each token's segment: packed
// examples each attend only within themselves, and positions restart at
// each segment's first token.
type Sequence struct {
	Tokens []int32
	Loss   []bool
	Seg    []int32
}

// layout checks s against the model and returns each token's position
// within its segment, the index of its segment's first token, and the
// indices of the tokens that predict a target (i where Loss[i+1]).
func (t *Trainer) layout(s Sequence) (pos, start, preds []int, err error) {
	n := len(s.Tokens)
	switch {
	case n < 2:
		return nil, nil, nil, fmt.Errorf("train: a sequence of %d tokens: it needs at least 2", n)
	case n > t.m.Context:
		return nil, nil, nil, fmt.Errorf("train: a sequence of %d tokens exceeds the model's context of %d", n, t.m.Context)
	case len(s.Loss) != n:
		return nil, nil, nil, fmt.Errorf("train: %d loss flags for %d tokens", len(s.Loss), n)
	case s.Seg != nil && len(s.Seg) != n:
		return nil, nil, nil, fmt.Errorf("train: %d segment ids for %d tokens", len(s.Seg), n)
	}
	pos, start = make([]int, n), make([]int, n)
	for i, tok := range s.Tokens {
		if tok < 0 || int(tok) >= t.m.Vocab {
			return nil, nil, nil, fmt.Errorf("train: token %d at %d is outside the vocabulary of %d", tok, i, t.m.Vocab)
		}
		if i > 0 && (s.Seg == nil || s.Seg[i] == s.Seg[i-1]) {
			start[i], pos[i] = start[i-1], pos[i-1]+1
		} else {
			start[i] = i
			if s.Loss[i] {
				return nil, nil, nil, fmt.Errorf("train: token %d starts a segment, so nothing before it predicts it, yet it is marked as a target", i)
			}
		}
		if s.Loss[i] {
			preds = append(preds, i-1)
		}
	}
	if len(preds) == 0 {
		return nil, nil, nil, fmt.Errorf("train: a sequence of %d tokens with no target token", n)
	}
	return pos, start, preds, nil
}
