package tokenizer

import (
	"errors"
	"fmt"

	"github.com/hearth-ai/hearth/engine/gguf"
)

// GGUF metadata keys.
const (
	keyModel    = "tokenizer.ggml.model"
	keyPre      = "tokenizer.ggml.pre"
	keyTokens   = "tokenizer.ggml.tokens"
	keyScores   = "tokenizer.ggml.scores"
	keyTypes    = "tokenizer.ggml.token_type"
	keyMerges   = "tokenizer.ggml.merges"
	keyAddBOS   = "tokenizer.ggml.add_bos_token"
	keyAddEOS   = "tokenizer.ggml.add_eos_token"
	keyAddSpace = "tokenizer.ggml.add_space_prefix"
	keyName     = "general.name"
	keyBOS      = "tokenizer.ggml.bos_token_id"
	keyEOS      = "tokenizer.ggml.eos_token_id"
	keyEOT      = "tokenizer.ggml.eot_token_id"
	keyEOM      = "tokenizer.ggml.eom_token_id"
	keyUNK      = "tokenizer.ggml.unknown_token_id"
	keyPAD      = "tokenizer.ggml.padding_token_id"
)

// VocabFromGGUF reads the tokenizer metadata of a GGUF file. Missing keys
// get llama.cpp's defaults: for "llama" BOS=1, EOS=2, UNK=0, add_bos and
// add_space_prefix on; for "gpt2" BOS=EOS=11 and add_bos only for the
// pre-tokenizers that want it. Special ids in the file that are out of range
// are ignored (the default stays), as llama.cpp does; the returned warnings
// say so.
func VocabFromGGUF(f *gguf.File) (*Vocab, []string, error) {
	var warn []string
	v := &Vocab{BOS: NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken}
	var ok bool
	if v.Model, ok = f.String(keyModel); !ok {
		return nil, nil, fmt.Errorf("tokenizer: gguf: missing or non-string %s", keyModel)
	}
	v.Pre, _ = f.String(keyPre)
	v.Name, _ = f.String(keyName)
	if v.Tokens, ok = f.Strings(keyTokens); !ok {
		return nil, nil, fmt.Errorf("tokenizer: gguf: missing or non-string-array %s", keyTokens)
	}
	if _, present := f.Get(keyScores); present {
		if v.Scores, ok = f.Float32s(keyScores); !ok {
			return nil, nil, fmt.Errorf("tokenizer: gguf: %s is not a float32 array", keyScores)
		}
	}
	if _, present := f.Get(keyTypes); present {
		raw, ok := f.Int32s(keyTypes)
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer: gguf: %s is not an int32 array", keyTypes)
		}
		v.Types = make([]TokenType, len(raw))
		for i, x := range raw {
			v.Types[i] = TokenType(x)
		}
	}
	if _, present := f.Get(keyMerges); present {
		if v.Merges, ok = f.Strings(keyMerges); !ok {
			return nil, nil, fmt.Errorf("tokenizer: gguf: %s is not a string array", keyMerges)
		}
	}

	switch v.Model {
	case "llama":
		v.BOS, v.EOS, v.UNK = 1, 2, 0
		v.AddBOS, v.AddSpacePrefix = true, true
	case "gpt2":
		v.BOS, v.EOS = 11, 11
		switch v.Pre {
		case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
			"jina-v5-nano", "tekken", "chameleon":
			v.AddBOS = true
		case "glm4", "chatglm-bpe":
			v.BOS = NoToken
		}
	}
	n := len(v.Tokens)
	for _, s := range []struct {
		key string
		dst *int32
	}{
		{keyBOS, &v.BOS}, {keyEOS, &v.EOS}, {keyEOT, &v.EOT},
		{keyEOM, &v.EOM}, {keyUNK, &v.UNK}, {keyPAD, &v.PAD},
	} {
		if *s.dst >= int32(n) {
			*s.dst = NoToken // a default that does not fit this vocabulary
		}
		x, ok := f.Uint(s.key)
		if !ok {
			continue
		}
		if x >= uint64(n) {
			warn = append(warn, fmt.Sprintf("tokenizer: %s = %d is out of range for %d tokens; ignored", s.key, x, n))
			continue
		}
		*s.dst = int32(x)
	}
	if b, ok := f.Bool(keyAddBOS); ok {
		v.AddBOS = b
	}
	if b, ok := f.Bool(keyAddEOS); ok {
		v.AddEOS = b
	}
	if b, ok := f.Bool(keyAddSpace); ok {
		v.AddSpacePrefix = b
	}
	return v, warn, nil
}

// FromGGUF builds the tokenizer described by a GGUF file's metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	if f == nil {
		return nil, errors.New("tokenizer: nil gguf file")
	}
	v, warn, err := VocabFromGGUF(f)
	if err != nil {
		return nil, err
	}
	t, err := New(v)
	if err != nil {
		return nil, err
	}
	t.warnings = append(warn, t.warnings...)
	return t, nil
}
