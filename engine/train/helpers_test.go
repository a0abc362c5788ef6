package train

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/synth"
)

// synthModel writes and loads a random-weight model of spec.
func synthModel(t testing.TB, spec synth.Spec) *model.Transformer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := model.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinySpec is a model small enough for finite differences in float32:
// GQA (4 query heads on 2 key/value heads), two blocks.
func tinySpec(arch string) synth.Spec {
	return synth.Spec{Arch: arch, Dim: 32, Blocks: 2, Heads: 4, KVHeads: 2, FFN: 48, Context: 64, Std: 0.2, Seed: 11, VocabSize: 300}
}

// randomSeq is n tokens with every token after the first a target, in
// segments of the given lengths (nil: one).
func randomSeq(rng *rand.Rand, vocab, n int, segs []int) Sequence {
	s := Sequence{Tokens: make([]int32, n), Loss: make([]bool, n)}
	for i := range s.Tokens {
		s.Tokens[i] = int32(rng.IntN(vocab))
		s.Loss[i] = i > 0
	}
	if segs != nil {
		s.Seg = make([]int32, n)
		i := 0
		for id, l := range segs {
			for j := 0; j < l && i < n; j++ {
				s.Seg[i] = int32(id)
				s.Loss[i] = j > 0
				i++
			}
		}
	}
	return s
}

func allKinds() []string { return append([]string(nil), Kinds...) }
