// Package sched runs many generation requests on one model at once with
// continuous batching: every step of the model carries the next token of
// each decoding sequence and chunks of prompts being prefilled, so
// concurrent requests share the cost of reading the weights.
//
// A fixed KV-cache budget bounds memory; requests wait in a bounded queue
// for a slot and are refused with ErrOverloaded when it is full. Finished
// sequences leave their cache behind for a while, so a later request that
// starts with the same tokens (a system prompt, the earlier turns of a
// chat) reuses its keys and values instead of recomputing them.
package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/model"
)

// Config configures a Scheduler. Zero fields take the defaults noted.
type Config struct {
	// MaxSeqs is how many sequences decode at once (slots). Default 4.
	MaxSeqs int
	// KVTokens is the KV-cache budget in tokens, summed over all
	// sequences, live and retained for prefix reuse. Default MaxSeqs times
	// the model's context.
	KVTokens int
	// MaxQueue is how many requests may wait for a slot; more are refused
	// with ErrOverloaded. Default 64.
	MaxQueue int
	// BatchTokens is the most tokens one model step takes. Default 256.
	BatchTokens int
	// NoPrefixCache turns prefix reuse off.
	NoPrefixCache bool
	// StepDelay makes every model step take this much longer, standing
	// in for a larger model so that fleet tests can see load and act
	// while streams run. For tests; zero in production.
	StepDelay time.Duration
	// Logger receives debug logs; nil means none.
	Logger *slog.Logger
}

// ErrOverloaded is returned when the queue is full. The error also has a
// RetryAfter() time.Duration method suggesting when to try again.
var ErrOverloaded = errors.New("sched: overloaded: too many requests waiting")

// ErrClosed is returned for requests submitted after Shutdown began.
var ErrClosed = errors.New("sched: shutting down")

// ErrInternal fails the requests a bug in the engine reached (a panic in
// a forward pass or while decoding): they get this error, the node goes on
// serving the others.
var ErrInternal = errors.New("sched: internal error")

// ErrTooLarge is returned for a request that could never fit the KV budget.
var ErrTooLarge = errors.New("sched: request larger than the KV-cache budget")

type overloaded struct{ after time.Duration }

func (o overloaded) Error() string             { return ErrOverloaded.Error() }
func (o overloaded) Unwrap() error             { return ErrOverloaded }
func (o overloaded) RetryAfter() time.Duration { return o.after }

// Stats is a snapshot of the scheduler's state.
type Stats struct {
	Queued       int   // requests waiting for a slot
	Active       int   // sequences in the batch
	KVUsed       int   // tokens of KV cache allocated (live and retained)
	KVLive       int   // tokens of KV cache held by live sequences
	KVTotal      int   // the budget
	Retained     int   // finished sequences kept for prefix reuse
	Steps        int64 // model steps run
	PromptTokens int64 // prompt tokens of admitted requests
	PrefixHits   int64 // prompt tokens served from a reused prefix
	Completed    int64 // requests finished
}

// Scheduler batches requests for one model. Its methods are safe for
// concurrent use.
type Scheduler struct {
	m   *engine.Model
	cfg Config
	log *slog.Logger

	wake chan struct{} // pinged on submit, cancel and shutdown
	done chan struct{} // closed when the loop exits

	mu       sync.Mutex
	queue    []*request // FIFO of requests waiting for a slot
	closing  bool       // Shutdown started: refuse new requests
	stats    Stats
	shutOnce sync.Once
	hardStop chan struct{} // closed to abandon in-flight requests
}

// New starts a scheduler for m. Call Shutdown to stop it.
func New(m *engine.Model, cfg Config) (*Scheduler, error) {
	if cfg.MaxSeqs <= 0 {
		cfg.MaxSeqs = 4
	}
	if cfg.KVTokens <= 0 {
		cfg.KVTokens = cfg.MaxSeqs * m.Context()
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 64
	}
	if cfg.BatchTokens <= 0 {
		cfg.BatchTokens = 256
	}
	if cfg.BatchTokens < cfg.MaxSeqs {
		return nil, fmt.Errorf("sched: BatchTokens %d is below MaxSeqs %d", cfg.BatchTokens, cfg.MaxSeqs)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		m: m, cfg: cfg, log: cfg.Logger,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		hardStop: make(chan struct{}),
	}
	s.stats.KVTotal = cfg.KVTokens
	l := newLoop(s)
	go l.run()
	return s, nil
}

// Model returns the model the scheduler runs.
func (s *Scheduler) Model() *engine.Model { return s.m }

// Stats returns a snapshot of the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Queued = len(s.queue)
	return st
}

func (s *Scheduler) ping() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Generate runs a request in the shared batch, calling emit for each token
// from the calling goroutine, and returns when it is done. It returns
// ErrOverloaded when the queue is full, ErrTooLarge when the request could
// never fit, engine.ErrPromptTooLong for prompts beyond the context, an
// error from emit, or ctx's error if the caller goes away; in the last two
// cases the sequence leaves the batch and its KV cache is freed.
func (s *Scheduler) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error) {
	ctxLen := s.m.Context()
	need := ctxLen
	if req.MaxTokens > 0 && req.MaxTokens < ctxLen-len(req.Prompt) {
		need = len(req.Prompt) + req.MaxTokens // written so that no client number can overflow it
	}
	dec, err := s.m.NewDecoding(req, need)
	if err != nil {
		return nil, err
	}
	if need > s.cfg.KVTokens {
		return nil, fmt.Errorf("%w: it needs %d tokens of cache, the budget is %d", ErrTooLarge, need, s.cfg.KVTokens)
	}
	r := &request{ctx: ctx, req: req, dec: dec, need: need, queued: time.Now(), notify: make(chan struct{}, 1), finished: make(chan struct{})}

	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return nil, ErrClosed
	case len(s.queue) >= s.cfg.MaxQueue:
		s.mu.Unlock()
		return nil, overloaded{after: time.Second}
	}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.ping()

	if emit == nil {
		emit = func(engine.Token) error { return nil }
	}
	for {
		select {
		case <-r.notify:
		case <-ctx.Done():
			r.cancel(ctx.Err())
			s.ping()
			<-r.finished
			return r.result(), ctx.Err()
		}
		toks, fin := r.take()
		for _, t := range toks {
			if err := emit(t); err != nil {
				r.cancel(err)
				s.ping()
				<-r.finished
				return r.result(), err
			}
		}
		if fin {
			return r.result(), r.err
		}
	}
}

// Shutdown stops taking requests and waits for those in flight (queued
// ones included) to finish. If ctx ends first, the remaining requests are
// abandoned with ErrClosed and Shutdown returns ctx's error. It is safe to
// call more than once.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.ping()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.shutOnce.Do(func() { close(s.hardStop) })
		s.ping()
		<-s.done
		return ctx.Err()
	}
}

// request is one Generate call as the loop sees it.
type request struct {
	ctx    context.Context
	req    engine.Request
	dec    *engine.Decoding
	need   int // KV capacity in tokens
	queued time.Time

	// Set by the loop.
	cache      *model.Cache
	prefilled  int   // prompt tokens in the cache
	pending    int32 // token to feed next, once prefilled
	admitted   time.Time
	firstToken time.Time

	mu        sync.Mutex
	out       []engine.Token
	fin       bool
	err       error
	res       *engine.Result
	cancelErr error
	notify    chan struct{}
	finished  chan struct{} // closed by the loop when it has let go of the request
}

func (r *request) push(t engine.Token) {
	r.mu.Lock()
	r.out = append(r.out, t)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *request) take() ([]engine.Token, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.out
	r.out = nil
	return out, r.fin
}

func (r *request) cancel(err error) {
	r.mu.Lock()
	if r.cancelErr == nil {
		r.cancelErr = err
	}
	r.mu.Unlock()
}

// cancelled returns why the request was abandoned by its caller, or nil.
func (r *request) cancelled() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancelErr != nil {
		return r.cancelErr
	}
	return r.ctx.Err()
}

// finish records the outcome and wakes the caller.
func (r *request) finish(res *engine.Result, err error) {
	r.mu.Lock()
	r.fin, r.res, r.err = true, res, err
	r.mu.Unlock()
	close(r.finished)
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *request) result() *engine.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res != nil {
		return r.res
	}
	return r.dec.Result()
}
