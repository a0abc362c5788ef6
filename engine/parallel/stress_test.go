package parallel

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestStress runs many short For calls, with pauses that let the workers
// fall asleep between some of them, and checks every index runs once.
func TestStress(t *testing.T) {
	for _, threads := range []int{2, 3, 4} {
		p := New(threads)
		var sum atomic.Int64
		for i := 0; i < 20000; i++ {
			n := 1 + i%7
			p.For(n, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
			if i%97 == 0 {
				time.Sleep(30 * time.Microsecond) // workers go to sleep
			}
			if got := sum.Swap(0); got != int64(n) {
				t.Fatalf("threads %d call %d: %d indices run; want %d", threads, i, got, n)
			}
		}
		p.Close()
	}
}
