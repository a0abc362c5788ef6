package bench

import (
	"time"
	"unsafe"

	"github.com/hearth-ai/hearth/engine/parallel"
)

// Bandwidth measures how fast the pool's threads can stream memory: it
// reads a buffer of size bytes (much larger than the caches) reps times,
// split across the threads, and returns the best rate in bytes per second.
// Token generation reads every weight once per token, so this bounds it:
// tokens/s <= bandwidth / bytes of weights.
func Bandwidth(p *parallel.Pool, size int, reps int) float64 {
	words := make([]uint64, size/8)
	for i := range words {
		words[i] = uint64(i) // touch every page so it is really mapped
	}
	sums := make([]uint64, p.Threads()*8) // one cache line per part
	best := 0.0
	for r := 0; r < reps; r++ {
		start := time.Now()
		p.For(len(words), len(words)/p.Threads()/4+1, func(lo, hi int) {
			var s0, s1, s2, s3 uint64
			w := words[lo:hi]
			for len(w) >= 4 {
				s0 += w[0]
				s1 += w[1]
				s2 += w[2]
				s3 += w[3]
				w = w[4:]
			}
			for _, x := range w {
				s0 += x
			}
			sums[(lo*8/len(words))%len(sums)] += s0 + s1 + s2 + s3
		})
		if rate := float64(len(words)*int(unsafe.Sizeof(words[0]))) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	return best
}
