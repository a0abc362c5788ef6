package model_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// randomSet draws a rank-r synth.Adapter on a random half of m's
// projection kinds (at least one), its scale times k.
func randomSet(tb testing.TB, r *rand.Rand, m *model.Transformer, rank int, k float32) map[string]*model.LoRA {
	tb.Helper()
	var kinds []string
	for len(kinds) == 0 {
		for _, k := range []string{"q", "k", "v", "o", "gate", "up", "down"} {
			if r.IntN(2) == 0 {
				kinds = append(kinds, k)
			}
		}
	}
	return scaled(tb, m, rank, kinds, k, r.Uint64())
}

// scaled is synth.Adapter's set of updates, their scale times k.
func scaled(tb testing.TB, m *model.Transformer, rank int, kinds []string, k float32, seed uint64) map[string]*model.LoRA {
	tb.Helper()
	a, err := synth.Adapter(m, rank, kinds, seed)
	if err != nil {
		tb.Fatal(err)
	}
	set := map[string]*model.LoRA{}
	for name, l := range a.LoRA {
		c := *l
		c.Scale *= k
		set[name] = &c
	}
	return set
}

// reference returns m with set on its projections the plain way, by
// setting Linear.LoRA, which runs the simple per-token update
// (LoRA.apply) instead of the grouped kernels.
func reference(m *model.Transformer, set map[string]*model.LoRA) *model.Transformer {
	c := *m
	c.Layers = slices.Clone(m.Layers)
	for _, p := range c.Projections() {
		p.LoRA = set[p.Name]
	}
	return &c
}

// TestAdapterBatchMatchesReference runs one batched step over sequences
// with different adapters (ranks 1 to 32), some sharing one and adjacent,
// some with none in between, prompts of 1 to 64 tokens, on F32 and Q8_0
// models, and checks each sequence's logits against the sequence run alone
// through the per-token reference. It checks too that every adapter moves
// its sequences' logits, or the comparison would prove nothing.
func TestAdapterBatchMatchesReference(t *testing.T) {
	for _, typ := range []tensor.DType{tensor.F32, tensor.Q8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			m := loadSynth(t, synth.Spec{Dim: 64, Heads: 4, KVHeads: 2, FFN: 128, Type: typ, Std: 0.05, Seed: 3})
			p := parallel.New(2)
			defer p.Close()
			m.SetPool(p)
			r := rand.New(rand.NewPCG(11, uint64(typ)))
			ranks := []int{1, 32, 8, 17, 3}
			sets := make([]map[string]*model.LoRA, len(ranks))
			ads := make([]*model.Adapter, len(ranks))
			for i, rank := range ranks {
				sets[i] = randomSet(t, r, m, rank, 1)
				var err error
				if ads[i], err = m.NewAdapter(sets[i]); err != nil {
					t.Fatal(err)
				}
			}
			// Sequence i runs adapter pick[i] (-1: none) over a prompt of
			// length lens[i].
			pick := []int{0, 0, -1, 1, 2, -1, -1, 3, 4, 0, 1}
			lens := []int{1, 1, 5, 64, 1, 1, 2, 9, 1, 3, 1}
			total := 0
			for _, n := range lens {
				total += n
			}
			sc := m.NewScratch(total, len(pick))
			seqs := make([]model.Seq, len(pick))
			prompts := make([][]int32, len(pick))
			for i := range seqs {
				prompts[i] = make([]int32, lens[i])
				for k := range prompts[i] {
					prompts[i][k] = int32(1 + r.IntN(m.Vocab-1))
				}
				seqs[i] = model.Seq{Cache: m.NewCache(128), Tokens: prompts[i], Logits: true}
				if pick[i] >= 0 {
					seqs[i].Adapter = ads[pick[i]]
				}
			}
			got, err := m.ForwardBatch(sc, seqs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range seqs {
				ref := m
				if pick[i] >= 0 {
					ref = reference(m, sets[pick[i]])
				}
				want, err := ref.Forward(context.Background(), ref.NewState(128), prompts[i])
				if err != nil {
					t.Fatal(err)
				}
				d, scale := maxDiff(got[i], want), maxAbs(want)
				t.Logf("sequence %d (adapter %d, %d tokens): max difference %.3g of logits up to %.3g", i, pick[i], lens[i], d, scale)
				if d > 1e-4*scale {
					t.Errorf("sequence %d (adapter %d, %d tokens): logits differ from the reference by %g (logits up to %g)", i, pick[i], lens[i], d, scale)
				}
				if pick[i] < 0 {
					continue
				}
				plain, err := m.Forward(context.Background(), m.NewState(128), prompts[i])
				if err != nil {
					t.Fatal(err)
				}
				if moved := maxDiff(plain, want); moved < 1e-2*scale {
					t.Errorf("sequence %d: adapter %d moved the logits by only %g", i, pick[i], moved)
				}
			}
		})
	}
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func maxAbs(a []float32) float64 {
	var d float64
	for _, v := range a {
		d = max(d, math.Abs(float64(v)))
	}
	return d
}

// TestAdapterDecodeAllocs checks that a decode step with an adapter, per
// sequence or attached with WithLoRA, allocates nothing.
func TestAdapterDecodeAllocs(t *testing.T) {
	m := loadSynth(t, synth.Spec{Dim: 64, Heads: 4, KVHeads: 2, FFN: 128, Seed: 4})
	p := parallel.New(2)
	defer p.Close()
	m.SetPool(p)
	set := randomSet(t, rand.New(rand.NewPCG(1, 1)), m, 16, 1)
	ad, err := m.NewAdapter(set)
	if err != nil {
		t.Fatal(err)
	}
	attached, err := m.WithLoRA(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		net  *model.Transformer
		ad   *model.Adapter
	}{{"per-sequence", m, ad}, {"attached", attached, nil}, {"both", attached, ad}} {
		s := tc.net.NewState(0)
		s.Adapter = tc.ad
		tok := []int32{1}
		ctx := context.Background()
		if _, err := tc.net.Forward(ctx, s, tok); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := tc.net.Forward(ctx, s, tok); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: a decode step allocates %v times; want 0", tc.name, allocs)
		}
	}
}

// TestAttachedMatchesReference checks WithLoRA, which runs the grouped
// kernels, against the same updates through the reference.
func TestAttachedMatchesReference(t *testing.T) {
	for _, typ := range []tensor.DType{tensor.F32, tensor.Q8_0} {
		m := loadSynth(t, synth.Spec{Dim: 64, Heads: 4, KVHeads: 2, FFN: 128, Type: typ, Std: 0.05, Seed: 5})
		set := randomSet(t, rand.New(rand.NewPCG(2, 2)), m, 16, 1)
		attached, err := m.WithLoRA(set)
		if err != nil {
			t.Fatal(err)
		}
		ref := reference(m, set)
		prompt := []int32{1, 20, 30, 40, 50}
		for _, n := range []int{len(prompt), 1} { // a prompt, then a decode step
			got, err := attached.Forward(context.Background(), attached.NewState(64), prompt[:n])
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Forward(context.Background(), ref.NewState(64), prompt[:n])
			if err != nil {
				t.Fatal(err)
			}
			if d, scale := maxDiff(got, want), maxAbs(want); d > 1e-4*scale {
				t.Errorf("%s, %d tokens: attached logits differ from the reference by %g (logits up to %g)", typ, n, d, scale)
			}
		}
	}
}

// BenchmarkAdapterStep times one decode step of 4 and 16 sequences
// without adapters and with 1, 4 or 8 rank-16 adapters on q, k, v and o
// (the sequences spread evenly over them), alternately, at a fixed
// position of 32 cached tokens, and reports the fastest step of each and
// their ratio: the fastest of many steps is what the kernels cost when no
// neighbour takes the cores, so the ratio holds on a shared machine, where
// whole-run throughput does not. The model is HEARTH_BENCH_MODEL, else a
// small random one.
func BenchmarkAdapterStep(b *testing.B) {
	var m *model.Transformer
	if path := os.Getenv("HEARTH_BENCH_MODEL"); path != "" {
		m = openModel(b, path)
	} else {
		path := filepath.Join(b.TempDir(), "m.gguf")
		if err := synth.Write(path, synth.Spec{Dim: 256, Heads: 4, FFN: 768, Type: tensor.Q8_0}); err != nil {
			b.Fatal(err)
		}
		m = openModel(b, path)
	}
	p := parallel.New(0)
	defer p.Close()
	m.SetPool(p)
	const pos = 32
	ads := make([]*model.Adapter, 8)
	for i := range ads {
		var err error
		if ads[i], err = m.NewAdapter(scaled(b, m, 16, []string{"q", "k", "v", "o"}, 1, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	for _, seqs := range []int{4, 16} {
		for _, k := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("seqs=%d/adapters=%d", seqs, k), func(b *testing.B) {
				sc := m.NewScratch(pos, seqs)
				plain, adapted := make([]model.Seq, seqs), make([]model.Seq, seqs)
				for i := range plain {
					c := m.NewCache(pos + 1)
					if _, err := m.ForwardBatch(sc, []model.Seq{{Cache: c, Tokens: make([]int32, pos)}}); err != nil {
						b.Fatal(err)
					}
					plain[i] = model.Seq{Cache: c, Tokens: []int32{int32(i + 1)}, Logits: true}
					adapted[i] = plain[i]
					adapted[i].Adapter = ads[i*k/seqs]
				}
				step := func(batch []model.Seq) time.Duration {
					t0 := time.Now()
					if _, err := m.ForwardBatch(sc, batch); err != nil {
						b.Fatal(err)
					}
					d := time.Since(t0)
					for _, s := range batch {
						s.Cache.Truncate(pos)
					}
					return d
				}
				best := [2]time.Duration{time.Hour, time.Hour}
				for b.Loop() {
					for range 10 {
						best[0] = min(best[0], step(plain))
						best[1] = min(best[1], step(adapted))
					}
				}
				b.ReportMetric(float64(best[0].Microseconds())/1e3, "ms-base")
				b.ReportMetric(float64(best[1].Microseconds())/1e3, "ms-adapters")
				b.ReportMetric(best[0].Seconds()/best[1].Seconds(), "x-base")
			})
		}
	}
}
