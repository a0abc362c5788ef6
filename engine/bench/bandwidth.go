package bench

import (
	"time"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Bandwidth measures how fast the pool's threads can stream memory: it
// reads a buffer of size bytes (much larger than the caches) reps times,
// split across the threads, with the same vector loads the kernels use, and
// returns the best rate in bytes per second. Token generation reads every
// weight once per token, so this bounds it: tokens/s <= bandwidth / bytes of
// weights.
func Bandwidth(p *parallel.Pool, size int, reps int) float64 {
	x := make([]float32, size/4)
	for i := range x {
		x[i] = float32(i & 7) // touch every page so it is really mapped
	}
	ones := make([]float32, 1<<14) // stays in L1
	for i := range ones {
		ones[i] = 1
	}
	sink := make([]float32, p.Threads()*16)
	best := 0.0
	for r := 0; r < reps; r++ {
		start := time.Now()
		p.For(len(x)/len(ones), 1, func(lo, hi int) {
			var s float32
			for c := lo; c < hi; c++ {
				s += tensor.DotF32(ones, x[c*len(ones):(c+1)*len(ones)])
			}
			sink[(lo*p.Threads()/(len(x)/len(ones)))*16] += s
		})
		if rate := float64(len(x)/len(ones)*len(ones)*4) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	return best
}
