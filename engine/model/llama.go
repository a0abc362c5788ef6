package model

import (
	"fmt"

	"github.com/hearth-ai/hearth/engine/gguf"
)

// Llama covers Llama 2 and 3, Mistral, TinyLlama, SmolLM and DeepSeek-LLM:
// llama.cpp's converter permutes the Q and K weights so that RoPE rotates
// adjacent pairs.
func init() { Register("llama", buildLlama) }

func buildLlama(f *gguf.File) (*Transformer, error) {
	return buildDecoder(f, "llama", RopeNorm, false)
}

// buildDecoder binds the tensors of a Llama-style decoder. withBias binds
// the optional Q, K and V biases that Qwen2 has.
func buildDecoder(f *gguf.File, arch string, style RopeStyle, withBias bool) (*Transformer, error) {
	c, err := hparams(f, arch)
	if err != nil {
		return nil, err
	}
	c.RopeStyle = style
	b := &binder{f: f}

	embd, ok := f.Tensor("token_embd.weight")
	if !ok || len(embd.Shape) != 2 {
		return nil, fmt.Errorf("missing or malformed tensor token_embd.weight")
	}
	c.Vocab = int(embd.Shape[1])
	if int(embd.Shape[0]) != c.Dim {
		return nil, fmt.Errorf("token_embd.weight has width %d, embedding_length is %d", embd.Shape[0], c.Dim)
	}
	if v, ok := f.Float32s("rope_freqs.weight"); ok {
		c.RopeFactor = v // some converters store it as metadata
	}
	m := &Transformer{Config: c}
	m.Embed = b.matrix("token_embd.weight", c.Vocab, c.Dim)
	m.OutNorm = b.vector("output_norm.weight", c.Dim)
	m.Output = b.optMatrix("output.weight", c.Vocab, c.Dim)
	if m.Output == nil {
		m.Output = m.Embed // tied embeddings
	}
	if rf := b.optVector("rope_freqs.weight", c.RopeDim/2); rf != nil {
		m.RopeFactor = rf
	}
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.Layers = make([]Layer, c.Blocks)
	for i := range m.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		L := &m.Layers[i]
		L.AttnNorm = b.vector(p+"attn_norm.weight", c.Dim)
		L.Q.W = b.matrix(p+"attn_q.weight", qDim, c.Dim)
		L.K.W = b.matrix(p+"attn_k.weight", kvDim, c.Dim)
		L.V.W = b.matrix(p+"attn_v.weight", kvDim, c.Dim)
		L.O.W = b.matrix(p+"attn_output.weight", c.Dim, qDim)
		if withBias {
			L.Q.Bias = b.optVector(p+"attn_q.bias", qDim)
			L.K.Bias = b.optVector(p+"attn_k.bias", kvDim)
			L.V.Bias = b.optVector(p+"attn_v.bias", kvDim)
		}
		L.FFNNorm = b.vector(p+"ffn_norm.weight", c.Dim)
		if _, moe := f.Tensor(p + "ffn_gate_exps.weight"); moe {
			return nil, fmt.Errorf("%w: mixture-of-experts layers", ErrUnsupported)
		}
		L.Gate.W = b.matrix(p+"ffn_gate.weight", c.FFN, c.Dim)
		L.Up.W = b.matrix(p+"ffn_up.weight", c.FFN, c.Dim)
		L.Down.W = b.matrix(p+"ffn_down.weight", c.Dim, c.FFN)
		if b.err != nil {
			break
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	m.init()
	return m, nil
}
