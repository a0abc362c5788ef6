// Package api serves Hearth's HTTP APIs: OpenAI's (/v1/...) and Ollama's
// (/api/...), with server-sent events and NDJSON streaming, in the error
// shapes those APIs define.
package api

import (
	"context"
	"errors"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
)

// Backend is what the HTTP layer needs from the node: the models it can
// serve, and a running model by name.
type Backend interface {
	// Models lists the models the node can serve, loaded or not.
	Models(ctx context.Context) ([]ModelInfo, error)
	// Acquire returns the named model, loading it first if needed. The
	// caller must call release when its request is done; the model stays
	// loaded for its keep-alive period afterwards. An unknown name gives
	// an error wrapping ErrModelNotFound.
	Acquire(ctx context.Context, name string) (m Model, release func(), err error)
}

// Model is a loaded model as the API uses it. Implementations are safe
// for concurrent use: Generate calls from many requests are batched
// together by the engine's scheduler.
type Model interface {
	Info() ModelInfo
	// ChatPrompt renders messages with the model's chat template (ready for
	// the assistant's reply) and tokenizes the result.
	ChatPrompt(msgs []chat.Message) ([]int32, error)
	// Tokenize turns text into ids; addSpecial adds BOS/EOS as the model
	// asks, parseSpecial maps special-token text to its id.
	Tokenize(text string, addSpecial, parseSpecial bool) []int32
	// TokenizeContinuation tokenizes text that continues a response (no
	// BOS, special-token text kept as text, no space prefix), for a
	// response another node started (see Resume).
	TokenizeContinuation(text string) []int32
	// Detokenize turns ids into text.
	Detokenize(ids []int32) string
	// Generate runs one completion, calling emit for each token. It
	// returns ErrOverloaded (possibly wrapped, see RetryAfter) when the
	// node cannot take the request now, engine.ErrPromptTooLong when the
	// prompt does not fit, and ctx's error when the client goes away.
	Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error)
	// Embed returns a unit-length embedding of the tokens.
	Embed(ctx context.Context, tokens []int32) ([]float32, error)
}

// ModelInfo describes a model for /v1/models, /api/tags and /api/show.
type ModelInfo struct {
	Name          string    // e.g. "stories260k" or "qwen2.5-0.5b-instruct:q4_k_m"
	Path          string    // GGUF file
	Size          int64     // bytes
	Digest        string    // "sha256:<hex>", empty if not known
	ModifiedAt    time.Time // file modification time
	Architecture  string    // general.architecture
	Parameters    int64     // parameter count
	Quantization  string    // e.g. "Q4_K", "F32", from the dominant weight type
	ContextLength int       // tokens per sequence on this node
	ChatTemplate  string    // the Jinja template, or the built-in's name
	Loaded        bool      // currently in memory
	// Base is, for a model that is a base with a LoRA adapter
	// ("BASE:ADAPTER@VERSION"), the base's listed name; empty for a base.
	// The tenant's model allow-list applies to it.
	Base string
	// Added by the HTTP layer; zero values mean "unknown".
	Vocab      int       // vocabulary size, to reject out-of-range token-id prompts with a 400
	TokenBytes int       // the longest token's length in bytes: a bound on the text one token covers
	ExpiresAt  time.Time // when a loaded, idle model will be unloaded (/api/ps); zero if never or unknown
}

var (
	// ErrModelNotFound: the requested model is neither loaded nor in the store.
	ErrModelNotFound = errors.New("model not found")
	// ErrOverloaded: the node's queue is full; retry later.
	ErrOverloaded = errors.New("server overloaded")
	// ErrUnavailable: another node the request needs (such as the
	// tenant's home node, for feedback) cannot be reached now; retry
	// later.
	ErrUnavailable = errors.New("service unavailable")
)

// RetryAfter extracts a retry delay from an overload error; a backend may
// wrap ErrOverloaded in an error with a RetryAfter() time.Duration method.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return time.Second
}
