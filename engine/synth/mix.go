package synth

import (
	"fmt"
	"strings"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// Q4KM picks types as llama.cpp's Q4_K_M does with no importance matrix:
// Q4_K, except Q6_K for the output matrix and for attn_v and ffn_down in
// the first and last eighth of the blocks and every third block between.
func Q4KM(blocks int) func(name string, block int, def tensor.DType) tensor.DType {
	moreBits := func(i int) bool {
		return i < blocks/8 || i >= 7*blocks/8 || (i-blocks/8)%3 == 2
	}
	return func(name string, block int, _ tensor.DType) tensor.DType {
		switch {
		case name == "output.weight":
			return tensor.Q6_K
		case block >= 0 && (strings.HasSuffix(name, "attn_v.weight") || strings.HasSuffix(name, "ffn_down.weight")) && moreBits(block):
			return tensor.Q6_K
		}
		return tensor.Q4_K
	}
}

// Shape is a named model shape used for benchmarks.
type Shape struct {
	Name                                      string
	Dim, Blocks, Heads, KVHeads, FFN, VocabSz int
}

// Shapes are the llama-shaped models of the performance reference.
var Shapes = []Shape{
	{Name: "tinyllama-1.1b", Dim: 2048, Blocks: 22, Heads: 32, KVHeads: 4, FFN: 5632, VocabSz: 32000},
	{Name: "200m", Dim: 1024, Blocks: 12, Heads: 16, KVHeads: 4, FFN: 2816, VocabSz: 32000},
	{Name: "tiny256", Dim: 256, Blocks: 2, Heads: 4, KVHeads: 2, FFN: 768, VocabSz: 512},
}

// ShapeNames lists the names of Shapes, in order.
func ShapeNames() []string {
	names := make([]string, len(Shapes))
	for i, s := range Shapes {
		names[i] = s.Name
	}
	return names
}

// ShapeNamed returns the shape of Shapes called name; the error lists the
// names there are.
func ShapeNamed(name string) (Shape, error) {
	for _, s := range Shapes {
		if s.Name == name {
			return s, nil
		}
	}
	return Shape{}, fmt.Errorf("unknown shape %q (shapes: %s)", name, strings.Join(ShapeNames(), ", "))
}

// Spec returns the spec of a shape with the given weight type, where
// "Q4_K_M" selects the Q4KM mix.
func (sh Shape) Spec(typ string, seed uint64) (Spec, error) {
	s := Spec{Dim: sh.Dim, Blocks: sh.Blocks, Heads: sh.Heads, KVHeads: sh.KVHeads, FFN: sh.FFN,
		VocabSize: sh.VocabSz, Context: 2048, Seed: seed, Name: sh.Name + "-" + strings.ToLower(typ)}
	if strings.EqualFold(typ, "Q4_K_M") {
		s.Type = tensor.Q4_K
		s.TypeFor = Q4KM(sh.Blocks)
		return s, nil
	}
	t, err := tensor.ParseDType(typ)
	if err != nil {
		return s, err
	}
	s.Type = t
	return s, nil
}
