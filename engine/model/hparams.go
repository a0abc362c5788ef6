package model

import (
	"fmt"
	"math"

	"github.com/hearth-ai/hearth/engine/gguf"
)

// RopeStyle says which elements RoPE rotates together.
type RopeStyle int

const (
	// RopeNorm rotates adjacent pairs (x[2i], x[2i+1]), as llama.cpp's
	// llama conversion expects.
	RopeNorm RopeStyle = iota
	// RopeNeoX rotates x[i] with x[i+d/2], as GPT-NeoX and Qwen2 do.
	RopeNeoX
)

// Config holds a decoder's hyperparameters.
type Config struct {
	Arch       string
	Dim        int     // embedding width
	Blocks     int     // transformer blocks
	Heads      int     // query heads
	KVHeads    int     // key/value heads (GQA when < Heads)
	HeadDim    int     // width of one head
	FFN        int     // hidden width of the feed-forward network
	Vocab      int     // rows of the embedding and output matrices
	Context    int     // trained context length
	NormEps    float32 // RMSNorm epsilon
	RopeDim    int     // leading elements of each head that RoPE rotates
	RopeBase   float64 // RoPE frequency base (theta)
	RopeScale  float64 // linear RoPE scaling: positions are multiplied by this (1 = none)
	RopeStyle  RopeStyle
	RopeFactor []float32 // optional per-frequency divisors (Llama 3 rope_freqs)
}

// hparams reads the keys shared by llama-family architectures, which GGUF
// stores under "<arch>.".
func hparams(f *gguf.File, arch string) (Config, error) {
	c := Config{Arch: arch, RopeScale: 1}
	geti := func(key string, dst *int, required bool) error {
		v, ok := f.Int(arch + "." + key)
		if !ok {
			if required {
				return fmt.Errorf("missing metadata %s.%s", arch, key)
			}
			return nil
		}
		if v <= 0 || v > 1<<24 {
			return fmt.Errorf("metadata %s.%s = %d is out of range", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for _, k := range []struct {
		key string
		dst *int
		req bool
	}{
		{"embedding_length", &c.Dim, true},
		{"block_count", &c.Blocks, true},
		{"attention.head_count", &c.Heads, true},
		{"feed_forward_length", &c.FFN, true},
		{"context_length", &c.Context, false},
		{"attention.head_count_kv", &c.KVHeads, false},
		{"attention.key_length", &c.HeadDim, false},
		{"rope.dimension_count", &c.RopeDim, false},
	} {
		if err := geti(k.key, k.dst, k.req); err != nil {
			return c, err
		}
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if c.RopeDim == 0 {
		c.RopeDim = c.HeadDim
	}
	if c.Context == 0 {
		c.Context = 2048
	}
	c.NormEps = 1e-5
	if v, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	c.RopeBase = 10000
	if v, ok := f.Float(arch + ".rope.freq_base"); ok {
		c.RopeBase = v
	}
	typ, _ := f.String(arch + ".rope.scaling.type")
	factor, hasFactor := f.Float(arch + ".rope.scaling.factor")
	if !hasFactor {
		// Older files store the linear scale directly.
		if v, ok := f.Float(arch + ".rope.scale_linear"); ok {
			typ, factor, hasFactor = "linear", v, true
		}
	}
	switch typ {
	case "", "none":
	case "linear":
		if hasFactor && factor > 0 {
			c.RopeScale = 1 / factor
		}
	default:
		return c, fmt.Errorf("%w: rope scaling type %q", ErrUnsupported, typ)
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%d heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return fmt.Errorf("rope dimension %d does not fit head dimension %d", c.RopeDim, c.HeadDim)
	case c.RopeBase <= 0 || math.IsNaN(c.RopeBase) || math.IsInf(c.RopeBase, 0):
		return fmt.Errorf("rope freq base %v", c.RopeBase)
	case !(c.NormEps > 0) || c.NormEps > 1:
		return fmt.Errorf("rms epsilon %v", c.NormEps)
	}
	return nil
}
