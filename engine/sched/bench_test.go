package sched_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/flywheel/finetune"
)

// BenchmarkAdapters measures aggregate decode throughput with 4 and 16
// streams spread over 0, 1, 4 and 8 distinct rank-16 adapters on the
// attention projections (finetune.DefaultTargets), every stream decoding
// 64 tokens past any end of generation. It reports tokens/s, the ratio to
// the throughput without adapters (measured in rounds interleaved with the
// adapters' own), and the adapters' memory.
// The model is HEARTH_BENCH_MODEL (`hearth gen-model --shape 200m --type
// Q8_0` writes the issue's), else a tiny random one so that -benchtime 1x
// runs in seconds.
func BenchmarkAdapters(b *testing.B) {
	path := os.Getenv("HEARTH_BENCH_MODEL")
	if path == "" {
		path = filepath.Join(b.TempDir(), "tiny.gguf")
		sh, _ := synth.ShapeNamed("tiny256")
		spec, err := sh.Spec("Q8_0", 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := synth.Write(path, spec); err != nil {
			b.Fatal(err)
		}
	}
	m, err := engine.Load(path, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ads := make([]*model.Adapter, 8)
	for i := range ads {
		ads[i] = randomAdapter(b, m.Net, 16, finetune.DefaultTargets, 1, uint64(i))
	}
	// Fault the mapped weights in before the first measure.
	if _, err := m.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 2}, nil); err != nil {
		b.Fatal(err)
	}
	const perStream = 64
	for _, streams := range []int{4, 16} {
		for _, k := range []int{0, 1, 4, 8} {
			b.Run(fmt.Sprintf("streams=%d/adapters=%d", streams, k), func(b *testing.B) {
				s, err := sched.New(m, sched.Config{MaxSeqs: streams, NoPrefixCache: true})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Shutdown(context.Background())
				round := func(k int) {
					var wg sync.WaitGroup
					for i := range streams {
						req := engine.Request{Prompt: []int32{1, int32(10 + i)}, MaxTokens: perStream, IgnoreEOS: true}
						if k > 0 {
							req.Adapter = ads[i%k]
						}
						wg.Go(func() {
							if _, err := s.Generate(context.Background(), req, nil); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
				var bytes int64
				for _, a := range ads[:k] {
					bytes += a.Bytes()
				}
				// With adapters, every round follows an untimed round without
				// them, and the ratio compares the two: the machine is shared,
				// and rounds side by side see the same neighbours.
				var without time.Duration
				for b.Loop() {
					if k > 0 {
						b.StopTimer()
						t0 := time.Now()
						round(0)
						without += time.Since(t0)
						b.StartTimer()
					}
					round(k)
				}
				b.ReportMetric(float64(streams*perStream*b.N)/b.Elapsed().Seconds(), "tokens/s")
				b.ReportMetric(float64(bytes)/(1<<20), "adapter-MiB")
				if k > 0 {
					b.ReportMetric(without.Seconds()/b.Elapsed().Seconds(), "x-base")
				}
			})
		}
	}
}
