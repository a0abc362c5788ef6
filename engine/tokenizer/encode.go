package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
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
	ids, _ := t.EncodeAtMost(text, addSpecial, parseSpecial, 0)
	return ids
}

// EncodeAtMost is Encode for a caller that refuses texts of more than
// limit tokens (a prompt longer than the context): it stops as soon as
// the text is known to be longer, so an oversized text costs little more
// than its first limit tokens. complete is false when it stopped; ids then
// holds more than limit tokens, the encoding of a prefix of the text (whose
// last tokens may differ from the whole text's). A limit of 0 or less
// means none.
func (t *Tokenizer) EncodeAtMost(text string, addSpecial, parseSpecial bool, limit int) (ids []int32, complete bool) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	var out []int32
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	// cut shortens a fragment that on its length alone takes out past the
	// limit: no token covers more than t.longest bytes, so its first
	// (room+1)*longest bytes already make more than room tokens.
	cut := func(s string) (string, bool) {
		if limit <= 0 {
			return s, false
		}
		keep := (limit - len(out) + 1) * t.longest
		if len(s) <= keep {
			return s, false
		}
		for keep < len(s) && !utf8.RuneStart(s[keep]) {
			keep++
		}
		return s[:keep], true
	}
	frags := t.partition(text, parseSpecial)
	switch t.kind {
	case kindSPM:
		prevSpecial := true // the text start counts as following a special token
		for _, f := range frags {
			if limit > 0 && len(out) > limit {
				return out, false
			}
			if f.id != NoToken {
				out = append(out, f.id)
				prevSpecial = true
				continue
			}
			s, cutShort := cut(f.text)
			if t.addSpace && prevSpecial {
				s = " " + s
			}
			out = t.encodeSPM(strings.ReplaceAll(s, " ", "\u2581"), out, sc)
			prevSpecial = false
			if cutShort {
				return out, false
			}
		}
	case kindBPE:
		for _, f := range frags {
			if limit > 0 && len(out) > limit {
				return out, false
			}
			if f.id != NoToken {
				out = append(out, f.id)
				continue
			}
			s, cutShort := cut(f.text)
			out = t.encodeBPE(s, out, sc, limit)
			if cutShort {
				return out, false
			}
		}
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	if limit > 0 && len(out) > limit {
		return out, false
	}
	return out, true
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
