package model_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/engine/tensor"
)

func loadSynth(t *testing.T, spec synth.Spec) *model.Transformer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	return openModel(t, path)
}

// openModel loads the model in the GGUF file at path, closed when the test
// ends.
func openModel(t testing.TB, path string) *model.Transformer {
	t.Helper()
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

// logprobs runs prompt then forced continuation tokens and returns the
// log-softmax after each step.
func logprobs(t *testing.T, m *model.Transformer, prompt, forced []int32) [][]float64 {
	t.Helper()
	s := m.NewState(0)
	logits, err := m.Forward(context.Background(), s, prompt)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float64
	for _, tok := range append(forced, -1) {
		lp := make([]float64, len(logits))
		norm := logSumExp(logits)
		for i, v := range logits {
			lp[i] = float64(v) - norm
		}
		out = append(out, lp)
		if tok < 0 {
			break
		}
		if logits, err = m.Forward(context.Background(), s, []int32{tok}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var (
	testPrompt = []int32{1, 300, 301, 302, 303, 304, 305, 306, 307, 308}
	testForced = []int32{400, 401, 402, 403, 404, 405, 406, 407}
)

// TestQuantizedAgreesWithF32 generates the same random model in several
// weight types and measures how far each one's next-token distributions
// move from the F32 original: the mean absolute log-probability difference
// over the vocabulary and 9 positions, relative to the spread of the F32
// log-probabilities. A type's weight error is measured too (relative rms
// error of quantizing Gaussian data). Through two blocks and the classifier
// the output error measured here is 2.4x to 3.2x the weight error for every
// type (Q8_0: 0.5% weights -> 1.6% output; Q4_K: 7% -> 20%), so the bound is
// 5x the type's own weight error. Weights in a wrong layout, or a different
// model, move the output by over 100%; the last case checks that the
// measure sees that.
func TestQuantizedAgreesWithF32(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		base := synth.Spec{Arch: arch, Dim: 256, Heads: 4, KVHeads: 2, FFN: 512, Std: 0.02, Seed: 7}
		ref := logprobs(t, loadSynth(t, base), testPrompt, testForced)
		spread := meanAbsDev(ref)
		for _, tc := range []struct {
			typ  tensor.DType
			seed uint64
		}{
			{tensor.F16, 7}, {tensor.BF16, 7}, {tensor.Q8_0, 7}, {tensor.Q6_K, 7},
			{tensor.Q5_K, 7}, {tensor.Q4_K, 7}, {tensor.Q4_0, 7},
			{tensor.Q8_0, 8}, // another model: must be far away
		} {
			spec := base
			spec.Type, spec.Seed = tc.typ, tc.seed
			got := logprobs(t, loadSynth(t, spec), testPrompt, testForced)
			d := meanAbsDiff(ref, got) / spread
			werr := weightError(t, tc.typ)
			t.Logf("%s %s: weight error %.4f, output error %.4f (%.1fx)", arch, tc.typ, werr, d, d/werr)
			if tc.seed != base.Seed {
				if d < 0.5 {
					t.Errorf("%s: a different model is only %.4f away; the measure cannot tell models apart", arch, d)
				}
				continue
			}
			if d > 5*werr {
				t.Errorf("%s %s: output error %.4f exceeds 5x the weight error %.4f", arch, tc.typ, d, werr)
			}
		}
	}
}

// weightError is the relative rms error of storing Gaussian data in typ.
func weightError(t *testing.T, typ tensor.DType) float64 {
	const n = 1 << 16
	x := make([]float32, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	size, _ := typ.RowSize(n)
	q := make([]byte, size)
	y := make([]float32, n)
	if err := tensor.Quantize(typ, x, q); err != nil {
		t.Fatal(err)
	}
	if err := tensor.Dequantize(typ, q, y); err != nil {
		t.Fatal(err)
	}
	var se, ss float64
	for i := range x {
		d := float64(y[i] - x[i])
		se += d * d
		ss += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(se / ss)
}

func meanAbsDev(a [][]float64) float64 {
	var sum float64
	var n int
	for _, row := range a {
		var mean float64
		for _, v := range row {
			mean += v
		}
		mean /= float64(len(row))
		for _, v := range row {
			sum += math.Abs(v - mean)
			n++
		}
	}
	return sum / float64(n)
}

func meanAbsDiff(a, b [][]float64) float64 {
	var sum float64
	var n int
	for i := range a {
		for j := range a[i] {
			sum += math.Abs(a[i][j] - b[i][j])
			n++
		}
	}
	return sum / float64(n)
}

// TestBatchedPrefillMatchesStepwise checks that a prompt run as one batch
// and token by token leave the same cache and logits: the batch path is an
// optimisation, not a different model.
func TestBatchedPrefillMatchesStepwise(t *testing.T) {
	for _, spec := range []synth.Spec{
		{Arch: "llama", Seed: 1},
		{Arch: "qwen2", Seed: 2, Tied: true},
		{Arch: "llama", Seed: 3, RopeFreqs: true, RopeScale: 4, Heads: 8, KVHeads: 2},
	} {
		m := loadSynth(t, spec)
		prompt := make([]int32, model.MaxBatch+13) // spans two batches
		for i := range prompt {
			prompt[i] = int32(3 + (i*37)%500)
		}
		a := m.NewState(0)
		la, err := m.Forward(context.Background(), a, prompt)
		if err != nil {
			t.Fatal(err)
		}
		la = append([]float32(nil), la...)
		b := m.NewState(0)
		var lb []float32
		for _, tok := range prompt {
			if lb, err = m.Forward(context.Background(), b, []int32{tok}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range la {
			if d := math.Abs(float64(la[i] - lb[i])); d > 1e-4 {
				t.Fatalf("%s: logit %d batched %v, stepwise %v", spec.Arch, i, la[i], lb[i])
			}
		}
	}
}

// TestVariantsChangeOutput guards the optional features: each must reach
// the forward pass (a feature silently ignored would leave logits equal).
func TestVariantsChangeOutput(t *testing.T) {
	base := synth.Spec{Arch: "llama", Seed: 5, Std: 0.1}
	ref := logprobs(t, loadSynth(t, base), testPrompt, nil)
	for name, mod := range map[string]func(*synth.Spec){
		"rope scaling": func(s *synth.Spec) { s.RopeScale = 8 },
		"rope freqs":   func(s *synth.Spec) { s.RopeFreqs = true },
		"rope base":    func(s *synth.Spec) { s.RopeBase = 500 },
	} {
		spec := base
		mod(&spec)
		got := logprobs(t, loadSynth(t, spec), testPrompt, nil)
		if meanAbsDiff(ref, got) < 1e-4 {
			t.Errorf("%s does not change the output", name)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "mamba")
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := model.Load(f); err == nil {
		t.Fatal("loading an unknown architecture succeeded")
	}
	// A model missing a tensor names it.
	sw, err := synth.Build(synth.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	sw.SetKV("llama.block_count", uint32(3)) // the file has 2 blocks
	path2 := filepath.Join(t.TempDir(), "y.gguf")
	if err := sw.WriteFile(path2); err != nil {
		t.Fatal(err)
	}
	f2, _ := gguf.Open(path2)
	defer f2.Close()
	if _, err := model.Load(f2); err == nil || !contains(err.Error(), "blk.2.attn_norm.weight") {
		t.Errorf("error %v should name the missing tensor", err)
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestForwardBatchMatchesSingle runs three sequences of different lengths
// and states (one prefilling, two decoding) through one batched step and
// checks each gets the logits it gets alone.
func TestForwardBatchMatchesSingle(t *testing.T) {
	m := loadSynth(t, synth.Spec{Arch: "qwen2", Seed: 11, Std: 0.05})
	prompts := [][]int32{{1, 5, 9, 200}, {1, 300}, {1, 7, 8, 9, 10, 11, 12}}
	next := [][]int32{{40, 41, 42}, {50}, {60, 61}}

	// Alone: each sequence's prompt, then its next tokens in one forward.
	var want [][]float32
	for i := range prompts {
		s := m.NewState(64)
		if _, err := m.Forward(context.Background(), s, prompts[i]); err != nil {
			t.Fatal(err)
		}
		l, err := m.Forward(context.Background(), s, next[i])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, append([]float32(nil), l...))
	}

	// Batched: prompts in one step, then all next tokens in another.
	sc := m.NewScratch(32, 3)
	caches := []*model.Cache{m.NewCache(64), m.NewCache(64), m.NewCache(64)}
	var seqs []model.Seq
	for i := range prompts {
		seqs = append(seqs, model.Seq{Cache: caches[i], Tokens: prompts[i]})
	}
	if _, err := m.ForwardBatch(sc, seqs); err != nil {
		t.Fatal(err)
	}
	seqs = seqs[:0]
	for i := range next {
		seqs = append(seqs, model.Seq{Cache: caches[i], Tokens: next[i], Logits: true})
	}
	got, err := m.ForwardBatch(sc, seqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		for j := range want[i] {
			if d := math.Abs(float64(want[i][j] - got[i][j])); d > 1e-4 {
				t.Fatalf("sequence %d logit %d: batched %v, alone %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	// Oversized batches are refused, not overrun.
	big := model.Seq{Cache: m.NewCache(64), Tokens: make([]int32, 33)}
	if _, err := m.ForwardBatch(sc, []model.Seq{big}); err == nil {
		t.Error("a 33-token batch in a 32-token scratch was accepted")
	}
}
