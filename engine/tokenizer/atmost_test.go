package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestEncodeAtMost: with a limit, encoding agrees with Encode whenever
// the text fits and otherwise stops early with more ids than the limit,
// so a caller can refuse a text longer than the context without paying
// for all of it and still see that it is longer.
func TestEncodeAtMost(t *testing.T) {
	for _, file := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(file, func(t *testing.T) {
			tok := loadGGUF(t, file)
			texts := []string{
				"Hello world",
				strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40),
				strings.Repeat("a", 5000),
				"<s>" + strings.Repeat(" x", 300) + "</s> tail",
			}
			for _, text := range texts {
				for _, special := range []bool{false, true} {
					full := tok.Encode(text, special, special)
					for _, limit := range []int{1, 2, len(full) / 2, len(full) - 1, len(full), len(full) + 1, 0} {
						ids, complete := tok.EncodeAtMost(text, special, special, limit)
						fits := limit <= 0 || len(full) <= limit
						if complete != fits {
							t.Fatalf("%.20q limit %d (full %d): complete %v, want %v", text, limit, len(full), complete, fits)
						}
						if fits && !slices.Equal(ids, full) {
							t.Fatalf("%.20q limit %d: ids differ from Encode's", text, limit)
						}
						if !fits && len(ids) <= limit {
							t.Fatalf("%.20q limit %d: stopped with %d ids; a caller could not tell it does not fit", text, limit, len(ids))
						}
						// It reads at most (limit+1)*longest bytes of text past
						// what it has, so that bounds the ids too.
						if !fits && len(ids) > (limit+2)*tok.longest {
							t.Fatalf("%.20q limit %d: %d ids; it went on far past the limit", text, limit, len(ids))
						}
					}
				}
			}
		})
	}
}

// BenchmarkEncodeAtMostOversized: a text far past the limit costs about
// what the limit's worth of text does, not the whole text.
func BenchmarkEncodeAtMostOversized(b *testing.B) {
	tok := loadGGUF(b, "ggml-vocab-gpt-2.gguf")
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 100_000)
	for _, limit := range []int{0, 2048} {
		name := "limit=none"
		if limit > 0 {
			name = "limit=2048"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				tok.EncodeAtMost(text, false, false, limit)
			}
		})
	}
}
