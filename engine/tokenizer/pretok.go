package tokenizer

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// A pre-tokenizer cuts text into words before BPE runs; merges never cross
// a word boundary. Like llama.cpp's unicode_regex_split it is a list of
// stages, each cutting every segment left by the stage before: text a stage's
// pattern matches becomes a segment, and so does the text between matches.
type preTokenizer struct {
	name   string
	stages []stage
}

type stage interface {
	// split appends the lengths (in code points) of the pieces of s to out.
	split(s segment, out []int) []int
}

// split returns the segment lengths of cps after all stages.
func (p *preTokenizer) split(cps []rune, a, b []int) []int {
	segs := append(a[:0], len(cps))
	if len(cps) == 0 {
		return segs[:0]
	}
	for _, st := range p.stages {
		out := b[:0]
		start := 0
		for _, n := range segs {
			out = st.split(segment(cps[start:start+n]), out)
			start += n
		}
		segs, b = out, segs
	}
	return segs
}

// funcStage is a hand-written splitter.
type funcStage func(segment, []int) []int

func (f funcStage) split(s segment, out []int) []int { return f(s, out) }

// reStage is a pattern without look-around, run by Go's regexp.
type reStage struct{ re *regexp.Regexp }

func (r reStage) split(s segment, out []int) []int {
	str := string(s)
	prev := 0
	for _, loc := range r.re.FindAllStringIndex(str, -1) {
		if loc[0] > prev {
			out = append(out, utf8.RuneCountInString(str[prev:loc[0]]))
		}
		if loc[1] > loc[0] {
			out = append(out, utf8.RuneCountInString(str[loc[0]:loc[1]]))
		}
		prev = loc[1]
	}
	if prev < len(str) {
		out = append(out, utf8.RuneCountInString(str[prev:]))
	}
	return out
}

// re2Stage is a pattern with look-ahead, run by regexp2 (a backtracking
// engine with .NET/Perl syntax).
type re2Stage struct{ re *regexp2.Regexp }

func (r re2Stage) split(s segment, out []int) []int {
	prev := 0
	m, err := r.re.FindRunesMatch(s)
	for err == nil && m != nil {
		if m.Index > prev {
			out = append(out, m.Index-prev)
		}
		if m.Length > 0 {
			out = append(out, m.Length)
		}
		prev = m.Index + m.Length
		m, err = r.re.FindNextMatch(m)
	}
	if prev < len(s) {
		out = append(out, len(s)-prev)
	}
	return out
}

// wsClass is the White_Space property, which is what \s means in the HF
// (Rust regex / Oniguruma) patterns and in llama.cpp's tables. Go's regexp
// \s is ASCII-only, so patterns are rewritten to use this instead.
const wsClass = "\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

// expandWS replaces \s and \S in a pattern with explicit classes.
func expandWS(p string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' && i+1 < len(p) {
			switch d := p[i+1]; {
			case d == 's' && inClass:
				b.WriteString(wsClass)
			case d == 's':
				b.WriteString("[" + wsClass + "]")
			case d == 'S' && !inClass:
				b.WriteString("[^" + wsClass + "]")
			default:
				b.WriteByte(c)
				b.WriteByte(d)
			}
			i++
			continue
		}
		switch c {
		case '[':
			inClass = true
		case ']':
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

func re(p string) stage { return reStage{regexp.MustCompile(expandWS(p))} }

func re2(p string) stage {
	r := regexp2.MustCompile(expandWS(p), regexp2.None)
	return re2Stage{r}
}

func fn(f func(segment, []int) []int) stage { return funcStage(f) }

// Patterns shared by several pre-tokenizers (from llama.cpp's
// llm_tokenizer_bpe and the models' tokenizer.json files).
const (
	// The letter rules of the GPT-4o family: an optional non-letter, then
	// upper-case letters followed by lower-case ones, or the reverse.
	pat4oWords = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+`
	pat4oCaps  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*`
	patContr   = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`
	patWSTail  = `\s*[\r\n]+|\s+(?!\S)|\s+`

	patDeepseekPunct  = `\s?[!-/:-~！-／：-～‘-‟　-。]+`
	patCJK            = `[一-龥ࠀ-一가-퟿]+`
	patDeepseek3Words = `[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + "`" + `{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|` + patWSTail
	patBloom          = ` ?[^(\s|.,!?…。，、।۔،)]+`
)

// patDeepseekLetters is deepseek-llm's letter class (the cased letters),
// written with code point escapes: several of its characters are canonical
// singletons (U+1F7D, U+1FBE, U+2126, U+212A, ...) that text normalization
// would silently replace.
var patDeepseekLetters = `\s?[` +
	`\x{0041}-\x{005A}\x{0061}-\x{007A}\x{00B5}\x{00C0}-\x{00D6}\x{00D8}-\x{00F6}\x{00F8}-\x{01BA}\x{01BC}-\x{01BF}\x{01C4}-\x{0293}` +
	`\x{0295}-\x{02AF}\x{0370}-\x{0373}\x{0376}\x{0377}\x{037B}-\x{037D}\x{037F}\x{0386}\x{0388}-\x{038A}` +
	`\x{038C}\x{038E}-\x{03A1}\x{03A3}-\x{03F5}\x{03F7}-\x{0481}\x{048A}-\x{052F}\x{0531}-\x{0556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}` +
	`\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}` +
	`\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}` +
	`\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}` +
	`\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}` +
	`\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}` +
	`\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}` +
	`\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}` +
	`\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}` +
	`]+`

// preSpec builds a pre-tokenizer; ignoreMerges means a word that is itself a
// token is emitted whole (llama.cpp's ignore_merges, HF's ignore_merges).
type preSpec struct {
	build        func() []stage
	ignoreMerges bool
}

var (
	gpt2Stages = func() []stage { return []stage{fn(splitGPT2)} }
	llama3     = func() []stage { return []stage{fn(splitLlama3(llama3Opts{digits: 3}))} }
	qwen2      = func() []stage { return []stage{fn(splitLlama3(llama3Opts{digits: 1}))} }
	starcoder  = func() []stage { return []stage{re(`\p{N}`), fn(splitGPT2)} }
	defaultPre = func() []stage {
		return []stage{re(`[\p{P}\$\+<=>\^~\|]+`), fn(splitGPT2), re(`\p{N}+`), re(`[0-9][0-9][0-9]`)}
	}
	deepseek3 = func() []stage {
		return []stage{re(`\p{N}{1,3}`), re(`[一-龥぀-ゟ゠-ヿ]+`), re2(patDeepseek3Words)}
	}
	gpt4oStages = func() []stage {
		return []stage{re2(pat4oWords + patContr + `?|` + pat4oCaps + patContr + `?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|` + patWSTail)}
	}
)

// preSpecs maps tokenizer.ggml.pre names to pre-tokenizers, following
// llama.cpp's llama_vocab::impl::load.
var preSpecs = map[string]preSpec{
	"default": {build: defaultPre},

	"llama3": {llama3, true}, "llama-v3": {llama3, true}, "llama-bpe": {llama3, true},
	"falcon3": {llama3, true}, "falcon-h1": {llama3, true}, "pixtral": {llama3, true},
	"midm-2.0": {llama3, true}, "lfm2": {llama3, true}, "jina-v5-nano": {llama3, true},
	"dbrx": {build: llama3}, "smaug-bpe": {build: llama3}, "glm4": {build: llama3}, "chatglm-bpe": {build: llama3},

	"qwen2": {build: qwen2}, "deepseek-r1-qwen": {build: qwen2}, "kormo": {build: qwen2}, "f2llmv2": {build: qwen2},
	"stablelm2": {build: qwen2}, "megrez": {build: qwen2}, "hunyuan": {build: qwen2}, "solar-open": {build: qwen2},
	"grok-2":   {build: qwen2},
	"qwen35":   {build: func() []stage { return []stage{fn(splitLlama3(llama3Opts{digits: 1, marks: true}))} }},
	"ufakzeka": {build: func() []stage { return []stage{fn(splitLlama3(llama3Opts{digits: 1, noContractions: true}))} }},
	"seed-coder": {build: func() []stage {
		return []stage{fn(splitLlama3(llama3Opts{digits: 1, noPunctNL: true}))}
	}},
	"minicpm5": {build: func() []stage {
		return []stage{re(`\p{N}{1,3}`), fn(splitLlama3(llama3Opts{digits: 0}))}
	}, ignoreMerges: true},
	"laguna": {build: func() []stage { return []stage{re(`[^\n]+|[\n]+`), fn(splitLlama3(llama3Opts{digits: 1}))} }},

	"gpt-2": {build: gpt2Stages}, "mpt": {build: gpt2Stages}, "olmo": {build: gpt2Stages}, "jais": {build: gpt2Stages},
	"phi-2": {build: gpt2Stages}, "jina-es": {build: gpt2Stages}, "jina-de": {build: gpt2Stages},
	"gigachat": {build: gpt2Stages}, "jina-v2-es": {build: gpt2Stages}, "jina-v2-de": {build: gpt2Stages},
	"a.x-4.0": {build: gpt2Stages}, "mellum": {build: gpt2Stages}, "modern-bert": {build: gpt2Stages},
	"jina-v1-en": {build: gpt2Stages}, "jina-v2-code": {build: gpt2Stages}, "roberta-bpe": {build: gpt2Stages},
	"trillion": {build: gpt2Stages}, "granite-docling": {build: gpt2Stages}, "exaone4": {build: gpt2Stages},

	"starcoder": {build: starcoder}, "refact": {build: starcoder}, "command-r": {build: starcoder},
	"smollm": {build: starcoder}, "codeshell": {build: starcoder}, "exaone": {build: starcoder},
	"minerva-7b": {build: starcoder}, "mellum2": {build: starcoder},

	"falcon": {build: func() []stage {
		return []stage{re("[\\p{P}\\$\\+<=>\\^~\\|`]+"), fn(splitGPT2), re(`[0-9][0-9][0-9]`)}
	}},
	"deepseek-llm": {build: func() []stage {
		return []stage{re(`[\r\n]`), re(patDeepseekLetters), re(patDeepseekPunct), re(`\s+$`), re(patCJK), re(`\p{N}+`)}
	}},
	"deepseek-coder": {build: func() []stage {
		return []stage{re(`[\r\n]`), re(`\s?\p{L}+`), re(`\s?\p{P}+`), re(patCJK), re(`\p{N}`)}
	}},
	"deepseek-v3": {build: deepseek3}, "hunyuan-dense": {build: deepseek3}, "joyai-llm": {build: deepseek3}, "hy_v4": {build: deepseek3},

	// Tekken (Mistral Nemo and later). The HF pattern is used as written;
	// llama.cpp approximates its upper/lower-case classes for non-ASCII text.
	"tekken": {build: func() []stage {
		return []stage{re2(pat4oWords + `|` + pat4oCaps + `|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|` + patWSTail)}
	}, ignoreMerges: true},
	"gpt-4o": {build: gpt4oStages}, "llama4": {build: gpt4oStages}, "kanana2": {build: gpt4oStages},
	"talkie": {build: gpt4oStages}, "minimax-m2": {build: gpt4oStages},

	"bailingmoe": {build: bailing}, "bailingmoe2": {build: bailing}, "llada-moe": {build: bailing},
	"exaone-moe": {build: func() []stage {
		return []stage{re2(patContr + `|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`)}
	}},
	"youtu": {build: func() []stage {
		return []stage{
			re(`[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+`),
			re2(pat4oWords + patContr + `?|` + pat4oCaps + patContr + `?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|` + patWSTail),
		}
	}, ignoreMerges: true},

	"poro-chat": {build: bloom}, "bloom": {build: bloom}, "gpt3-finnish": {build: bloom},
	"viking": {build: func() []stage { return []stage{re(patBloom), re(`\p{N}`)} }},
}

func bailing() []stage {
	return []stage{re2(`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`)}
}

func bloom() []stage { return []stage{re(patBloom)} }

// lookupPre finds the pre-tokenizer for a name. Unknown names get the
// "default" one and known == false.
func lookupPre(name string) (p *preTokenizer, known, ignoreMerges bool) {
	spec, known := preSpecs[name]
	if !known {
		spec = preSpecs["default"]
		name = "default"
	}
	return &preTokenizer{name: name, stages: spec.build()}, known, spec.ignoreMerges
}

// PreTokenizers lists the tokenizer.ggml.pre names this package implements.
func PreTokenizers() []string {
	names := make([]string, 0, len(preSpecs))
	for k := range preSpecs {
		names = append(names, k)
	}
	return names
}
