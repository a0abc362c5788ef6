// Package synth writes GGUF models of a chosen shape with seeded random
// weights, so tests and benchmarks can run architectures and tensor types
// for which no trained model ships with the project.
package synth

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Spec describes a model. Zero fields take the defaults noted.
type Spec struct {
	Arch    string       // "llama" (default) or "qwen2"
	Dim     int          // default 64
	Blocks  int          // default 2
	Heads   int          // default 4
	KVHeads int          // default Heads/2
	FFN     int          // default 3*Dim
	Context int          // default 256
	Type    tensor.DType // type of the 2-D weights; default F32
	// EmbedType is the type of token_embd.weight; default Type.
	EmbedType tensor.DType
	Tied      bool    // no output.weight: the embedding doubles as classifier
	RopeBase  float32 // default 10000
	RopeScale float32 // linear scaling factor; 0 means none
	RopeFreqs bool    // add a Llama 3 style rope_freqs.weight
	Std       float64 // weight standard deviation; default 0.02
	Seed      uint64
	// Vocab supplies the tokenizer metadata (all "tokenizer." keys are
	// copied). Nil means a byte-level SentencePiece vocabulary of 259 + 253
	// tokens, enough to spell any text.
	Vocab *gguf.File
	// VocabSize is the size of the generated vocabulary when Vocab is nil;
	// default 512, at least 259 (the byte tokens).
	VocabSize int
	// TypeFor, if set, picks the type of each 2-D weight by tensor name and
	// block index (-1 for tensors outside blocks), given Type as the
	// default: the hook for mixes such as Q4_K_M.
	TypeFor func(name string, block int, def tensor.DType) tensor.DType
	Name    string // general.name
}

func (s *Spec) defaults() {
	if s.Arch == "" {
		s.Arch = "llama"
	}
	if s.Dim == 0 {
		s.Dim = 64
	}
	if s.Blocks == 0 {
		s.Blocks = 2
	}
	if s.Heads == 0 {
		s.Heads = 4
	}
	if s.KVHeads == 0 {
		s.KVHeads = max(1, s.Heads/2)
	}
	if s.FFN == 0 {
		s.FFN = 3 * s.Dim
	}
	if s.Context == 0 {
		s.Context = 256
	}
	if s.EmbedType == 0 {
		s.EmbedType = s.Type
	}
	if s.RopeBase == 0 {
		s.RopeBase = 10000
	}
	if s.Std == 0 {
		s.Std = 0.02
	}
	if s.Name == "" {
		s.Name = "synthetic-" + s.Arch
	}
}

// Write generates the model and writes it to path.
func Write(path string, spec Spec) error {
	w, err := Build(spec)
	if err != nil {
		return err
	}
	return w.WriteFile(path)
}

// Build generates the model into a gguf.Writer.
func Build(spec Spec) (*gguf.Writer, error) {
	s := spec
	s.defaults()
	if s.Dim%s.Heads != 0 || s.Heads%s.KVHeads != 0 {
		return nil, fmt.Errorf("synth: dim %d, heads %d, kv heads %d do not divide", s.Dim, s.Heads, s.KVHeads)
	}
	w := gguf.NewWriter()
	a := s.Arch
	w.SetKV("general.architecture", a)
	w.SetKV("general.name", s.Name)
	w.SetKV(a+".context_length", uint32(s.Context))
	w.SetKV(a+".embedding_length", uint32(s.Dim))
	w.SetKV(a+".block_count", uint32(s.Blocks))
	w.SetKV(a+".feed_forward_length", uint32(s.FFN))
	w.SetKV(a+".attention.head_count", uint32(s.Heads))
	w.SetKV(a+".attention.head_count_kv", uint32(s.KVHeads))
	w.SetKV(a+".rope.dimension_count", uint32(s.Dim/s.Heads))
	w.SetKV(a+".rope.freq_base", s.RopeBase)
	w.SetKV(a+".attention.layer_norm_rms_epsilon", float32(1e-5))
	if s.RopeScale != 0 {
		w.SetKV(a+".rope.scaling.type", "linear")
		w.SetKV(a+".rope.scaling.factor", s.RopeScale)
	}
	w.SetKV("general.file_type", uint32(fileType(s.Type)))
	vocab := 0
	if s.Vocab != nil {
		for _, kv := range s.Vocab.KV {
			if len(kv.Key) > 10 && kv.Key[:10] == "tokenizer." {
				w.SetKV(kv.Key, kv.Value)
			}
		}
		toks, _ := s.Vocab.Strings("tokenizer.ggml.tokens")
		vocab = len(toks)
	} else {
		vocab = byteVocab(w, max(s.VocabSize, 512))
	}
	if vocab == 0 {
		return nil, fmt.Errorf("synth: vocabulary has no tokens")
	}

	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	hd := s.Dim / s.Heads
	kvDim := s.KVHeads * hd
	add := func(name string, typ tensor.DType, shape ...int64) error {
		if s.TypeFor != nil && len(shape) == 2 {
			typ = s.TypeFor(name, blockOf(name), typ)
		}
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * s.Std)
		}
		return addTensor(w, name, typ, shape, vals)
	}
	ones := func(name string, n int) error {
		vals := make([]float32, n)
		for i := range vals {
			// Norm weights near 1, not exactly 1, so a missing norm shows.
			vals[i] = float32(1 + 0.1*rng.NormFloat64())
		}
		return addTensor(w, name, tensor.F32, []int64{int64(n)}, vals)
	}
	steps := []func() error{
		func() error { return add("token_embd.weight", s.EmbedType, int64(s.Dim), int64(vocab)) },
		func() error { return ones("output_norm.weight", s.Dim) },
	}
	if !s.Tied {
		steps = append(steps, func() error { return add("output.weight", s.Type, int64(s.Dim), int64(vocab)) })
	}
	if s.RopeFreqs {
		steps = append(steps, func() error {
			f := make([]float32, hd/2)
			for i := range f {
				f[i] = 1 + float32(i)*0.5
			}
			return addTensor(w, "rope_freqs.weight", tensor.F32, []int64{int64(hd / 2)}, f)
		})
	}
	for b := 0; b < s.Blocks; b++ {
		p := "blk." + strconv.Itoa(b) + "."
		steps = append(steps,
			func() error { return ones(p+"attn_norm.weight", s.Dim) },
			func() error { return add(p+"attn_q.weight", s.Type, int64(s.Dim), int64(s.Dim)) },
			func() error { return add(p+"attn_k.weight", s.Type, int64(s.Dim), int64(kvDim)) },
			func() error { return add(p+"attn_v.weight", s.Type, int64(s.Dim), int64(kvDim)) },
			func() error { return add(p+"attn_output.weight", s.Type, int64(s.Dim), int64(s.Dim)) },
			func() error { return ones(p+"ffn_norm.weight", s.Dim) },
			func() error { return add(p+"ffn_gate.weight", s.Type, int64(s.Dim), int64(s.FFN)) },
			func() error { return add(p+"ffn_up.weight", s.Type, int64(s.Dim), int64(s.FFN)) },
			func() error { return add(p+"ffn_down.weight", s.Type, int64(s.FFN), int64(s.Dim)) },
		)
		if s.Arch == "qwen2" {
			steps = append(steps,
				func() error { return add(p+"attn_q.bias", tensor.F32, int64(s.Dim)) },
				func() error { return add(p+"attn_k.bias", tensor.F32, int64(kvDim)) },
				func() error { return add(p+"attn_v.bias", tensor.F32, int64(kvDim)) },
			)
		}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	return w, nil
}

func addTensor(w *gguf.Writer, name string, typ tensor.DType, shape []int64, vals []float32) error {
	size, err := typ.RowSize(int64(len(vals)))
	if err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	data := make([]byte, size)
	// Rows quantize independently: split them across cores, since the
	// k-quant searches are slow and big models have billions of weights.
	cols := int(shape[0])
	rows := len(vals) / cols
	rowBytes := int(size) / rows
	workers := min(runtime.NumCPU(), rows)
	per := (rows + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		lo, hi := i*per, min((i+1)*per, rows)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tensor.Quantize(typ, vals[lo*cols:hi*cols], data[lo*rowBytes:hi*rowBytes])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
	}
	return w.AddTensor(name, typ, shape, data)
}

// fileType maps a weight type to llama.cpp's general.file_type (llama_ftype).
func fileType(t tensor.DType) int {
	switch t {
	case tensor.F32:
		return 0
	case tensor.F16:
		return 1
	case tensor.Q4_0:
		return 2
	case tensor.Q4_1:
		return 3
	case tensor.Q8_0:
		return 7
	case tensor.Q5_0:
		return 8
	case tensor.Q5_1:
		return 9
	case tensor.Q4_K:
		return 15 // Q4_K_M
	case tensor.Q5_K:
		return 17 // Q5_K_M
	case tensor.Q6_K:
		return 18
	case tensor.BF16:
		return 32
	}
	return 0
}

// blockOf returns N for a tensor named "blk.N....", else -1.
func blockOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	num, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(num)
	if err != nil {
		return -1
	}
	return n
}

// byteVocab writes a SentencePiece vocabulary of size tokens: <unk>, <s>,
// </s>, the 256 byte tokens, then pieces of the words below so that English
// text tokenizes into more than bytes, then filler pieces. It returns the
// vocabulary size.
func byteVocab(w *gguf.Writer, size int) int {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
	}
	seen := map[string]bool{}
	for _, t := range tokens {
		seen[t] = true
	}
	addPiece := func(p string) {
		if !seen[p] && len(tokens) < size {
			seen[p] = true
			tokens = append(tokens, p)
			types = append(types, 1)
		}
	}
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()" {
		addPiece(string(c))
	}
	addPiece("▁")
	for _, word := range words {
		for i := 2; i <= len(word); i++ {
			addPiece("▁" + word[:i-1])
			addPiece(word[:i])
		}
		addPiece("▁" + word)
	}
	for i := 0; len(tokens) < size; i++ {
		addPiece(fmt.Sprintf("▁w%d", i))
	}
	scores := make([]float32, len(tokens))
	for i := range scores {
		if types[i] == 1 {
			scores[i] = -float32(i) // earlier pieces merge first
		}
	}
	w.SetKV("tokenizer.ggml.model", "llama")
	w.SetKV("tokenizer.ggml.tokens", tokens)
	w.SetKV("tokenizer.ggml.scores", scores)
	w.SetKV("tokenizer.ggml.token_type", types)
	w.SetKV("tokenizer.ggml.bos_token_id", uint32(1))
	w.SetKV("tokenizer.ggml.eos_token_id", uint32(2))
	w.SetKV("tokenizer.ggml.unknown_token_id", uint32(0))
	w.SetKV("tokenizer.ggml.add_bos_token", true)
	return len(tokens)
}

var words = []string{"the", "and", "once", "upon", "time", "there", "was", "little", "girl", "boy", "named",
	"she", "he", "they", "play", "hello", "world", "king", "lived", "day", "said", "happy", "big", "dog", "cat"}
