package tokenizer

// BOS is the beginning-of-sequence token, or NoToken.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence token, or NoToken.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT is the end-of-turn token (given or found by its text), or NoToken.
func (t *Tokenizer) EOT() int32 { return t.eot }

// UNK is the unknown token, or NoToken.
func (t *Tokenizer) UNK() int32 { return t.unk }

// PAD is the padding token, or NoToken.
func (t *Tokenizer) PAD() int32 { return t.pad }

// AddBOS reports whether Encode with addSpecial puts BOS first.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial puts EOS last.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// IsEOG reports whether id ends generation: EOS, EOT, EOM and the tokens
// llama.cpp recognises by text, such as "<|im_end|>", "<|eot_id|>",
// "<|end|>" and "<|endoftext|>".
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// IsControl reports whether id is a control token (after llama.cpp's
// fix-ups, which make every end-of-generation token a control token).
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.attrs) && t.attrs[id]&attrControl != 0
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID finds the id of a piece as it is written in the vocabulary
// (for example "▁the", "Ġthe" or "<|im_end|>").
func (t *Tokenizer) TokenID(piece string) (int32, bool) {
	id, ok := t.ids[piece]
	return id, ok
}

// Piece is the vocabulary entry of id as stored, or "" if out of range.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type is the token type of id as given in the vocabulary.
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Model is the tokenizer model name ("llama" or "gpt2").
func (t *Tokenizer) Model() string { return t.model }

// PreTokenizer is the name of the pre-tokenizer in use: the vocabulary's
// tokenizer.ggml.pre, or "default" when that name is unknown. It is "" for
// SentencePiece vocabularies, which have none.
func (t *Tokenizer) PreTokenizer() string {
	if t.pretok == nil {
		return ""
	}
	return t.pretok.name
}

// PreTokenizerKnown is false when a byte-level BPE vocabulary names a
// pre-tokenizer this package does not implement (or none); the "default"
// one is used instead and the result can differ from the model's own
// tokenizer.
func (t *Tokenizer) PreTokenizerKnown() bool { return t.kind != kindBPE || t.preKnown }

// Warnings lists problems found while loading that did not stop it.
func (t *Tokenizer) Warnings() []string { return append([]string(nil), t.warnings...) }

// Longest is the length in bytes of the longest token: no token covers
// more of a text, so a text of n bytes has at least n/Longest() tokens.
func (t *Tokenizer) Longest() int { return t.longest }
