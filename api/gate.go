package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/modelname"
)

// Gate is the node's access control and accounting: who is calling, which
// models they may use, whether their limits allow a request, and what is
// recorded when it ends. A nil Gate lets every request through, which is
// how a node with no tenants serves its own machine.
type Gate interface {
	// Authenticate identifies the caller of an API request before any
	// work; it returns an error wrapping ErrUnauthorized for missing or bad
	// credentials.
	Authenticate(r *http.Request) (Caller, error)
}

// Caller is an authenticated client.
type Caller interface {
	// Sees reports whether model lists show the model to the caller.
	Sees(model string) bool
	// Use is asked before a model is loaded for the caller; a refusal
	// wraps ErrForbidden (403) and is the gate's to record.
	Use(ctx context.Context, endpoint, model string) error
	// Admit runs before a model does any work for the caller, once the
	// prompt is tokenized: it checks and reserves the caller's limits.
	// Its error wraps ErrRateLimited or ErrQuotaExceeded (429; an error
	// with a RetryAfter() time.Duration method sets Retry-After) or
	// ErrForbidden (403).
	Admit(ctx context.Context, a Admission) (Pass, error)
	// Context returns ctx with what the parts behind the API (the
	// Capturer) need to know of the caller, or ctx itself: package access
	// adds the tenant principal (tenant.WithPrincipal). The server calls
	// it once, after Authenticate, and serves the request in what it
	// returns.
	Context(ctx context.Context) context.Context
}

// Admission describes a request about to run.
type Admission struct {
	Endpoint string // EndpointChatCompletions, EndpointOllamaGenerate, EndpointEmbeddings, ...
	Model    string
	// Base is the base model Model runs on when Model is an adapter
	// ("BASE:ADAPTER@VERSION"); empty when Model is a base. The
	// tenant's model allow-list applies to it.
	Base         string
	PromptTokens int
	MaxTokens    int // most tokens it may generate (0 for embeddings)
}

// Pass is an admitted request; Done is called exactly once when it ends,
// whether it succeeded or not.
type Pass interface {
	Done(o Outcome)
}

// Outcome is what a request did, for metering and the audit log. It holds
// hashes of the prompt and output, never their text.
type Outcome struct {
	ResponseID       string
	Endpoint         string
	Model            string
	PromptTokens     int
	CompletionTokens int
	PromptHash       string // hex sha256 of the prompt token ids (little-endian int32s)
	OutputHash       string // hex sha256 of the generated text
	FinishReason     string
	Err              error
	// Duration is the model's time on the request (its prompt and
	// generation), or, for a request without a generation, the handler's.
	Duration time.Duration
}

var (
	// ErrUnauthorized: missing or invalid credentials (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: valid credentials that do not allow this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: the caller is over a per-minute limit (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrQuotaExceeded: the caller has used its quota (429, insufficient_quota).
	ErrQuotaExceeded = errors.New("quota exceeded")
)

type callerKey struct{}

// CallerFrom returns the authenticated caller of a request, if any.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// gated reports whether a path is an API route that needs a caller:
// everything under /v1/ and /api/ except Ollama's version probe.
func gated(path string) bool {
	if path == "/api/version" {
		return false
	}
	if path == "/lora-adapters" {
		return true // llama-server's; lists the node's adapters
	}
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/api/")
}

// sees applies the caller's model policy to listings.
func sees(ctx context.Context, model string) bool {
	c := CallerFrom(ctx)
	return c == nil || c.Sees(model) || slices.ContainsFunc(modelname.Spellings(model), c.Sees)
}

// admit asks the caller's gate to let a request run; without a caller it
// lets everything through.
func (s *Server) admit(ctx context.Context, m Model, promptTokens, maxTokens int) (Pass, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return nopPass{}, nil
	}
	info := requestInfoFrom(ctx)
	if maxTokens <= 0 && samples(info.endpoint) {
		// No limit asked: the most the context allows.
		maxTokens = max(0, m.Info().ContextLength-promptTokens)
	}
	mi := m.Info()
	return c.Admit(ctx, Admission{Endpoint: info.endpoint, Model: mi.Name, Base: mi.Base, PromptTokens: promptTokens, MaxTokens: maxTokens})
}

type nopPass struct{}

func (nopPass) Done(Outcome) {}

// finish builds a request's outcome for its pass. The pass hears of it
// only after the response has been written and flushed (see ServeHTTP), so
// the audit log's fsync and the usage write never delay the client.
func (s *Server) finish(ctx context.Context, p Pass, m Model, prompt []int32, res *engine.Result, err error, start time.Time) {
	info := requestInfoFrom(ctx)
	o := Outcome{ResponseID: info.id, Endpoint: info.endpoint, Model: m.Info().Name, PromptTokens: len(prompt),
		PromptHash: hashTokens(prompt), Err: err, Duration: s.now().Sub(start)}
	if res != nil {
		o.CompletionTokens = len(res.Tokens)
		o.OutputHash = hashText(res.Text)
		o.FinishReason = res.FinishReason
		if d := res.PromptTime + res.GenTime; d > 0 {
			// The model's own time: not the wait for a client that reads
			// slowly (or stops), which the wall clock would meter too.
			o.Duration = d
		}
	}
	info.done = func() {
		if o.Err == nil && info.err != nil && info.err.Status >= 500 {
			o.Err = info.err // the handler failed after the generation (a panic)
		}
		p.Done(o)
		s.observe(ctx, o)
	}
}

func hashTokens(ids []int32) string {
	h := sha256.New()
	var b [4]byte
	for _, id := range ids {
		binary.LittleEndian.PutUint32(b[:], uint32(id))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
