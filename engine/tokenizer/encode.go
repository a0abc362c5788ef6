package tokenizer

import (
	"strings"
	"sync"
)

// scratch holds the buffers one encode call needs; they are pooled so that
// encoding does not allocate much.
type scratch struct {
	runes       []rune
	segs, segs2 []int
	word, enc   []byte
	syms        []symbol
	queue       bigramQueue
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Encode turns text into token ids.
//
// With addSpecial, BOS and EOS are added as the vocabulary asks
// (tokenizer.ggml.add_bos_token / add_eos_token). With parseSpecial, control
// tokens written in the text (such as "<|im_start|>") become their ids;
// without it they are tokenized as plain text. User-defined tokens are always
// recognised, as in llama.cpp and the HF tokenizers.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	var out []int32
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	frags := t.partition(text, parseSpecial)
	switch t.kind {
	case kindSPM:
		prevSpecial := true // the text start counts as following a special token
		for _, f := range frags {
			if f.id != NoToken {
				out = append(out, f.id)
				prevSpecial = true
				continue
			}
			s := f.text
			if t.addSpace && prevSpecial {
				s = " " + s
			}
			out = t.encodeSPM(strings.ReplaceAll(s, " ", "\u2581"), out, sc)
			prevSpecial = false
		}
	case kindBPE:
		for _, f := range frags {
			if f.id != NoToken {
				out = append(out, f.id)
				continue
			}
			out = t.encodeBPE(f.text, out, sc)
		}
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// EncodeContinuation tokenizes text that continues earlier text, such as
// the part of a response already sent when another node takes the
// response over: no BOS or EOS, special-token text kept as text, and no
// add_space_prefix space (it belongs in front of a whole text, and the
// continuation's own leading space, if any, is kept as written).
func (t *Tokenizer) EncodeContinuation(text string) []int32 {
	if text == "" {
		return nil
	}
	if t.kind != kindSPM || !t.addSpace {
		return t.Encode(text, false, false)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var out []int32
	for _, f := range t.partition(text, false) {
		if f.id != NoToken {
			out = append(out, f.id) // a user-defined token
			continue
		}
		out = t.encodeSPM(strings.ReplaceAll(f.text, " ", "\u2581"), out, sc)
	}
	return out
}
