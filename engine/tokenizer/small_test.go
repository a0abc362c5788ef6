package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tinySPM is a small SentencePiece vocabulary for precise tests.
func tinySPM() *Vocab {
	v := &Vocab{
		Model:  "llama",
		Tokens: []string{"<unk>", "<s>", "</s>", "▁", "a", "b", "c", "▁a", "ab", "bc", "▁ab", "abc"},
		Scores: []float32{0, 0, 0, -1, -1, -1, -1, -2, -3, -3, -4, -5},
		Types:  []TokenType{TypeUnknown, TypeControl, TypeControl, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		BOS:    1, EOS: 2, UNK: 0, EOT: NoToken, EOM: NoToken, PAD: NoToken,
		AddBOS: true, AddSpacePrefix: true,
	}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("<0x%02X>", b))
		v.Scores = append(v.Scores, 0)
		v.Types = append(v.Types, TypeByte)
	}
	return v
}

func tinyID(v *Vocab, piece string) int32 {
	for i, s := range v.Tokens {
		if s == piece {
			return int32(i)
		}
	}
	panic("no piece " + piece)
}

func TestSPMMerges(t *testing.T) {
	v := tinySPM()
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	id := func(p string) int32 { return tinyID(v, p) }
	tests := []struct {
		text string
		want []int32
	}{
		// "▁a" (-2) beats "ab" (-3); then "▁ab" (-4) is the only merge left.
		{"ab", []int32{id("▁ab")}},
		// "bc" and "ab" tie at -3: the leftmost pair wins, giving "▁a"+"bc"
		// before "ab" can form.
		{"abc", []int32{id("▁a"), id("bc")}},
		// Characters without a piece fall back to bytes.
		{"é", []int32{id("▁"), id("<0xC3>"), id("<0xA9>")}},
		{"a b", []int32{id("▁a"), id("▁"), id("b")}},
	}
	for _, tc := range tests {
		if got := tk.Encode(tc.text, false, false); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}

	// Without byte tokens, unknown characters become <unk>.
	v.Tokens, v.Scores, v.Types = v.Tokens[:12], v.Scores[:12], v.Types[:12]
	tk, err = New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Encode("aé", false, false), []int32{id("▁a"), 0}; !slices.Equal(got, want) {
		t.Errorf("no byte tokens: got %v, want %v", got, want)
	}

	// add_space_prefix off.
	v = tinySPM()
	v.AddSpacePrefix = false
	tk, _ = New(v)
	if got, want := tk.Encode("ab", false, false), []int32{id("ab")}; !slices.Equal(got, want) {
		t.Errorf("no space prefix: got %v, want %v", got, want)
	}
	if got := tk.Decode([]int32{id("▁a")}); got != " a" {
		t.Errorf("no space prefix: Decode kept %q, want \" a\"", got)
	}
}

func TestNewErrors(t *testing.T) {
	bpe := func() *Vocab {
		return &Vocab{
			Model: "gpt2", Pre: "gpt-2",
			Tokens: []string{"a", "b", "ab", "Ġ"},
			Merges: []string{"a b"},
			BOS:    NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken,
		}
	}
	tests := []struct {
		name   string
		mutate func(*Vocab)
		want   string
	}{
		{"unknown model", func(v *Vocab) { v.Model = "bert" }, "unsupported tokenizer model"},
		{"no model", func(v *Vocab) { v.Model = "" }, "no tokenizer model"},
		{"empty", func(v *Vocab) { v.Tokens = nil }, "empty vocabulary"},
		{"duplicate", func(v *Vocab) { v.Tokens[1] = "a" }, "duplicate token"},
		{"scores length", func(v *Vocab) { v.Scores = []float32{1} }, "1 scores for 4 tokens"},
		{"types length", func(v *Vocab) { v.Types = []TokenType{1, 1} }, "2 token types"},
		{"bad type", func(v *Vocab) { v.Types = []TokenType{1, 1, 9, 1} }, "invalid type 9"},
		{"bos range", func(v *Vocab) { v.BOS = 4 }, "BOS token id 4 out of range"},
		{"eos negative", func(v *Vocab) { v.EOS = -7 }, "EOS token id -7 out of range"},
		{"add bos without bos", func(v *Vocab) { v.AddBOS = true }, "no BOS token"},
		{"add eos without eos", func(v *Vocab) { v.AddEOS = true }, "no EOS token"},
		{"no merges", func(v *Vocab) { v.Merges = nil }, "without merges"},
		{"merge missing piece", func(v *Vocab) { v.Merges = []string{"a x"} }, "names a piece that is not a token"},
		{"merge missing result", func(v *Vocab) { v.Merges = []string{"b a"} }, "\"ba\", which is not a token"},
		{"merge without space", func(v *Vocab) { v.Merges = []string{"ab"} }, "not two pieces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := bpe()
			tc.mutate(v)
			_, err := New(v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(bpe()); err != nil {
		t.Errorf("valid vocabulary: %v", err)
	}
}

func TestUnknownPreTokenizer(t *testing.T) {
	v := &Vocab{
		Model: "gpt2", Pre: "no-such-pre",
		Tokens: []string{"a", "b", "ab"},
		Merges: []string{"a b"},
		BOS:    NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken,
	}
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if tk.PreTokenizerKnown() || tk.PreTokenizer() != "default" {
		t.Errorf("PreTokenizerKnown = %v, PreTokenizer = %q", tk.PreTokenizerKnown(), tk.PreTokenizer())
	}
	if w := tk.Warnings(); len(w) != 1 || !strings.Contains(w[0], "no-such-pre") {
		t.Errorf("Warnings = %q", w)
	}
	if got := tk.Encode("abba", false, false); !slices.Equal(got, []int32{2, 1, 0}) {
		t.Errorf("Encode(abba) = %v", got)
	}
}

// BPE merges go by rank, lowest first, leftmost on ties; a word that is
// itself a token is kept whole when the pre-tokenizer ignores merges.
func TestBPEMerges(t *testing.T) {
	v := &Vocab{
		Model: "gpt2", Pre: "gpt-2",
		Tokens: []string{"a", "b", "c", "ab", "bc", "abc", "cc", "ccc"},
		Merges: []string{"b c", "a b", "a bc", "c c"},
		BOS:    NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken,
	}
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int32
	}{
		{"abc", []int32{5}},    // b c, then a bc
		{"ab", []int32{3}},     // a b
		{"ccc", []int32{6, 2}}, // c c on the left pair first
		{"cab", []int32{2, 3}},
	}
	for _, tc := range tests {
		if got := tk.Encode(tc.text, false, false); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	// llama-bpe ignores merges for words that are tokens: "ccc" is one.
	v.Pre = "llama-bpe"
	tk, err = New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("ccc", false, false); !slices.Equal(got, []int32{7}) {
		t.Errorf("llama-bpe Encode(ccc) = %v, want [7]", got)
	}
}
