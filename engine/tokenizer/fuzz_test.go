package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode encodes arbitrary text with a SentencePiece and a byte-level
// BPE vocabulary: no panics, ids in range, and valid UTF-8 comes back
// unchanged from Decode and from the stream decoder. Seeds are in
// testdata/fuzz/FuzzEncode (the llama.cpp test strings).
func FuzzEncode(f *testing.F) {
	spm := loadGGUF(f, "ggml-vocab-llama-spm.gguf")
	gpt := loadGGUF(f, "ggml-vocab-gpt-2.gguf")
	f.Add("Hello world")
	f.Fuzz(func(t *testing.T, text string) {
		for _, tk := range []*Tokenizer{spm, gpt} {
			for _, parse := range []bool{false, true} {
				ids := tk.Encode(text, true, parse)
				for _, id := range ids {
					if id < 0 || int(id) >= tk.VocabSize() {
						t.Fatalf("%s: id %d out of range for %q", tk.Model(), id, text)
					}
				}
				d := tk.NewStreamDecoder(DecodeOptions{})
				var b strings.Builder
				for _, id := range ids {
					c := d.Next(id)
					if !utf8.ValidString(c) {
						t.Fatalf("%s: stream chunk %q is not valid UTF-8", tk.Model(), c)
					}
					b.WriteString(c)
				}
				b.WriteString(d.Flush())
				if !utf8.ValidString(text) || parse {
					continue
				}
				// SentencePiece cannot tell U+2581 from an escaped space.
				if tk == spm && strings.ContainsRune(text, '\u2581') {
					continue
				}
				if got := tk.Decode(ids); got != text {
					t.Fatalf("%s: Decode(Encode(%q)) = %q (ids %v)", tk.Model(), text, got, ids)
				}
				if b.String() != text {
					t.Fatalf("%s: streamed %q, want %q", tk.Model(), b.String(), text)
				}
			}
		}
	})
}
