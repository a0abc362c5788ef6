package gguf

// Summary describes a model file: its format, architecture and shape, its
// tensors' types, its vocabulary and chat template, the well-known
// metadata keys read once so that tools need not know them. It is what
// `hearth inspect` prints, and its JSON with --json.
type Summary struct {
	File          string         `json:"file"` // the path, as the caller gives it
	Version       uint32         `json:"gguf_version"`
	SizeBytes     int64          `json:"size_bytes"`
	Architecture  string         `json:"architecture"`
	Name          string         `json:"name,omitempty"`
	Parameters    int64          `json:"parameters"`
	Types         map[string]int `json:"tensor_types"` // tensor type -> how many tensors have it
	ContextLength int64          `json:"context_length,omitempty"`
	Embedding     int64          `json:"embedding_length,omitempty"`
	Blocks        int64          `json:"block_count,omitempty"`
	Heads         int64          `json:"head_count,omitempty"`
	KVHeads       int64          `json:"head_count_kv,omitempty"`
	TokenizerType string         `json:"tokenizer,omitempty"`
	PreTokenizer  string         `json:"pre_tokenizer,omitempty"`
	VocabSize     int            `json:"vocab_size"`
	BOS           *int64         `json:"bos_token_id,omitempty"`
	EOS           *int64         `json:"eos_token_id,omitempty"`
	ChatTemplate  string         `json:"chat_template,omitempty"`
	// Tensors and Metadata are filled only when SummaryOptions asks.
	Tensors  []TensorSummary `json:"tensors,omitempty"`
	Metadata map[string]any  `json:"metadata,omitempty"` // every key, its value as read
}

// TensorSummary is one tensor of a Summary.
type TensorSummary struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
}

// SummaryOptions say what a Summary lists beyond the well-known keys.
type SummaryOptions struct {
	Tensors  bool // every tensor
	Metadata bool // every metadata key
}

// Summarize describes f, found at path. Keys the file lacks are left at
// their zero values (BOS and EOS nil).
func (f *File) Summarize(path string, o SummaryOptions) *Summary {
	arch := f.Architecture()
	s := &Summary{File: path, Version: f.Version, SizeBytes: f.Size(), Architecture: arch, Types: map[string]int{}}
	s.Name, _ = f.String("general.name")
	s.Parameters = f.Parameters()
	for i := range f.Tensors {
		t := &f.Tensors[i]
		s.Types[t.Type.String()]++
		if o.Tensors {
			s.Tensors = append(s.Tensors, TensorSummary{t.Name, t.Type.String(), t.Shape, t.Size})
		}
	}
	s.ContextLength, _ = f.Int(arch + ".context_length")
	s.Embedding, _ = f.Int(arch + ".embedding_length")
	s.Blocks, _ = f.Int(arch + ".block_count")
	s.Heads, _ = f.Int(arch + ".attention.head_count")
	s.KVHeads, _ = f.Int(arch + ".attention.head_count_kv")
	s.TokenizerType, _ = f.String("tokenizer.ggml.model")
	s.PreTokenizer, _ = f.String("tokenizer.ggml.pre")
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	s.VocabSize = len(toks)
	if v, ok := f.Int("tokenizer.ggml.bos_token_id"); ok {
		s.BOS = &v
	}
	if v, ok := f.Int("tokenizer.ggml.eos_token_id"); ok {
		s.EOS = &v
	}
	s.ChatTemplate, _ = f.String("tokenizer.chat_template")
	if o.Metadata {
		s.Metadata = make(map[string]any, len(f.KV))
		for _, kv := range f.KV {
			s.Metadata[kv.Key] = kv.Value
		}
	}
	return s
}
