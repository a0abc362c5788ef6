package gguf_test

import (
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
)

func TestSummarize(t *testing.T) {
	f, err := gguf.Open(filepath.Join(modelsDir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Summarize("stories260K.gguf", gguf.SummaryOptions{})
	if s.File != "stories260K.gguf" || s.Architecture != "llama" || s.Parameters != 292800 || s.Types["F32"] != 48 ||
		s.Blocks != 5 || s.Embedding != 64 || s.Heads != 8 || s.KVHeads != 4 || s.VocabSize != 512 || s.SizeBytes != f.Size() {
		t.Errorf("summary %+v", s)
	}
	if s.Tensors != nil || s.Metadata != nil {
		t.Error("tensors or metadata listed without being asked for")
	}
	s = f.Summarize("", gguf.SummaryOptions{Tensors: true, Metadata: true})
	if len(s.Tensors) != len(f.Tensors) || len(s.Metadata) != len(f.KV) {
		t.Errorf("%d tensors, %d metadata keys; want %d, %d", len(s.Tensors), len(s.Metadata), len(f.Tensors), len(f.KV))
	}
	if s.Metadata["general.architecture"] != "llama" {
		t.Errorf("metadata general.architecture = %v", s.Metadata["general.architecture"])
	}

	v, err := gguf.Open(filepath.Join(modelsDir, "ggml-vocab-phi-3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	s = v.Summarize("", gguf.SummaryOptions{})
	if s.Architecture != "phi3" || s.VocabSize != 32064 || s.Parameters != 0 || len(s.Types) != 0 || s.BOS == nil {
		t.Errorf("vocabulary-only summary %+v", s)
	}
}
