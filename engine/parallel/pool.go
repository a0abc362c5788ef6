// Package parallel runs loops across a fixed set of persistent worker
// goroutines, so the engine's hot loops pay no goroutine start-up per
// operation.
package parallel

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// How long an idle worker, and a caller waiting for its workers, poll
// before they block. A decode step runs a few hundred short operations in a
// row: waking a blocked goroutine costs tens of microseconds in a VM, as
// much as the operation itself, so a short poll lets the second core take
// its share. Blocking after it keeps a busy neighbour process from stalling
// the engine (long spins, as in llama.cpp, collapse when another process
// takes a core).
const (
	workerPoll = 20 * time.Microsecond
	callerPoll = 10 * time.Microsecond
)

// waitingBit in Pool.state marks a caller blocked on wakeUp; the low bits
// count the running For's unfinished tasks. One atomic word for both lets
// the worker that finishes last see, in the same operation, whether it
// must wake the caller, so no wake-up can leak into the next For.
const waitingBit = 1 << 62

// Pool splits index ranges across workers. The zero value is not usable;
// call New. A Pool runs one For at a time; For calls from several goroutines
// are serialised.
type Pool struct {
	n       int
	mu      sync.Mutex // serialises For and Close
	workers []*worker
	state   atomic.Int64  // unfinished tasks | waitingBit
	wakeUp  chan struct{} // wakes the caller; capacity 1
	wg      sync.WaitGroup
	once    sync.Once
	// panicked holds the first panic of a worker's task in the running
	// For, for For to raise again on its caller's goroutine, where the
	// caller can recover it (a panic left in a worker would end the
	// process).
	panicked atomic.Pointer[Panic]
}

// Panic is a panic raised in a For's function, raised again by For on
// the calling goroutine with the stack where it happened.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string {
	return fmt.Sprintf("panic in a parallel loop: %v\n%s", p.Value, p.Stack)
}

// worker is one persistent goroutine. Its state word says whether it is
// polling (idle), has committed to sleeping, or has a task ready. The
// caller publishes a task and learns, in the same atomic swap, whether
// the worker sleeps and so needs a wake token; a worker that commits to
// sleeping always waits for that token. One word for both is what keeps
// a wake-up from reaching a later sleep: with a separate flag, a caller
// descheduled between publishing a task and clearing the flag can wake
// the worker's next sleep with no task to run.
type worker struct {
	state atomic.Int32
	job   task          // written by the caller before state becomes ready
	wake  chan struct{} // capacity 1
}

// Worker states.
const (
	idle     int32 = iota // polling for a task
	sleeping              // blocked on wake, or about to be
	ready                 // job holds a task
)

type task struct {
	fn     func(lo, hi int) // nil: stop
	lo, hi int
}

// New starts a pool of n workers; n <= 0 means runtime.NumCPU().
// The calling goroutine takes part in every For, so n-1 goroutines start.
func New(n int) *Pool {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{n: n, workers: make([]*worker, n-1), wakeUp: make(chan struct{}, 1)}
	for i := range p.workers {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers[i] = w
		p.wg.Add(1)
		go p.run(w)
	}
	return p
}

// run is a worker's loop.
func (p *Pool) run(w *worker) {
	defer p.wg.Done()
	for {
		t := w.next()
		if t.fn == nil {
			return
		}
		p.call(t)
		if p.state.Add(-1) == waitingBit {
			p.wakeUp <- struct{}{} // the last task, and the caller sleeps
		}
	}
}

// call runs a worker's task, keeping a panic for For to raise.
func (p *Pool) call(t task) {
	defer func() {
		if v := recover(); v != nil {
			p.panicked.CompareAndSwap(nil, &Panic{Value: v, Stack: debug.Stack()})
		}
	}()
	t.fn(t.lo, t.hi)
}

// next waits for the worker's next task: polling for workerPoll, then
// blocking until the caller wakes it.
func (w *worker) next() task {
	start := time.Now()
	for k := 1; ; k++ {
		if w.state.Load() == ready {
			return w.take()
		}
		if k%256 == 0 {
			if time.Since(start) > workerPoll {
				break
			}
			runtime.Gosched()
		}
	}
	if w.state.CompareAndSwap(idle, sleeping) {
		<-w.wake // give saw sleeping: the token is on its way
	}
	return w.take() // the state is ready: either the CAS failed or give woke us
}

// take takes the ready task and returns the worker to idle. The caller
// gives nothing more until this task is done, so the reset cannot lose a
// task.
func (w *worker) take() task {
	t := w.job
	w.state.Store(idle)
	return t
}

// give hands w a task.
func (w *worker) give(t task) {
	w.job = t
	if w.state.Swap(ready) == sleeping {
		w.wake <- struct{}{}
	}
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
	chunk := (n + parts - 1) / parts
	// Count every task before handing out any, so an early finisher
	// cannot see the count reach zero while others are still to come.
	tasks := 0
	for i := 1; i < parts && i*chunk < n; i++ {
		tasks++
	}
	p.state.Store(int64(tasks))
	for i := 1; i <= tasks; i++ {
		p.workers[i-1].give(task{fn: fn, lo: i * chunk, hi: min((i+1)*chunk, n)})
	}
	// The caller's own part must not unwind past the wait: the workers'
	// tasks would still be running when the next For reuses them.
	mine := callerPart(fn, 0, min(chunk, n))
	p.wait()
	if v := p.panicked.Swap(nil); v != nil {
		panic(v)
	}
	if mine != nil {
		panic(mine)
	}
}

// callerPart runs the caller's share of a For and returns its panic, if
// any, to be raised once the workers are done.
func callerPart(fn func(lo, hi int), lo, hi int) (p *Panic) {
	defer func() {
		if v := recover(); v != nil {
			p = &Panic{Value: v, Stack: debug.Stack()}
		}
	}()
	fn(lo, hi)
	return nil
}

// wait returns once every task of the running For has finished: polling
// for callerPoll, then blocking until the last worker wakes the caller.
func (p *Pool) wait() {
	start := time.Now()
	for k := 1; p.state.Load() != 0; k++ {
		if k%256 != 0 {
			continue
		}
		if time.Since(start) <= callerPoll {
			runtime.Gosched()
			continue
		}
		for {
			s := p.state.Load()
			if s == 0 {
				return
			}
			if p.state.CompareAndSwap(s, s|waitingBit) {
				break
			}
		}
		<-p.wakeUp
		p.state.Store(0)
		return
	}
}

// Close stops the workers and waits for them. It is safe to call more than
// once.
func (p *Pool) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		for _, w := range p.workers {
			w.give(task{})
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}
