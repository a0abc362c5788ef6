package finetune

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/tokenizer"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// encoder turns dataset examples into tokens the way the model will see
// them when it serves: rendered by its chat template, tokenized with the
// template's special tokens parsed and BOS added as engine.ChatPrompt adds
// it.
type encoder struct {
	tmpl *chat.Template
	tok  *tokenizer.Tokenizer
}

// encoded is one example's tokens and which of them are targets: the
// tokens of every assistant turn, each ended by an end-of-generation token.
type encoded struct {
	tokens []int32
	loss   []bool
}

// errNoAssistant is an example none of whose assistant turns the template
// lets the encoder find.
var errNoAssistant = errors.New("no assistant turn to learn")

// encode finds the assistant turns of ex by rendering prefixes: for turn
// i, the conversation before it with the generation prompt, and the
// conversation up to and including it. What the second adds to the first
// is what the model must say, header aside, whatever the template. The
// whole conversation is tokenized once, and each span's ends are found as
// the length of the tokens of the text before them, so the targets are
// cut from the very tokens the model reads.
//
// A turn is learnt up to the first end-of-generation token the template
// writes after it (llama 2's </s>, ChatML's <|im_end|> in a vocabulary that
// has it); when the template writes none, EOS is inserted right after the
// answer's text, so that the model learns to stop where the answer does.
func (e *encoder) encode(ex dataset.Example) (encoded, error) {
	msgs := make([]chat.Message, len(ex.Messages))
	for i, m := range ex.Messages {
		msgs[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	opts := chat.RenderOptions{BOSToken: e.tok.Piece(e.tok.BOS()), EOSToken: e.tok.Piece(e.tok.EOS())}
	render := func(msgs []chat.Message, gen bool) (string, error) {
		o := opts
		o.AddGenerationPrompt = gen
		return e.tmpl.Render(msgs, o)
	}
	full, err := render(msgs, false)
	if err != nil {
		return encoded{}, err
	}

	// The spans of text to learn, as [start, content end, end) offsets
	// into full.
	type span struct{ start, content, end int }
	var spans []span
	for i, m := range msgs {
		if m.Role != "assistant" || i == 0 {
			continue
		}
		prompt, err := render(msgs[:i], true)
		if err != nil {
			continue
		}
		upTo, err := render(msgs[:i+1], false)
		if err != nil {
			continue
		}
		// Templates that rewrite earlier turns once later ones exist (some
		// drop the reasoning of old answers) break the prefix property for
		// those turns; they are read, not learnt. The turn ends where its
		// rendering parts from the whole conversation's: a template may
		// close a conversation that ends there (phi-3 writes EOS).
		if !strings.HasPrefix(full, prompt) || !strings.HasPrefix(upTo, prompt) {
			continue
		}
		end := len(prompt) + commonPrefix(upTo[len(prompt):], full[len(prompt):])
		if end == len(prompt) {
			continue
		}
		if n := len(spans); n > 0 && len(prompt) < spans[n-1].end {
			continue
		}
		content := end
		if j := strings.Index(full[len(prompt):end], m.Content); j >= 0 && m.Content != "" {
			content = len(prompt) + j + len(m.Content)
		}
		spans = append(spans, span{len(prompt), content, end})
	}
	if len(spans) == 0 {
		return encoded{}, errNoAssistant
	}

	whole := e.tok.Encode(full, false, true)
	// at is the index of the first token of whole that does not lie
	// wholly in full[:off]: where a span starting at off begins, or one
	// ending there ends.
	at := func(off int) int {
		if off >= len(full) {
			return len(whole)
		}
		pre := e.tok.Encode(full[:off], false, true)
		n := 0
		for n < len(pre) && n < len(whole) && pre[n] == whole[n] {
			n++
		}
		return n
	}
	out := encoded{tokens: make([]int32, 0, len(whole)+len(spans)+1)}
	if e.tok.AddBOS() && (len(whole) == 0 || whole[0] != e.tok.BOS()) {
		out.tokens = append(out.tokens, e.tok.BOS())
	}
	out.loss = make([]bool, len(out.tokens), cap(out.tokens))
	emit := func(ids []int32, target bool) {
		out.tokens = append(out.tokens, ids...)
		for range ids {
			out.loss = append(out.loss, target)
		}
	}
	next := 0
	for _, s := range spans {
		start, end := max(at(s.start), next), at(s.end)
		if end <= start {
			continue
		}
		emit(whole[next:start], false)
		eog := -1
		for j := start; j < end; j++ {
			if e.tok.IsEOG(whole[j]) {
				eog = j
				break
			}
		}
		if eog >= 0 {
			emit(whole[start:eog+1], true)
			emit(whole[eog+1:end], false)
		} else {
			cut := min(max(at(s.content), start), end)
			emit(whole[start:cut], true)
			emit([]int32{e.tok.EOS()}, true)
			emit(whole[cut:end], false)
		}
		next = end
	}
	emit(whole[next:], false)
	if len(out.loss) > 0 {
		out.loss[0] = false // nothing comes before it to predict it from
	}
	if !hasTarget(out.loss) {
		return encoded{}, errNoAssistant
	}
	return out, nil
}

// commonPrefix is the length in bytes of the longest common prefix of a
// and b.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// hasTarget reports whether any token after the first is a target.
func hasTarget(loss []bool) bool {
	return len(loss) > 1 && slices.Contains(loss[1:], true)
}

// describe names an example in an error: its response id when it has one.
func describe(i int, ex dataset.Example) string {
	if ex.ResponseID != "" {
		return fmt.Sprintf("example %d (%s)", i+1, ex.ResponseID)
	}
	return fmt.Sprintf("example %d", i+1)
}

// Targets returns ex's tokens as a model with tmpl and tok reads them and,
// for each, whether training learns it (see encoder.encode): the tokens
// flywheel/eval scores, so that a held-out loss is the loss training
// lowers.
func Targets(tmpl *chat.Template, tok *tokenizer.Tokenizer, ex dataset.Example) (tokens []int32, loss []bool, err error) {
	enc, err := (&encoder{tmpl: tmpl, tok: tok}).encode(ex)
	return enc.tokens, enc.loss, err
}
