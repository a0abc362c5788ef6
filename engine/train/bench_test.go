package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/hearth-ai/hearth/engine/bench"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
)

// BenchmarkTrain measures training throughput on the model file named by
// HEARTH_BENCH_MODEL (`hearth gen-model` writes the benchmark shapes):
// rank 16, all seven projections, 512-token sequences, HEARTH_BENCH_THREADS
// threads (default 2), HEARTH_BENCH_SEQ tokens a sequence (default 512). Its sub-benchmark pp512 is the engine's own prompt
// processing of the same 512 tokens, measured in the same run, for the
// ratio the issue sets (training tokens/s over pp512 tokens/s). The
// train sub-benchmark also reports the process's peak RSS beside the
// base file's size.
func BenchmarkTrain(b *testing.B) {
	path := os.Getenv("HEARTH_BENCH_MODEL")
	if path == "" {
		b.Skip("HEARTH_BENCH_MODEL names no model file")
	}
	f, err := gguf.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f)
	if err != nil {
		b.Fatal(err)
	}
	threads := 2
	if v := os.Getenv("HEARTH_BENCH_THREADS"); v != "" {
		if _, err := fmt.Sscan(v, &threads); err != nil {
			b.Fatal(err)
		}
	}
	pool := parallel.New(threads)
	defer pool.Close()
	m.SetPool(pool)
	n := 512
	if v := os.Getenv("HEARTH_BENCH_SEQ"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			b.Fatal(err)
		}
	}
	seq := randomSeq(rand.New(rand.NewPCG(1, 2)), m.Vocab, n, nil)
	ctx := context.Background()
	b.Run("train", func(b *testing.B) {
		tr, err := New(m, Config{Targets: allKinds(), Rank: 16, Alpha: 32, LR: 1e-4}, pool)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := tr.Backward(ctx, seq); err != nil {
				b.Fatal(err)
			}
			tr.Update()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		// The process's peak so far: run this sub-benchmark alone
		// (-bench Train/train) for the trainer's own.
		b.ReportMetric(float64(bench.PeakRSS())/(1<<20), "peak-RSS-MiB")
		if st, err := os.Stat(path); err == nil {
			b.ReportMetric(float64(st.Size())/(1<<20), "base-MiB")
		}
	})
	b.Run("pp", func(b *testing.B) {
		st := m.NewState(n)
		for i := 0; i < b.N; i++ {
			st.Reset()
			if _, err := m.Forward(ctx, st, seq.Tokens); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
	})
}
