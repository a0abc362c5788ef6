package tokenizer

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// pieces runs a pre-tokenizer and returns the words as strings.
func pieces(p *preTokenizer, text string) []string {
	cps := []rune(text)
	var out []string
	start := 0
	for _, n := range p.split(cps, nil, nil) {
		out = append(out, string(cps[start:start+n]))
		start += n
	}
	return out
}

func TestPreTokenizerSplits(t *testing.T) {
	const text = "Hello world's 12345 TEST!!\n\n  x"
	tests := []struct {
		pre  string
		want []string
	}{
		{"gpt-2", []string{"Hello", " world", "'s", " 12345", " TEST", "!!", "\n\n ", " x"}},
		{"llama-bpe", []string{"Hello", " world", "'s", " ", "123", "45", " TEST", "!!\n\n", " ", " x"}},
		{"qwen2", []string{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " TEST", "!!\n\n", " ", " x"}},
		{"starcoder", []string{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " TEST", "!!", "\n\n ", " x"}},
		{"deepseek-coder", []string{"Hello", " world", "'", "s", " ", "1", "2", "3", "4", "5", " TEST", "!!", "\n", "\n", " ", " x"}},
		{"default", []string{"Hello", " world", "'", "s", " ", "123", "45", " TEST", "!!", "\n\n ", " x"}},
		{"falcon", []string{"Hello", " world", "'", "s", " ", "123", "45", " TEST", "!!", "\n\n ", " x"}},
		{"bloom", []string{"Hello", " world's", " 12345", " TEST", "!!\n\n ", " x"}},
	}
	for _, tc := range tests {
		t.Run(tc.pre, func(t *testing.T) {
			p, known, _ := lookupPre(tc.pre)
			if !known {
				t.Fatalf("%q not known", tc.pre)
			}
			got := pieces(p, text)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("split %q\n got %q\nwant %q", text, got, tc.want)
			}
		})
	}
}

// Every registered pre-tokenizer must build and cover its input exactly.
func TestPreTokenizersCover(t *testing.T) {
	const text = "The 2024 café—naïve Ünïcödé! 日本語のテキスト 한국어 ١٢٣ x²\t\n\r\n  \u00a0end's WE'LL 'RE é\u0301 😀$ +++ a/b   "
	names := PreTokenizers()
	if len(names) < 30 {
		t.Errorf("only %d pre-tokenizers", len(names))
	}
	for _, name := range names {
		p, known, _ := lookupPre(name)
		if !known {
			t.Errorf("%q not known", name)
			continue
		}
		got := pieces(p, text)
		if strings.Join(got, "") != text {
			t.Errorf("%s: pieces %q do not rebuild the text", name, got)
		}
		for _, w := range got {
			if w == "" {
				t.Errorf("%s: empty piece in %q", name, got)
			}
		}
	}
}

// The hand-written splitters must agree with the regexes they implement,
// run by a backtracking engine, on random text.
func TestSplittersMatchRegex(t *testing.T) {
	const contr = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`
	tests := []struct {
		name  string
		split func(segment, []int) []int
		re    string
	}{
		{"gpt2", splitGPT2, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`},
		{"llama3", splitLlama3(llama3Opts{digits: 3}),
			contr + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		{"qwen2", splitLlama3(llama3Opts{digits: 1}),
			contr + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		{"digits+", splitLlama3(llama3Opts{digits: 0}),
			contr + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		{"seed-coder", splitLlama3(llama3Opts{digits: 1, noPunctNL: true}),
			contr + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`},
		{"qwen35", splitLlama3(llama3Opts{digits: 1, marks: true}),
			contr + `|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		{"ufakzeka", splitLlama3(llama3Opts{digits: 1, noContractions: true}),
			`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
	}
	alphabet := []rune("  \t\n\r\v'sStTlLerRvVdmMa Bé Ж1٣²Ⅻ!.…$/\u00a0\u3000中\u0301😀\u0085\u2028-_")
	rng := rand.New(rand.NewSource(1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rx := re2Stage{regexp2.MustCompile(expandWS(tc.re), regexp2.None)}
			for i := 0; i < 5000; i++ {
				s := make([]rune, rng.Intn(24))
				for j := range s {
					s[j] = alphabet[rng.Intn(len(alphabet))]
				}
				got := tc.split(segment(s), nil)
				want := rx.split(segment(s), nil)
				if !slices.Equal(got, want) {
					t.Fatalf("split %q: got %v, regex gives %v", string(s), got, want)
				}
			}
		})
	}
}

func TestExpandWS(t *testing.T) {
	tests := []struct{ in, want string }{
		{`\s+`, "[" + wsClass + "]+"},
		{`[^\s\p{L}]`, "[^" + wsClass + `\p{L}]`},
		{`\S`, "[^" + wsClass + "]"},
		{`\\s`, `\\s`},
		{`[\]\s]`, `[\]` + wsClass + "]"},
	}
	for _, tc := range tests {
		if got := expandWS(tc.in); got != tc.want {
			t.Errorf("expandWS(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
