package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
)

var (
	qwen2Once sync.Once
	qwen2Tok  *Tokenizer
	qwen2Err  error
)

// writeQwen2GGUF builds a vocabulary-only GGUF for the Qwen2 tokenizer from
// its HF vocab.json and merges.txt, with the three special tokens appended
// as control tokens, as llama.cpp's converter would.
func writeQwen2GGUF(path string) error {
	dir := filepath.Join(modelsDir, "qwen2-tokenizer")
	raw, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return err
	}
	var vocab map[string]int
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return err
	}
	tokens := make([]string, len(vocab))
	for s, id := range vocab {
		tokens[id] = s
	}
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = int32(TypeNormal)
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		tokens = append(tokens, s)
		types = append(types, int32(TypeControl))
	}
	mf, err := os.Open(filepath.Join(dir, "merges.txt"))
	if err != nil {
		return err
	}
	defer mf.Close()
	var merges []string
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#version") {
			continue
		}
		merges = append(merges, line)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "qwen2")
	w.SetKV("tokenizer.ggml.model", "gpt2")
	w.SetKV("tokenizer.ggml.pre", "qwen2")
	w.SetKV("tokenizer.ggml.tokens", tokens)
	w.SetKV("tokenizer.ggml.token_type", types)
	w.SetKV("tokenizer.ggml.merges", merges)
	w.SetKV("tokenizer.ggml.bos_token_id", uint32(151643))
	w.SetKV("tokenizer.ggml.eos_token_id", uint32(151645))
	w.SetKV("tokenizer.ggml.padding_token_id", uint32(151643))
	w.SetKV("tokenizer.ggml.add_bos_token", false)
	return w.WriteFile(path)
}

// loadQwen2 builds the Qwen2 tokenizer through a GGUF file once per run.
func loadQwen2(t testing.TB) *Tokenizer {
	t.Helper()
	qwen2Once.Do(func() {
		dir, err := os.MkdirTemp("", "qwen2-vocab")
		if err != nil {
			qwen2Err = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "qwen2.gguf")
		if qwen2Err = writeQwen2GGUF(path); qwen2Err != nil {
			return
		}
		f, err := gguf.Open(path)
		if err != nil {
			qwen2Err = err
			return
		}
		defer f.Close()
		qwen2Tok, qwen2Err = FromGGUF(f)
	})
	if qwen2Err != nil {
		t.Fatalf("qwen2 vocabulary: %v", qwen2Err)
	}
	return qwen2Tok
}
