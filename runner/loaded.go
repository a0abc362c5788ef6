package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

// loaded is one model in memory (or being loaded) with its scheduler. It
// implements api.Model.
type loaded struct {
	r     *Runner
	name  string // as listed
	canon string
	path  string

	done   chan struct{} // closed when loading has finished, well or not
	err    error         // the load error
	m      *engine.Model
	s      *sched.Scheduler
	info   api.ModelInfo
	memory int64 // estimated bytes: file plus KV budget
	slots  int   // sequences the scheduler decodes at once

	// Guarded by r.mu.
	refs     int
	lastUsed time.Time
	adapters map[string]*cached // built adapter sets by what they are (adapted.go)
}

var _ api.Model = (*loaded)(nil)

func (l *loaded) ready() bool {
	select {
	case <-l.done:
		return l.err == nil
	default:
		return false
	}
}

// load reads the model and starts its scheduler; it closes l.done.
func (l *loaded) load() {
	defer close(l.done)
	r := l.r
	info, err := describeFile(l.path)
	if err != nil {
		l.err = fmt.Errorf("runner: load %s: %w", l.name, err)
		return
	}
	start := time.Now()
	m, err := engine.Load(l.path, r.cfg.Engine)
	if err != nil {
		l.err = fmt.Errorf("runner: %w", err)
		return
	}
	cfg := r.cfg.Sched
	cfg.Logger = r.log.With("model", l.name)
	slots := cfg.MaxSeqs
	if slots <= 0 {
		slots = 4 // the scheduler's default
	}
	kvTokens := cfg.KVTokens
	if kvTokens <= 0 {
		kvTokens = slots * m.Context()
	}
	n := m.Net
	kvBytes := int64(kvTokens) * int64(n.KVBytesPerToken())
	l.memory = info.Size + kvBytes
	if !r.makeRoom(l.memory, l) {
		m.Close()
		l.err = fmt.Errorf("%w: model %s needs about %d MiB and the node's memory limit is taken by models in use", api.ErrOverloaded, l.name, l.memory>>20)
		return
	}
	l.slots = slots
	s, err := sched.New(m, cfg)
	if err != nil {
		m.Close()
		l.err = fmt.Errorf("runner: %w", err)
		return
	}
	info.Name = l.name
	info.ContextLength = m.Context()
	if info.ChatTemplate == "" {
		info.ChatTemplate = m.Template.Name()
	}
	info.Loaded = true
	info.Vocab = m.Net.Vocab
	info.TokenBytes = m.Tok.Longest()
	l.m, l.s, l.info = m, s, info
	r.log.Info("model loaded", "model", l.name, "path", l.path, "took", time.Since(start), "memory_mib", l.memory>>20)
}

// unload stops the scheduler (letting requests finish until ctx ends) and
// releases the model.
func (l *loaded) unload(ctx context.Context) error {
	if l.s == nil {
		return nil
	}
	err := l.s.Shutdown(ctx)
	l.m.Close()
	return err
}

func (l *loaded) Info() api.ModelInfo {
	info := l.info
	l.r.mu.Lock()
	if l.refs == 0 && !l.lastUsed.IsZero() {
		info.ExpiresAt = l.lastUsed.Add(l.r.cfg.KeepAlive)
	}
	l.r.mu.Unlock()
	return info
}

func (l *loaded) ChatPrompt(msgs []chat.Message) ([]int32, error) { return l.m.ChatPrompt(msgs) }

// Tokenize stops once the text is known to hold more than twice the
// context: every caller refuses (or, for Ollama's embeddings, truncates to
// the context) a prompt that long, and the margin keeps truncation exact.
func (l *loaded) Tokenize(text string, addSpecial, parseSpecial bool) []int32 {
	ids, _ := l.m.Tok.EncodeAtMost(text, addSpecial, parseSpecial, 2*l.m.Context())
	return ids
}

// Detokenize decodes generated ids, keeping a leading space: the pieces
// continue text that came before them, and log-probability tokens must join
// back into the reply.
func (l *loaded) Detokenize(ids []int32) string {
	return l.m.Tok.DecodeWith(ids, tokenizer.DecodeOptions{Continuation: true})
}

func (l *loaded) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error) {
	res, err := l.s.Generate(ctx, req, emit)
	switch {
	case errors.Is(err, sched.ErrOverloaded), errors.Is(err, sched.ErrClosed):
		return res, fmt.Errorf("%w: %w", api.ErrOverloaded, err)
	case errors.Is(err, sched.ErrTooLarge):
		return res, fmt.Errorf("%w: %w", engine.ErrPromptTooLong, err)
	}
	return res, err
}

func (l *loaded) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	return l.m.Embed(ctx, tokens)
}

// Stats returns the scheduler's counters.
func (l *loaded) Stats() sched.Stats { return l.s.Stats() }

// TokenizeContinuation tokenizes text that continues a response, for a
// response another node started (see api.Resume).
func (l *loaded) TokenizeContinuation(text string) []int32 { return l.m.Tok.EncodeContinuation(text) }
