package sched

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
)

// loop is the scheduler's single goroutine: it owns the batch, the caches
// and the model's scratch, so none of them needs a lock.
type loop struct {
	s       *Scheduler
	net     *model.Transformer
	scratch *model.Scratch
	active  []*request
	kept    []*retained // finished sequences kept for prefix reuse, oldest first
	kvUsed  int         // capacity of every cache, live and kept
	rr      int         // round-robin start among prefilling sequences
	batch   []entry     // the step being built, grouped by adapter before it runs
	seqs    []model.Seq
	owners  []*request // owners[i] is the request of the i-th sequence that asks for logits
}

// entry is one request's share of a step.
type entry struct {
	r   *request
	seq model.Seq
}

// retained is a finished sequence's cache and the tokens in it.
type retained struct {
	cache   *model.Cache
	tokens  []int32
	adapter *model.Adapter // the keys and values depend on it
	used    time.Time
}

func newLoop(s *Scheduler) *loop {
	return &loop{s: s, net: s.m.Net, scratch: s.m.Net.NewScratch(s.cfg.BatchTokens, s.cfg.MaxSeqs)}
}

func (l *loop) run() {
	defer close(l.s.done)
	for {
		l.reap()
		l.admit()
		if len(l.active) == 0 {
			l.s.mu.Lock()
			idle := len(l.s.queue) == 0
			closing := l.s.closing
			l.s.mu.Unlock()
			if closing && idle {
				return
			}
			select {
			case <-l.s.wake:
			case <-l.s.hardStop:
				l.abandon()
				return
			}
			continue
		}
		select {
		case <-l.s.hardStop:
			l.abandon()
			return
		default:
		}
		l.step()
	}
}

// reap drops cancelled requests, queued or active, freeing their caches.
func (l *loop) reap() {
	l.s.mu.Lock()
	q := l.s.queue[:0]
	var gone []*request
	for _, r := range l.s.queue {
		if r.cancelled() != nil {
			gone = append(gone, r)
		} else {
			q = append(q, r)
		}
	}
	clear(l.s.queue[len(q):])
	l.s.queue = q
	l.s.mu.Unlock()
	for _, r := range gone {
		r.finish(r.dec.Result(), r.cancelled())
	}
	keep := l.active[:0]
	for _, r := range l.active {
		if err := r.cancelled(); err != nil {
			l.free(r.cache)
			r.finish(r.dec.Result(), err)
			continue
		}
		keep = append(keep, r)
	}
	clear(l.active[len(keep):])
	l.active = keep
	l.publish()
}

// admit moves queued requests into free slots while the KV budget allows,
// in arrival order.
func (l *loop) admit() {
	for len(l.active) < l.s.cfg.MaxSeqs {
		l.s.mu.Lock()
		if len(l.s.queue) == 0 {
			l.s.mu.Unlock()
			return
		}
		r := l.s.queue[0]
		l.s.mu.Unlock()
		placed, err := l.tryPlace(r)
		if err != nil {
			l.s.mu.Lock()
			l.s.queue = l.s.queue[1:]
			l.s.mu.Unlock()
			r.finish(r.dec.Result(), err)
			continue
		}
		if !placed {
			return // wait for a sequence to finish and free its cache
		}
		l.s.mu.Lock()
		l.s.queue = l.s.queue[1:]
		l.s.stats.PromptTokens += int64(len(r.req.Prompt))
		l.s.stats.PrefixHits += int64(r.prefilled)
		l.s.mu.Unlock()
		r.admitted = time.Now()
		l.active = append(l.active, r)
		l.s.log.Debug("admitted", "prompt", len(r.req.Prompt), "reused", r.prefilled, "queued_for", r.admitted.Sub(r.queued))
	}
	l.publish()
}

// tryPlace is place, with a panic turned into the request's error (the
// request leaves the queue, so it cannot fail again and again).
func (l *loop) tryPlace(r *request) (placed bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = l.internal("placing a request", v)
		}
	}()
	return l.place(r), nil
}

// internal logs a recovered panic and makes it the error of the requests
// it reached.
func (l *loop) internal(doing string, v any) error {
	var stack []byte
	if p, ok := v.(*parallel.Panic); ok {
		v, stack = p.Value, p.Stack
	} else {
		stack = debug.Stack()
	}
	l.s.log.Error("engine panic; the requests it reached fail, the node goes on", "while", doing, "panic", fmt.Sprint(v), "stack", string(stack))
	return fmt.Errorf("%w while %s: %v", ErrInternal, doing, v)
}

// place gives r a cache, reusing the longest cached prefix of its prompt,
// and reports false if the budget cannot hold it yet.
func (l *loop) place(r *request) bool {
	prompt := r.req.Prompt
	// At least the last prompt token must run, to produce logits.
	limit := len(prompt) - 1
	bestKept, bestLen := -1, 0
	var bestActive *request
	if !l.s.cfg.NoPrefixCache {
		for i, k := range l.kept {
			if k.adapter != r.req.Adapter {
				continue // another adapter's keys and values
			}
			if n := min(commonPrefix(k.tokens, prompt), limit); n > bestLen {
				bestKept, bestLen = i, n
			}
		}
		for _, a := range l.active {
			if a.req.Adapter != r.req.Adapter {
				continue
			}
			if n := min(commonPrefix(a.dec.Tokens()[:a.cache.Pos], prompt), limit); n > bestLen {
				bestKept, bestActive, bestLen = -1, a, n
			}
		}
	}
	// Take over a kept cache that is big enough: no copy at all.
	if bestKept >= 0 && l.kept[bestKept].cache.Capacity() >= r.need {
		k := l.kept[bestKept]
		l.kept = append(l.kept[:bestKept], l.kept[bestKept+1:]...)
		k.cache.Truncate(bestLen)
		r.cache, r.prefilled = k.cache, bestLen
		return true
	}
	var src *model.Cache
	switch {
	case bestKept >= 0:
		src = l.kept[bestKept].cache
	case bestActive != nil:
		src = bestActive.cache
	}
	if !l.reserve(r.need, src) {
		return false
	}
	c := l.net.NewCache(r.need)
	l.kvUsed += r.need
	if src != nil {
		c.CopyPrefix(src, bestLen)
		r.prefilled = bestLen
	}
	r.cache = c
	return true
}

// reserve evicts kept caches, oldest first, until need tokens fit the
// budget; it never evicts keep (the source of a prefix copy).
func (l *loop) reserve(need int, keep *model.Cache) bool {
	for l.kvUsed+need > l.s.cfg.KVTokens {
		i := 0
		for i < len(l.kept) && l.kept[i].cache == keep {
			i++
		}
		if i == len(l.kept) {
			return false
		}
		l.kvUsed -= l.kept[i].cache.Capacity()
		l.kept = append(l.kept[:i], l.kept[i+1:]...)
	}
	return true
}

// free returns a cache's tokens to the budget.
func (l *loop) free(c *model.Cache) {
	if c != nil {
		l.kvUsed -= c.Capacity()
	}
}

// keep retains a finished sequence's cache for prefix reuse, or frees it.
func (l *loop) keep(r *request) {
	if l.s.cfg.NoPrefixCache || r.cache.Pos == 0 {
		l.free(r.cache)
		return
	}
	toks := append([]int32(nil), r.dec.Tokens()[:r.cache.Pos]...)
	l.kept = append(l.kept, &retained{cache: r.cache, tokens: toks, adapter: r.req.Adapter, used: time.Now()})
}

// step runs one batch; a panic in it fails the batch's requests, frees
// their caches and leaves the loop running for the rest.
func (l *loop) step() {
	defer func() {
		if v := recover(); v != nil {
			err := l.internal("running a batch", v)
			for _, r := range l.active {
				if r.cache == nil {
					continue // finished in this batch before the panic
				}
				l.free(r.cache)
				r.cache = nil
				r.finish(r.dec.Result(), err)
			}
			clear(l.active)
			l.active = l.active[:0]
			l.publish()
		}
	}()
	l.runBatch()
}

// testHookBatch, when set by a test, runs before each batch with the
// number of active sequences (to inject a panic).
var testHookBatch func(active int)

// runBatch builds one batch (every decoding sequence's next token, then prompt
// chunks in turn, each part grouped by adapter), runs it, and hands each
// sequence its logits.
func (l *loop) runBatch() {
	if testHookBatch != nil {
		testHookBatch(len(l.active))
	}
	budget := l.s.cfg.BatchTokens
	clear(l.batch)
	l.batch = l.batch[:0]
	for _, r := range l.active {
		if r.prefilled == len(r.req.Prompt) {
			l.batch = append(l.batch, entry{r, model.Seq{Cache: r.cache, Tokens: []int32{r.pending}, Logits: true, Adapter: r.req.Adapter}})
			budget--
		}
	}
	decoding := len(l.batch)
	n := len(l.active)
	for i := 0; i < n && budget > 0; i++ {
		r := l.active[(l.rr+i)%n]
		rest := len(r.req.Prompt) - r.prefilled
		if rest == 0 {
			continue
		}
		chunk := min(rest, budget)
		last := chunk == rest
		l.batch = append(l.batch, entry{r, model.Seq{Cache: r.cache, Tokens: r.req.Prompt[r.prefilled : r.prefilled+chunk], Logits: last, Adapter: r.req.Adapter}})
		r.prefilled += chunk
		budget -= chunk
	}
	l.rr++
	// Sequences with the same adapter side by side make one run of tokens
	// for the model's grouped low-rank update, whose A and B are then read
	// once per step rather than once per sequence.
	groupByAdapter(l.batch[:decoding], nil)
	var lead *model.Adapter // prompt chunks of the last decode group's adapter extend its run
	if decoding > 0 {
		lead = l.batch[decoding-1].seq.Adapter
	}
	groupByAdapter(l.batch[decoding:], lead)
	clear(l.seqs)
	clear(l.owners)
	l.seqs, l.owners = l.seqs[:0], l.owners[:0]
	for _, e := range l.batch {
		l.seqs = append(l.seqs, e.seq)
		if e.seq.Logits {
			l.owners = append(l.owners, e.r)
		}
	}
	logits, err := l.net.ForwardBatch(l.scratch, l.seqs)
	if d := l.s.cfg.StepDelay; d > 0 {
		time.Sleep(d)
	}
	l.s.mu.Lock()
	l.s.stats.Steps++
	l.s.mu.Unlock()
	if err != nil {
		// Sizes were checked at admission; an error here is a bug. Fail the
		// batch's requests rather than loop on it.
		for _, r := range l.active {
			l.free(r.cache)
			r.finish(r.dec.Result(), err)
		}
		l.active = l.active[:0]
		return
	}
	now := time.Now()
	finished := false
	for i, r := range l.owners {
		out, done := r.dec.Next(logits[i])
		if r.firstToken.IsZero() {
			r.firstToken = now
		}
		if out.ID >= 0 || out.Text != "" {
			r.push(out)
		}
		if done {
			res := r.dec.Result()
			res.PromptTime = r.firstToken.Sub(r.admitted)
			res.GenTime = now.Sub(r.firstToken)
			l.keep(r)
			r.cache = nil
			r.finish(res, nil)
			finished = true
			l.s.mu.Lock()
			l.s.stats.Completed++
			l.s.mu.Unlock()
			continue
		}
		r.pending = out.ID
	}
	if finished {
		keep := l.active[:0]
		for _, r := range l.active {
			if r.cache != nil {
				keep = append(keep, r)
			}
		}
		clear(l.active[len(keep):])
		l.active = keep
		l.publish()
	}
}

// abandon fails every request still known at a hard stop.
func (l *loop) abandon() {
	for _, r := range l.active {
		r.finish(r.dec.Result(), ErrClosed)
	}
	l.active = nil
	l.s.mu.Lock()
	q := l.s.queue
	l.s.queue = nil
	l.s.mu.Unlock()
	for _, r := range q {
		r.finish(r.dec.Result(), ErrClosed)
	}
}

// publish copies the loop's counters into the shared stats.
func (l *loop) publish() {
	live := 0
	for _, r := range l.active {
		live += r.cache.Capacity()
	}
	l.s.mu.Lock()
	l.s.stats.Active = len(l.active)
	l.s.stats.KVUsed = l.kvUsed
	l.s.stats.KVLive = live
	l.s.stats.Retained = len(l.kept)
	l.s.mu.Unlock()
}

// groupByAdapter reorders es, stably, so that entries with the same adapter
// are adjacent: first those of lead, if it is not nil, then each other
// adapter's entries moved up behind its first. A batch holds at most
// MaxSeqs entries, so the quadratic walk costs less than a map would.
func groupByAdapter(es []entry, lead *model.Adapter) {
	i := 0
	if lead != nil {
		i = gather(es, 0, lead)
	}
	for i < len(es) {
		i = gather(es, i+1, es[i].seq.Adapter)
	}
}

// gather moves the entries of es[at:] with adapter a, in order, to es[at:],
// shifting the others behind them, and returns the index after them.
func gather(es []entry, at int, a *model.Adapter) int {
	for k := at; k < len(es); k++ {
		if es[k].seq.Adapter == a {
			e := es[k]
			copy(es[at+1:k+1], es[at:k])
			es[at] = e
			at++
		}
	}
	return at
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
