package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

func randLoRA(r *rand.Rand, rank, in, out int) *LoRA {
	l := &LoRA{Rank: rank, A: make([]float32, rank*in), B: make([]float32, out*rank), Scale: float32(0.5 + r.Float64())}
	for i := range l.A {
		l.A[i] = float32(r.NormFloat64() / math.Sqrt(float64(in)))
	}
	for i := range l.B {
		l.B[i] = float32(r.NormFloat64())
	}
	return l
}

// TestLowRankJobMatchesReference runs the grouped kernels over batches of
// runs (lengths 1 to 64 tokens, ranks 1 to 32, tokens without an update
// between them, up to three projections of different widths reading one
// input) and compares every output with the per-token reference,
// LoRA.apply, at every kernel level and on one and two threads.
func TestLowRankJobMatchesReference(t *testing.T) {
	const in = 96
	outs := []int{96, 40, 200} // a width that is no multiple of 16, one below it
	type run struct {
		lo, n int
		ls    []*LoRA // by target; nil: this run has no update there
	}
	r := rand.New(rand.NewPCG(5, 6))
	var cases [][]run
	for c := 0; c < 12; c++ {
		var runs []run
		lo := 0
		for k := 0; k < 1+c%5; k++ {
			lo += r.IntN(3) // tokens of sequences without an adapter
			n := []int{1, 1, 2, 7, 9, 64}[r.IntN(6)]
			if c == 0 {
				n = 64
			}
			ru := run{lo: lo, n: n}
			rank := []int{1, 3, 8, 9, 16, 17, 32}[r.IntN(7)]
			for _, out := range outs {
				if r.IntN(4) == 0 {
					ru.ls = append(ru.ls, nil)
					continue
				}
				ru.ls = append(ru.ls, randLoRA(r, rank, in, out))
			}
			runs = append(runs, ru)
			lo += n
		}
		cases = append(cases, runs)
	}
	for _, lvl := range []tensor.Level{tensor.LevelPortable, tensor.CPULevel()} {
		prev := tensor.SetLevel(lvl)
		for _, threads := range []int{1, 2} {
			p := parallel.New(threads)
			j := newLowRankJob()
			for ci, runs := range cases {
				tokens := runs[len(runs)-1].lo + runs[len(runs)-1].n + 1
				x := make([]float32, tokens*in)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				var got, want [][]float32
				j.reset(x, in)
				for ti, out := range outs {
					y := make([]float32, tokens*out)
					for i := range y {
						y[i] = float32(r.NormFloat64())
					}
					w := append([]float32(nil), y...)
					got, want = append(got, y), append(want, w)
					j.target(y, out)
					for _, ru := range runs {
						if l := ru.ls[ti]; l != nil {
							j.seg(ru.lo, ru.n, newLowRank(l, out))
							u := make([]float32, ru.n*l.Rank)
							l.apply(serialPool, w[ru.lo*out:], x[ru.lo*in:], u, ru.n, in, out)
						}
					}
				}
				j.run(p)
				for ti, out := range outs {
					for i := range got[ti] {
						if d := math.Abs(float64(got[ti][i] - want[ti][i])); d > 1e-5*(1+math.Abs(float64(want[ti][i]))) {
							t.Fatalf("%s, %d threads, case %d, target %d (width %d): token %d row %d = %g, reference %g",
								lvl, threads, ci, ti, out, i/out, i%out, got[ti][i], want[ti][i])
						}
					}
				}
			}
			p.Close()
		}
		tensor.SetLevel(prev)
	}
}

// TestLowRankJobAllocs checks that a reused job allocates nothing.
func TestLowRankJobAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const in, out, n = 64, 64, 16
	p := parallel.New(2)
	defer p.Close()
	a, b := newLowRank(randLoRA(r, 16, in, out), out), newLowRank(randLoRA(r, 4, in, out), out)
	x, y := make([]float32, n*in), make([]float32, n*out)
	j := newLowRankJob()
	step := func() {
		j.reset(x, in)
		j.target(y, out)
		j.seg(0, 3, a)
		j.seg(5, 11, b)
		j.run(p)
	}
	step()
	if allocs := testing.AllocsPerRun(50, step); allocs != 0 {
		t.Errorf("a grouped update allocates %v times; want 0", allocs)
	}
}

// BenchmarkLowRankJob times a decode step's q update for 16 sequences in
// pairs sharing 8 rank-16 adapters, at the 200M shape's width.
func BenchmarkLowRankJob(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	const dim, seqs, adapters = 1024, 16, 8
	p := parallel.New(0)
	defer p.Close()
	lrs := make([]*lowRank, adapters)
	for i := range lrs {
		lrs[i] = newLowRank(randLoRA(r, 16, dim, dim), dim)
	}
	x, y := make([]float32, seqs*dim), make([]float32, seqs*dim)
	j := newLowRankJob()
	b.Run(fmt.Sprintf("seqs=%d/adapters=%d", seqs, adapters), func(b *testing.B) {
		for b.Loop() {
			j.reset(x, dim)
			j.target(y, dim)
			for i := 0; i < adapters; i++ {
				j.seg(i*seqs/adapters, seqs/adapters, lrs[i])
			}
			j.run(p)
		}
	})
}
