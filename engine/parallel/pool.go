// Package parallel runs loops across a fixed set of persistent worker
// goroutines, so the engine's hot loops pay no goroutine start-up per
// operation.
package parallel

import (
	"runtime"
	"sync"
)

// Pool splits index ranges across workers. The zero value is not usable;
// call New. A Pool runs one For at a time; For calls from several goroutines
// are serialised.
type Pool struct {
	n    int
	mu   sync.Mutex     // serialises For
	done sync.WaitGroup // the running For's tasks; guarded by mu
	work []chan task
	wg   sync.WaitGroup
	once sync.Once
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	done   *sync.WaitGroup
}

// New starts a pool of n workers; n <= 0 means runtime.NumCPU().
// The calling goroutine takes part in every For, so n-1 goroutines start.
func New(n int) *Pool {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{n: n, work: make([]chan task, n-1)}
	for i := range p.work {
		ch := make(chan task, 1)
		p.work[i] = ch
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			// Workers block on their channel between operations rather
			// than spin, so a busy neighbour process slows the engine
			// gracefully instead of collapsing it.
			for t := range ch {
				t.fn(t.lo, t.hi)
				t.done.Done()
			}
		}()
	}
	return p
}

// Threads returns the number of workers, the caller included.
func (p *Pool) Threads() int { return p.n }

// For calls fn over [0, n) split into at most Threads() contiguous ranges of
// at least grain indices each, and returns when all have finished.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	parts := min(p.n, (n+grain-1)/grain)
	if parts <= 1 {
		fn(0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	done := &p.done
	done.Add(parts - 1)
	chunk := (n + parts - 1) / parts
	for i := 1; i < parts; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, n)
		if lo >= hi {
			done.Done()
			continue
		}
		p.work[i-1] <- task{fn: fn, lo: lo, hi: hi, done: done}
	}
	fn(0, min(chunk, n))
	done.Wait()
}

// Close stops the workers and waits for them. It is safe to call more than
// once.
func (p *Pool) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		for _, ch := range p.work {
			close(ch)
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}
