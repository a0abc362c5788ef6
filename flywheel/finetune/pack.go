package finetune

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hearth-ai/hearth/engine/train"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// Report says what became of a split's examples on the way to sequences.
type Report struct {
	Examples int `json:"examples"` // given
	Used     int `json:"used"`     // in some sequence
	// Truncated examples were longer than a sequence and lost their tail.
	Truncated int `json:"truncated"`
	// NoTargets examples had no assistant token to learn: none the
	// template shows, or none left after the cut.
	NoTargets int `json:"no_targets"`
	// Unrenderable examples the chat template refused.
	Unrenderable int   `json:"unrenderable"`
	Sequences    int   `json:"sequences"`
	Tokens       int64 `json:"tokens"`  // in all sequences
	Targets      int64 `json:"targets"` // tokens the loss is taken on
}

func (r Report) String() string {
	return fmt.Sprintf("%d of %d examples in %d sequences (%d tokens, %d targets); %d cut to fit, %d without assistant tokens, %d the template refused",
		r.Used, r.Examples, r.Sequences, r.Tokens, r.Targets, r.Truncated, r.NoTargets, r.Unrenderable)
}

// ErrNoExamples is wrapped by Run's error when no training example is
// left to learn from.
var ErrNoExamples = errors.New("no usable training examples")

// pack encodes examples and packs them greedily, in order, into sequences
// of at most seq tokens: an example that does not fit what is left of the
// current sequence starts the next one. Each example is its own segment,
// so it attends only to itself and its positions start at 0. An example
// longer than seq keeps its first seq tokens. firstErr is the first
// template error, to name when nothing is usable.
func (e *encoder) pack(examples []dataset.Example, seq int) (seqs []train.Sequence, r Report, firstErr error) {
	r.Examples = len(examples)
	var cur train.Sequence
	var segs int32
	flush := func() {
		if len(cur.Tokens) > 0 {
			seqs = append(seqs, cur)
		}
		cur, segs = train.Sequence{}, 0
	}
	for i, ex := range examples {
		enc, err := e.encode(ex)
		switch {
		case errors.Is(err, errNoAssistant):
			r.NoTargets++
			continue
		case err != nil:
			r.Unrenderable++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", describe(i, ex), err)
			}
			continue
		}
		if len(enc.tokens) > seq {
			enc.tokens, enc.loss = enc.tokens[:seq], enc.loss[:seq]
			if !hasTarget(enc.loss) {
				r.NoTargets++
				continue
			}
			r.Truncated++
		}
		if len(cur.Tokens)+len(enc.tokens) > seq {
			flush()
		}
		cur.Tokens = append(cur.Tokens, enc.tokens...)
		cur.Loss = append(cur.Loss, enc.loss...)
		for range enc.tokens {
			cur.Seg = append(cur.Seg, segs)
		}
		segs++
		r.Used++
		r.Tokens += int64(len(enc.tokens))
		for _, l := range enc.loss {
			if l {
				r.Targets++
			}
		}
	}
	flush()
	r.Sequences = len(seqs)
	return seqs, r, firstErr
}

// whyEmpty explains a split that gave no sequence.
func whyEmpty(r Report, seq int, firstErr error) error {
	if r.Examples == 0 {
		return fmt.Errorf("%w: the dataset's train split is empty", ErrNoExamples)
	}
	var why []string
	if r.NoTargets > 0 {
		why = append(why, fmt.Sprintf("%d with no assistant token left to learn within %d tokens", r.NoTargets, seq))
	}
	if r.Unrenderable > 0 {
		why = append(why, fmt.Sprintf("%d the chat template refused (first: %v)", r.Unrenderable, firstErr))
	}
	return fmt.Errorf("%w: of %d examples, %s", ErrNoExamples, r.Examples, strings.Join(why, "; "))
}
