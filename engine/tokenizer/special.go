package tokenizer

import (
	"slices"
	"strings"
)

// Token texts llama.cpp treats as end of generation (llama-vocab.cpp). The
// list is matched on the token text because converters rarely record these
// ids in the metadata.
var eogNames = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
	"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
	"<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<｜end▁of▁sentence｜>", "[e~[",
}

// Texts that make a token the EOT token when the metadata names none.
var eotNames = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
	"<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
}

// Fill-in-the-middle tokens found by text. Pad, repo and file-separator
// tokens also end generation.
var (
	fimPre = []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}
	fimSuf = []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}
	fimMid = []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}
	fimPad = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRep = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSep = []string{"<|file_sep|>"}
)

// firstByText is the lowest id whose text is one of names, or NoToken.
func (t *Tokenizer) firstByText(names []string) int32 {
	best := NoToken
	for _, s := range names {
		if id, ok := t.ids[s]; ok && (best == NoToken || id < best) {
			best = id
		}
	}
	return best
}

// fixAttrs reproduces llama.cpp's load-time fix-ups: it finds EOT/EOM and
// end-of-generation tokens by their text, marks such tokens as control
// tokens, and applies the per-model attribute quirks.
func (t *Tokenizer) fixAttrs(name string) {
	control := func(id int32) {
		if id != NoToken {
			t.attrs[id] |= attrControl
		}
	}
	if t.eot == NoToken {
		t.eot = t.firstByText(eotNames)
	}
	control(t.eot)
	if t.eom == NoToken {
		t.eom = t.firstByText([]string{"<|eom_id|>"})
	}
	control(t.eom)
	for _, names := range [][]string{fimPre, fimSuf, fimMid} {
		control(t.firstByText(names))
	}

	t.eog = map[int32]bool{}
	for _, names := range [][]string{fimPad, fimRep, fimSep} {
		if id := t.firstByText(names); id != NoToken {
			control(id)
			t.eog[id] = true
		}
	}
	for _, s := range eogNames {
		if id, ok := t.ids[s]; ok {
			control(id)
			t.eog[id] = true
		}
	}
	// gpt-oss: these structure tokens are always rendered.
	for _, s := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.ids[s]; ok {
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
	has := func(s string) (int32, bool) {
		id, ok := t.ids[s]
		return id, ok && t.eog[id]
	}
	// o200k_harmony and solar-open: "<|end|>" separates messages there and
	// must not stop generation.
	_, ret := has("<|return|>")
	_, call := has("<|call|>")
	_, calls := has("<|calls|>")
	_, flush := has("<|flush|>")
	if end, ok := has("<|end|>"); ok && ((ret && (call || calls)) || ((call || calls) && flush)) {
		delete(t.eog, end)
		t.attrs[end] = attrUserDefined
	}
	// gemma4: "</s>" is an ordinary token when "<|tool_response>" exists.
	if _, ok := has("<|tool_response>"); ok {
		if s, ok := has("</s>"); ok {
			delete(t.eog, s)
			t.attrs[s] = attrNormal
		}
	}

	// Phi-3: whitespace after special tokens is dropped when they are parsed,
	// except after <unk>, <s> and <|endoftext|>.
	lname := strings.ToLower(name)
	if strings.Contains(lname, "phi-3") || strings.Contains(lname, "phi3") {
		for id, a := range t.attrs {
			if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
				t.attrs[id] |= attrRStrip
			}
		}
		if id, ok := t.ids["</s>"]; ok {
			t.attrs[id] |= attrRStrip
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if id, ok := t.ids[s]; ok {
				t.attrs[id] &^= attrRStrip
			}
		}
	}
}

// buildSpecial lists the tokens the text is split on, longest first.
func (t *Tokenizer) buildSpecial() {
	for id, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(id))
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return len(t.tokens[b]) - len(t.tokens[a])
	})
}

// fragment is a piece of the input: either raw text or an already known
// special token.
type fragment struct {
	text string
	id   int32 // NoToken for text
}

// partition splits text on special tokens as llama.cpp's
// tokenizer_st_partition does: for each special token, longest first, every
// occurrence in the remaining text fragments becomes its own fragment.
// Without parseSpecial only user-defined tokens are split out, as the HF
// tokenizers do.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: NoToken}}
	// Vocabularies can have thousands of special tokens (Gemma's <unusedN>),
	// so first rule out, cheaply, those whose first two bytes never occur
	// next to each other in the text.
	var pairs [1 << 16 / 64]uint64
	var single [256 / 64]uint64
	for i := 0; i < len(text); i++ {
		single[text[i]>>6] |= 1 << (text[i] & 63)
		if i+1 < len(text) {
			k := uint16(text[i])<<8 | uint16(text[i+1])
			pairs[k>>6] |= 1 << (k & 63)
		}
	}
	for _, id := range t.special {
		a := t.attrs[id]
		if !parseSpecial && a&(attrControl|attrUnknown) != 0 {
			continue
		}
		tok := t.tokens[id]
		if len(tok) == 1 {
			if single[tok[0]>>6]&(1<<(tok[0]&63)) == 0 {
				continue
			}
		} else if k := uint16(tok[0])<<8 | uint16(tok[1]); pairs[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		var out []fragment
		changed := false
		for _, f := range frags {
			if f.id != NoToken || !strings.Contains(f.text, tok) {
				out = append(out, f)
				continue
			}
			changed = true
			rest := f.text
			for {
				i := strings.Index(rest, tok)
				if i < 0 {
					if rest != "" {
						out = append(out, fragment{text: rest, id: NoToken})
					}
					break
				}
				left := rest[:i]
				if a&attrLStrip != 0 {
					left = strings.TrimRight(left, " \t\n\v\f\r")
				}
				if left != "" {
					out = append(out, fragment{text: left, id: NoToken})
				}
				out = append(out, fragment{id: id})
				rest = rest[i+len(tok):]
				if a&attrRStrip != 0 {
					rest = strings.TrimLeft(rest, " \t\n\v\f\r")
				}
			}
		}
		if changed {
			frags = out
		}
	}
	return frags
}
