package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// buildPieces precomputes what every token decodes to.
func (t *Tokenizer) buildPieces() {
	t.pieces = make([]string, len(t.tokens))
	for id, s := range t.tokens {
		a := t.attrs[id]
		switch {
		case a&(attrControl|attrUnknown) != 0:
			// rendered only on request
		case a&attrUserDefined != 0:
			t.pieces[id] = s
		case a&attrNormal != 0:
			if t.kind == kindSPM {
				t.pieces[id] = strings.ReplaceAll(s, "\u2581", " ")
			} else {
				t.pieces[id] = unmapBytes(s)
			}
		case a&attrByte != 0:
			if b, ok := parseByteToken(s); ok {
				t.pieces[id] = string([]byte{b})
			} else {
				t.pieces[id] = s
			}
		}
	}
}

// DecodeOptions changes how tokens become text.
type DecodeOptions struct {
	// Special renders control and unknown tokens as their text (for example
	// "<|im_end|>"); by default they decode to nothing.
	Special bool
	// Continuation says the tokens continue text that came before them (a
	// prompt), so the leading space of the first piece is part of the text
	// and is kept. By default it is dropped, as the space that
	// add_space_prefix put in front of the whole text.
	Continuation bool
}

// TokenText is the text one token stands for: the bytes of its piece, with
// U+2581 as a space (SentencePiece) or the GPT-2 byte alphabet undone
// (byte-level BPE). Control and unknown tokens give "", ids out of range
// give "". The result can be an incomplete UTF-8 sequence.
func (t *Tokenizer) TokenText(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

func (t *Tokenizer) pieceOf(id int32, special bool) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	if special && t.attrs[id]&(attrControl|attrUnknown) != 0 {
		return t.tokens[id]
	}
	return t.pieces[id]
}

// Decode turns ids into text. The space a SentencePiece vocabulary puts in
// front of the text is removed from the first piece of text. The result is
// the exact bytes of the pieces, so it can hold invalid UTF-8 if the ids do;
// use a StreamDecoder for text that is always valid.
func (t *Tokenizer) Decode(ids []int32) string { return t.DecodeWith(ids, DecodeOptions{}) }

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int32, opts DecodeOptions) string {
	var b strings.Builder
	started := false
	for _, id := range ids {
		p := t.pieceOf(id, opts.Special)
		if p == "" {
			continue
		}
		if !started {
			if !opts.Continuation {
				p = t.stripLeading(p)
			}
			started = true
		}
		b.WriteString(p)
	}
	return b.String()
}

// stripLeading drops the space add_space_prefix put in front of the text.
// llama.cpp strips it from the first token; here it is the first token that
// produces text, so a leading BOS does not keep the space.
func (t *Tokenizer) stripLeading(p string) string {
	if t.kind == kindSPM && t.addSpace && p[0] == ' ' {
		return p[1:]
	}
	return p
}

// StreamDecoder turns tokens into text one at a time, as they are generated.
// It holds back the bytes of a character split across tokens until it is
// complete, so every chunk it returns is valid UTF-8.
type StreamDecoder struct {
	t       *Tokenizer
	opts    DecodeOptions
	pending []byte
	started bool
}

// NewStreamDecoder starts decoding a new sequence.
func (t *Tokenizer) NewStreamDecoder(opts DecodeOptions) *StreamDecoder {
	return &StreamDecoder{t: t, opts: opts}
}

// Next adds a token and returns the text that is now complete, possibly "".
func (d *StreamDecoder) Next(id int32) string {
	p := d.t.pieceOf(id, d.opts.Special)
	if p == "" {
		return ""
	}
	if !d.started {
		if !d.opts.Continuation {
			p = d.t.stripLeading(p)
		}
		d.started = true
	}
	d.pending = append(d.pending, p...)
	return d.drain(false)
}

// Flush returns what is held back, with U+FFFD for each incomplete or
// invalid sequence, and resets the decoder for a new sequence.
func (d *StreamDecoder) Flush() string {
	s := d.drain(true)
	d.started = false
	return s
}

// drain returns the longest valid prefix of the pending bytes, replacing
// bytes that can never start a valid character by U+FFFD. An incomplete
// sequence at the end stays pending unless final.
func (d *StreamDecoder) drain(final bool) string {
	buf := d.pending
	var b strings.Builder
	i := 0
	for i < len(buf) {
		if buf[i] < utf8.RuneSelf {
			b.WriteByte(buf[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(buf[i:])
		if r != utf8.RuneError || n > 1 {
			b.Write(buf[i : i+n])
			i += n
			continue
		}
		if !final && !utf8.FullRune(buf[i:]) {
			break // may still be completed by the next token
		}
		b.WriteRune(utf8.RuneError)
		if !utf8.FullRune(buf[i:]) {
			i = len(buf) // one replacement for a truncated tail
		} else {
			i++
		}
	}
	d.pending = append(d.pending[:0], buf[i:]...)
	return b.String()
}
