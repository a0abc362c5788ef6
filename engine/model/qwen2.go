package model

import "github.com/hearth-ai/hearth/engine/gguf"

// Qwen2 (and Qwen2.5) is a Llama-style decoder with biases on the Q, K and V
// projections and NeoX-style RoPE (first half of each head rotated with the
// second half).
func init() { Register("qwen2", buildQwen2) }

func buildQwen2(f *gguf.File) (*Transformer, error) {
	return buildDecoder(f, "qwen2", RopeNeoX, true)
}
