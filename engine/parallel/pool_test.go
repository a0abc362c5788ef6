package parallel

import (
	"fmt"
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

// TestForPanic: a panic in any part of a For reaches the caller, where it
// can be recovered, instead of ending the process from a worker; the pool
// keeps working afterwards.
func TestForPanic(t *testing.T) {
	p := New(4)
	defer p.Close()
	for _, bad := range []int{0, 500, 999} { // the caller's part, a worker's, the last worker's
		got := func() (v any) {
			defer func() { v = recover() }()
			p.For(1000, 1, func(lo, hi int) {
				if lo <= bad && bad < hi {
					panic(fmt.Sprintf("index %d", bad))
				}
			})
			return nil
		}()
		pe, ok := got.(*Panic)
		if !ok || pe.Value != fmt.Sprintf("index %d", bad) || len(pe.Stack) == 0 {
			t.Fatalf("panic at %d: recovered %v, want a *Panic with its value and stack", bad, got)
		}
		var sum atomic.Int64
		p.For(1000, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
		if sum.Load() != 1000 {
			t.Fatalf("after a panic the pool covered %d of 1000 indices", sum.Load())
		}
	}
}
