package tokenizer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TokenType is the per-token kind stored in tokenizer.ggml.token_type.
type TokenType int32

// Token types, numbered as in GGUF (llama_token_type).
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// NoToken marks a special token id that is not set.
const NoToken int32 = -1

// Vocab is the plain data a tokenizer is built from, as stored under the
// tokenizer.ggml.* keys of a GGUF file. New validates it; FromGGUF fills it
// from a file, applying llama.cpp's defaults for missing keys.
type Vocab struct {
	Model  string      // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre    string      // pre-tokenizer name for "gpt2" (tokenizer.ggml.pre)
	Tokens []string    // token id -> piece
	Scores []float32   // merge priority for "llama"; nil means all zero
	Types  []TokenType // nil means all TypeNormal
	Merges []string    // "left right" pairs in rank order, required for "gpt2"

	// Special token ids; NoToken (-1) when absent. The zero value means token 0.
	BOS, EOS, EOT, EOM, UNK, PAD int32

	AddBOS, AddEOS bool
	// AddSpacePrefix puts a space in front of the text for "llama" vocabularies
	// (and strips it again when decoding). It has no effect on "gpt2".
	AddSpacePrefix bool

	// Name is general.name. llama.cpp uses it for one per-model quirk that is
	// reproduced here: for Phi-3 models the whitespace right of special tokens
	// is dropped when special tokens are parsed.
	Name string
}

// modelKind is the tokenizer algorithm.
type modelKind int

const (
	kindSPM modelKind = iota
	kindBPE
)

// token attribute bits (llama_token_attr); more than one can be set once the
// llama.cpp fix-ups have run.
type attr uint16

const (
	attrNormal attr = 1 << iota
	attrUnknown
	attrControl
	attrUserDefined
	attrUnused
	attrByte
	attrLStrip
	attrRStrip
)

func typeAttr(t TokenType) attr {
	switch t {
	case TypeNormal:
		return attrNormal
	case TypeUnknown:
		return attrUnknown
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeUnused:
		return attrUnused
	case TypeByte:
		return attrByte
	}
	return 0
}

// mergeKey packs a pair of token ids for the merge table.
func mergeKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

type merge struct {
	rank int32
	id   int32 // the token the pair becomes
}

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	kind   modelKind
	model  string
	pre    string
	tokens []string
	scores []float32
	types  []TokenType
	attrs  []attr
	ids    map[string]int32

	// longest is the length in bytes of the longest token: no token
	// covers more of a text, so a text of n bytes has at least
	// n/longest tokens (EncodeAtMost relies on it).
	longest int

	// pieces[id] is what id decodes to when special tokens are not rendered;
	// control and unknown tokens decode to "".
	pieces []string

	bos, eos, eot, eom, unk, pad int32
	addBOS, addEOS, addSpace     bool
	eog                          map[int32]bool

	// special holds control, user-defined and unknown tokens, longest first,
	// for splitting text on them before tokenization.
	special []int32

	// SPM: id of the <0xXX> token for every byte, or NoToken.
	// BPE: id of the byte's GPT-2 character, or NoToken.
	byteTok [256]int32

	// BPE only.
	merges       map[uint64]merge
	pretok       *preTokenizer
	preKnown     bool
	ignoreMerges bool

	warnings []string
}

// New checks v and builds a tokenizer from it. It never keeps references to
// v's slices that it might mutate; v can be reused by the caller.
func New(v *Vocab) (*Tokenizer, error) {
	if v == nil {
		return nil, errors.New("tokenizer: nil vocabulary")
	}
	t := &Tokenizer{model: v.Model, pre: v.Pre, addBOS: v.AddBOS, addEOS: v.AddEOS}
	switch v.Model {
	case "llama":
		t.kind = kindSPM
		t.addSpace = v.AddSpacePrefix
	case "gpt2":
		t.kind = kindBPE
	case "":
		return nil, errors.New("tokenizer: no tokenizer model named (tokenizer.ggml.model)")
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q (want \"llama\" or \"gpt2\")", v.Model)
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if int64(n) > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: %d tokens is too many", n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}

	t.tokens = make([]string, n)
	t.scores = make([]float32, n)
	t.types = make([]TokenType, n)
	t.attrs = make([]attr, n)
	t.ids = make(map[string]int32, n)
	for i, s := range v.Tokens {
		if s == "" {
			// llama.cpp keeps empty tokens under a placeholder name so that
			// they cannot collide with anything a text produces.
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		if j, dup := t.ids[s]; dup {
			return nil, fmt.Errorf("tokenizer: duplicate token %q at ids %d and %d", s, j, i)
		}
		t.ids[s] = int32(i)
		t.tokens[i] = s
		t.longest = max(t.longest, len(s), utf8.UTFMax)
		typ := TypeNormal
		if v.Types != nil {
			typ = v.Types[i]
			if typ < TypeUndefined || typ > TypeByte {
				return nil, fmt.Errorf("tokenizer: token %d %q has invalid type %d", i, s, typ)
			}
		}
		t.types[i] = typ
		t.attrs[i] = typeAttr(typ)
		if v.Scores != nil {
			t.scores[i] = v.Scores[i]
		}
	}

	check := func(name string, id int32) (int32, error) {
		if id == NoToken {
			return NoToken, nil
		}
		if id < 0 || int(id) >= n {
			return 0, fmt.Errorf("tokenizer: %s token id %d out of range [0, %d)", name, id, n)
		}
		return id, nil
	}
	var err error
	for _, s := range []struct {
		name string
		src  int32
		dst  *int32
	}{
		{"BOS", v.BOS, &t.bos}, {"EOS", v.EOS, &t.eos}, {"EOT", v.EOT, &t.eot},
		{"EOM", v.EOM, &t.eom}, {"UNK", v.UNK, &t.unk}, {"PAD", v.PAD, &t.pad},
	} {
		if *s.dst, err = check(s.name, s.src); err != nil {
			return nil, err
		}
	}
	if t.addBOS && t.bos == NoToken {
		return nil, errors.New("tokenizer: add_bos_token is set but there is no BOS token")
	}
	if t.addEOS && t.eos == NoToken {
		return nil, errors.New("tokenizer: add_eos_token is set but there is no EOS token")
	}

	switch t.kind {
	case kindSPM:
		t.initSPMBytes()
	case kindBPE:
		if err := t.initBPE(v.Merges); err != nil {
			return nil, err
		}
	}
	t.fixAttrs(v.Name)
	t.buildPieces()
	t.buildSpecial()
	return t, nil
}

// initSPMBytes finds the <0xXX> byte-fallback tokens.
func (t *Tokenizer) initSPMBytes() {
	for b := 0; b < 256; b++ {
		t.byteTok[b] = NoToken
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteTok[b] = id
		} else if id, ok := t.ids[string([]byte{byte(b)})]; ok {
			// llama.cpp falls back to the byte itself as a piece.
			t.byteTok[b] = id
		}
	}
}

// initBPE builds the byte table, the merge table and the pre-tokenizer.
func (t *Tokenizer) initBPE(merges []string) error {
	for b := 0; b < 256; b++ {
		t.byteTok[b] = NoToken
		if id, ok := t.ids[byteChar[b]]; ok {
			t.byteTok[b] = id
		}
	}
	if len(merges) == 0 {
		return errors.New("tokenizer: gpt2 vocabulary without merges (tokenizer.ggml.merges)")
	}
	t.merges = make(map[uint64]merge, len(merges))
	for rank, m := range merges {
		// llama.cpp splits at the first space after the first byte, so a
		// left part may itself start with a space.
		sp := -1
		if len(m) > 1 {
			if i := strings.IndexByte(m[1:], ' '); i >= 0 {
				sp = i + 1
			}
		}
		if sp < 0 {
			return fmt.Errorf("tokenizer: merge %d %q is not two pieces separated by a space", rank, m)
		}
		l, r := m[:sp], m[sp+1:]
		li, ok1 := t.ids[l]
		ri, ok2 := t.ids[r]
		if !ok1 || !ok2 {
			return fmt.Errorf("tokenizer: merge %d %q names a piece that is not a token", rank, m)
		}
		id, ok := t.ids[l+r]
		if !ok {
			return fmt.Errorf("tokenizer: merge %d %q makes %q, which is not a token", rank, m, l+r)
		}
		k := mergeKey(li, ri)
		if _, dup := t.merges[k]; !dup { // the first (best) rank wins
			t.merges[k] = merge{rank: int32(rank), id: id}
		}
	}
	p, known, ignoreMerges := lookupPre(t.pre)
	t.pretok, t.preKnown, t.ignoreMerges = p, known, ignoreMerges
	if !known {
		name := t.pre
		if name == "" {
			name = "(none)"
		}
		t.warnings = append(t.warnings, fmt.Sprintf(
			"tokenizer: unknown pre-tokenizer %q; using %q, tokenization may differ from the model's", name, p.name))
	}
	return nil
}
