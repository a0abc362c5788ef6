package parallel

import (
	"sync/atomic"
	"testing"
)

func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := New(threads)
		for _, n := range []int{0, 1, 2, 7, 100, 1001} {
			for _, grain := range []int{0, 1, 16, 5000} {
				hits := make([]int32, n)
				p.For(n, grain, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads %d n %d grain %d: index %d visited %d times", threads, n, grain, i, h)
					}
				}
			}
		}
		p.Close()
		p.Close()
	}
}

func TestForAllocs(t *testing.T) {
	p := New(4)
	defer p.Close()
	var sink atomic.Int64
	fn := func(lo, hi int) { sink.Add(int64(hi - lo)) }
	allocs := testing.AllocsPerRun(100, func() { p.For(1000, 1, fn) })
	if allocs != 0 {
		t.Errorf("For allocates %v times per call; want 0", allocs)
	}
}

func BenchmarkFor(b *testing.B) {
	p := New(0)
	defer p.Close()
	fn := func(lo, hi int) {}
	for b.Loop() {
		p.For(1024, 1, fn)
	}
}
