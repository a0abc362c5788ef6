package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/modelname"
)

// This file holds what every generating endpoint shares: finding the
// model, checking the prompt against its context, and running Generate
// for streaming and non-streaming responses.

// acquire gets the named model from the backend. Ollama clients name
// models "name:latest" when the store calls them "name" (and the other
// way round), in any case, so the name's other spellings
// (modelname.Spellings) are tried before giving up.
func (s *Server) acquire(ctx context.Context, name string) (Model, func(), time.Duration, error) {
	if err := checkModelName(name); err != nil {
		return nil, nil, 0, err
	}
	if err := s.checkNarrow(ctx); err != nil {
		return nil, nil, 0, err
	}
	if c := CallerFrom(ctx); c != nil {
		// The allow-list is of base models: an adapter is the tenant's own
		// (or published) and the backend checks it is the caller's.
		if err := c.Use(ctx, requestInfoFrom(ctx).endpoint, s.baseName(ctx, name)); err != nil {
			return nil, nil, 0, err
		}
	}
	name, err := s.deploy(ctx, name) // a deployment's name is served by the version it picks (deploy.go)
	if err != nil {
		return nil, nil, 0, err
	}
	start := s.now()
	m, release, err := s.acquireFrom(ctx, name)
	for _, alt := range modelname.Spellings(name) {
		if alt != name && errors.Is(err, ErrModelNotFound) {
			m, release, err = s.acquireFrom(ctx, alt)
		}
	}
	if err != nil {
		s.observeFailed(ctx, name, err) // a picked version that cannot load counts against it
	}
	if errors.Is(err, ErrModelNotFound) {
		return nil, nil, 0, modelNotFound(name)
	}
	if errors.Is(err, ErrInvalidModel) {
		return nil, nil, 0, invalidModel("model", err) // an adapter for another base, say: the backend names both
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("acquire model %q: %w", clientText(name), err)
	}
	info := requestInfoFrom(ctx)
	mi := m.Info()
	info.served = mi.Name // X-Hearth-Model, sent with the response's headers, and the log line's
	// The model's own name: one metrics series per model, however the
	// client spelt it. An adapter's requests count under its base:
	// /metrics is read by whoever reaches it, and must not list tenants'
	// adapters (nor grow a series per version).
	info.model = mi.Name
	if mi.Base != "" {
		info.model = mi.Base
	}
	return m, release, s.now().Sub(start), nil
}

// MaxModelNameBytes bounds the model name a request may send. The store's
// names are shorter (a name of 128 bytes and a tag of 64); a longer one
// can name nothing, and would otherwise be carried into the tenant's
// model check, the audit record of its refusal and the error.
const MaxModelNameBytes = 256

// checkModelName refuses an empty or overlong model name before the name
// is used for anything.
func checkModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return badRequest("model", "'model' is required")
	}
	if len(name) > MaxModelNameBytes {
		return badRequest("model", "'model' is %d bytes long; a model name has at most %d", len(name), MaxModelNameBytes)
	}
	return nil
}

// models lists the backend's models that the caller may use.
func (s *Server) models(ctx context.Context) ([]ModelInfo, error) {
	all, err := s.cfg.Backend.Models(ctx)
	if err != nil || CallerFrom(ctx) == nil {
		return all, err
	}
	mine := all[:0:0]
	for _, mi := range all {
		if sees(ctx, cmp.Or(mi.Base, mi.Name)) {
			mine = append(mine, mi)
		}
	}
	return mine, nil
}

// findModel looks a name up in the backend's list without loading it.
func (s *Server) findModel(ctx context.Context, name string) (ModelInfo, error) {
	if err := checkModelName(name); err != nil {
		return ModelInfo{}, err
	}
	models, err := s.models(ctx)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("list models: %w", err)
	}
	for _, mi := range models {
		if modelname.Same(mi.Name, name) {
			return mi, nil
		}
	}
	d, ok := s.cfg.Backend.(ModelDescriber)
	if !ok {
		return ModelInfo{}, modelNotFound(name)
	}
	mi, err := d.DescribeModel(ctx, name)
	switch {
	case errors.Is(err, ErrModelNotFound):
		return ModelInfo{}, modelNotFound(name)
	case errors.Is(err, ErrInvalidModel):
		return ModelInfo{}, invalidModel("model", err)
	case err != nil:
		return ModelInfo{}, err
	case CallerFrom(ctx) != nil && !sees(ctx, cmp.Or(mi.Base, mi.Name)):
		return ModelInfo{}, modelNotFound(name)
	}
	return mi, nil
}

// checkPrompt refuses prompts that cannot fit the model's context before
// any work is queued; param names the request field they came from.
func checkPrompt(m Model, prompt []int32, param string) error {
	info := m.Info()
	if len(prompt) == 0 {
		return badRequest(param, "the prompt is empty after tokenization")
	}
	if info.ContextLength > 0 && len(prompt) >= info.ContextLength {
		return &Error{Status: 400, Type: TypeInvalidRequest, Code: "context_length_exceeded", Param: param,
			Message: fmt.Sprintf("This model's maximum context length is %d tokens. However, your %s resulted in %d tokens. Please reduce the length of the %s.",
				info.ContextLength, param, len(prompt), param)}
	}
	if info.Vocab > 0 {
		for i, id := range prompt {
			if id < 0 || int(id) >= info.Vocab {
				return badRequest(param, "token id %d at position %d is outside the model's vocabulary of %d tokens", id, i, info.Vocab)
			}
		}
	}
	return nil
}

// tokenTimer measures time to first token and the gaps between tokens as
// the engine emits them, before any network write can delay them.
type tokenTimer struct {
	metrics *Metrics
	model   string
	now     func() time.Time
	start   time.Time
	last    time.Time
	n       int
}

func (s *Server) newTokenTimer(ctx context.Context) *tokenTimer {
	info := requestInfoFrom(ctx)
	return &tokenTimer{metrics: s.cfg.Metrics, model: info.model, now: s.now, start: info.start}
}

func (t *tokenTimer) token(tok engine.Token) {
	if tok.ID < 0 || t.metrics == nil {
		return // a flush of held-back text, not a token
	}
	now := t.now()
	if t.n == 0 {
		t.metrics.ttft.WithLabelValues(t.model).Observe(now.Sub(t.start).Seconds())
	} else {
		t.metrics.itl.WithLabelValues(t.model).Observe(now.Sub(t.last).Seconds())
	}
	t.last = now
	t.n++
}

// account adds a finished generation's token counts to the request's log
// line and the token counters.
func (s *Server) account(ctx context.Context, res *engine.Result) {
	if res == nil {
		return
	}
	info := requestInfoFrom(ctx)
	info.promptTokens += res.PromptTokens
	info.completionTokens += len(res.Tokens)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.promptTokens.WithLabelValues(info.model).Add(float64(res.PromptTokens))
		s.cfg.Metrics.completionTokens.WithLabelValues(info.model).Add(float64(len(res.Tokens)))
	}
}

// generateAll runs a non-streaming completion and returns every emitted
// token with the result.
func (s *Server) generateAll(ctx context.Context, m Model, req engine.Request) (res *engine.Result, toks []engine.Token, err error) {
	pass, err := s.admit(ctx, m, len(req.Prompt), req.MaxTokens)
	if err != nil {
		return nil, nil, err
	}
	start := s.now()
	defer func() {
		s.finish(ctx, pass, m, req.Prompt, res, err, start)
		s.captureWhenDone(ctx, m, pass, res, err) // consented capture after the gate's record (capture.go)
	}()
	timer := s.newTokenTimer(ctx)
	res, err = m.Generate(ctx, req, func(t engine.Token) error {
		timer.token(t)
		toks = append(toks, t)
		return nil
	})
	if err == nil && res == nil {
		err = errors.New("backend returned neither a result nor an error")
	}
	s.account(ctx, res) // tokens produced before an error still count
	return res, toks, err
}

// generation runs Generate in its own goroutine for a streaming response.
// The engine hands tokens over through an unbounded queue, so a slow
// client never stalls the engine (and with it every other sequence in the
// batch); the handler's goroutine alone writes to the connection.
type generation struct {
	mu     sync.Mutex
	queue  []engine.Token
	wake   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
	res    *engine.Result // valid after done is closed
	err    error
}

func (s *Server) startGeneration(ctx context.Context, m Model, req engine.Request) *generation {
	ctx, cancel := context.WithCancel(ctx)
	g := &generation{wake: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	timer := s.newTokenTimer(ctx)
	go func() {
		defer close(g.done)
		defer func() {
			// A panic here, off the handler's goroutine, would end the
			// process: make it this request's error instead.
			if v := recover(); v != nil {
				s.log.Error("panic generating; the request fails, the node goes on", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				g.err = fmt.Errorf("internal error: %v", v)
			}
		}()
		res, err := m.Generate(ctx, req, func(t engine.Token) error {
			timer.token(t)
			g.mu.Lock()
			g.queue = append(g.queue, t)
			g.mu.Unlock()
			select {
			case g.wake <- struct{}{}:
			default:
			}
			// Once the client is gone (or a write failed) stop at the
			// next token even if the engine does not watch ctx closely.
			return ctx.Err()
		})
		if err == nil && res == nil {
			err = errors.New("backend returned neither a result nor an error")
		}
		g.res, g.err = res, err
	}()
	return g
}

// next waits for tokens. It returns those queued so far, and true once
// the generation has ended and no more will come.
func (g *generation) next() ([]engine.Token, bool) {
	for {
		if q := g.take(); len(q) > 0 {
			return q, false
		}
		select {
		case <-g.wake:
		case <-g.done:
			return g.take(), true
		}
	}
}

func (g *generation) take() []engine.Token {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := g.queue
	g.queue = nil
	return q
}

// stop cancels the generation and waits for Generate to return, so that
// nothing outlives the handler.
func (g *generation) stop() {
	g.cancel()
	<-g.done
}

// stream drives a generation: write is called with each batch of tokens
// as they arrive, in order. It returns Generate's result, or the first
// error from Generate or write (a write error cancels the generation).
func (s *Server) stream(ctx context.Context, m Model, req engine.Request, write func([]engine.Token) error) (res *engine.Result, err error) {
	prompt := req.Prompt // the request's own, metered and audited
	rs := resumeRequest(ctx, m, &req)
	pass, err := s.admit(ctx, m, len(prompt), req.MaxTokens)
	if err != nil {
		return nil, err
	}
	start := s.now()
	defer func() {
		if rs != nil {
			res = rs.result(res) // the whole response, as the client has it
		}
		s.finish(ctx, pass, m, prompt, res, err, start)
		s.captureWhenDone(ctx, m, pass, res, err) // consented capture after the gate's record (capture.go)
	}()
	if rs != nil && rs.done {
		return &engine.Result{PromptTokens: len(req.Prompt), FinishReason: "length"}, nil
	}
	g := s.startGeneration(ctx, m, req)
	defer g.stop()
	for {
		toks, finished := g.next()
		if len(toks) > 0 {
			if err := write(toks); err != nil {
				g.stop()
				s.account(ctx, g.res)
				return g.res, err
			}
		}
		if finished {
			break
		}
	}
	s.account(ctx, g.res)
	return g.res, g.err
}
