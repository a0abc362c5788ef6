package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// Backend serves the models. Required.
	Backend Backend
	// Gate authenticates callers, applies their model policy and limits,
	// and is told how each request ended. Nil serves everyone.
	Gate Gate
	// Logger receives one line per request (never prompt or output text).
	// Nil discards.
	Logger *slog.Logger
	// Metrics records request and token metrics. Nil records none.
	Metrics *Metrics
	// Gatherer is served at /metrics, usually the registry Metrics was
	// registered on (with the scheduler's gauges beside it). Nil leaves
	// /metrics unrouted.
	Gatherer prometheus.Gatherer
	// Ready reports whether the node can serve requests, for /readyz. Nil
	// means always ready.
	Ready func(ctx context.Context) error
	// MaxBodyBytes bounds request bodies; larger ones get 413. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DefaultMaxTokens caps generation when a request sets no limit
	// (except /v1/completions, which defaults to 16 as OpenAI's does).
	// Zero means no cap: until the model stops or the context is full.
	DefaultMaxTokens int
	// MaxTokensLimit is the most tokens one request may generate: a larger
	// max_tokens is a 400 on OpenAI's API and lowered to it on Ollama's;
	// a request that sets none gets it. Zero means the model's context.
	MaxTokensLimit int
	// MaxEmbeddingTokens bounds the tokens of one embeddings request, all
	// its inputs together. Zero means DefaultMaxEmbeddingTokens.
	MaxEmbeddingTokens int
	// StallTimeout is how long a streamed response waits for a client
	// that stops reading before it gives up on it (the generation stops,
	// the connection closes). Zero means DefaultStallTimeout; negative, no
	// limit.
	StallTimeout time.Duration
	// Jurisdiction is this node's, for requests that ask for one with
	// JurisdictionHeader (any other is refused). Empty refuses them all.
	Jurisdiction string
	// Version is reported by /api/version. Empty means "0.0.0".
	Version string
	// Now is the clock for created timestamps and durations. Nil means
	// time.Now.
	Now func() time.Time
	// FineTuning serves OpenAI's /v1/files and /v1/fine_tuning/jobs
	// (finetuning.go). Nil leaves them unrouted (404).
	FineTuning FineTuner
	// MaxFileBytes bounds a file uploaded to /v1/files; larger ones get
	// 413. Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// AdminAction records a change the API's LoRA endpoints made to what
	// the node serves (lora.go): "lora.load", "lora.unload",
	// "lora.scales", by the caller in ctx; an error undoes the change
	// where it can and is the response. Nil records nothing.
	AdminAction func(ctx context.Context, action string, detail map[string]string) error
	// Capture is offered each successful generation of an authenticated
	// caller, after the response is delivered, and serves POST
	// /v1/feedback (see capture.go). Nil captures nothing.
	Capture Capturer
	// Deployments picks the version that serves a request for a
	// deployment's name, and hears how it went (deploy.go). Nil: names are
	// served as given.
	Deployments Deployments
}

// DefaultStallTimeout is Config.StallTimeout's default: far longer than
// any network hiccup, far shorter than a client that holds a connection
// without reading.
const DefaultStallTimeout = 60 * time.Second

// stall is the write deadline of a streamed response's writes.
func (s *Server) stall() time.Duration { return StallDeadline(s.cfg.StallTimeout) }

// StallDeadline is the write deadline a StallTimeout setting means: zero
// is DefaultStallTimeout, a negative one none (0). The gateway's forwarded
// streams read it the same way.
func StallDeadline(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultStallTimeout
	case d < 0:
		return 0
	default:
		return d
	}
}

// DefaultMaxBodyBytes is the request body limit when Config leaves it 0:
// room for a long conversation, small enough to refuse abuse.
const DefaultMaxBodyBytes = 8 << 20

// Server is Hearth's HTTP API: an http.Handler serving OpenAI's and
// Ollama's endpoints plus health checks and metrics.
//
//	POST /v1/chat/completions   OpenAI chat (SSE with "stream": true)
//	POST /v1/completions        OpenAI text completions (SSE)
//	POST /v1/embeddings         OpenAI embeddings (float or base64)
//	GET  /v1/models             OpenAI model list
//	GET  /v1/models/{id}        one model
//	POST /v1/feedback           rate a captured response (Config.Capture)
//	POST /v1/load_lora_adapter, /v1/unload_lora_adapter  vLLM's (a LoRABackend; lora.go)
//	GET, POST /lora-adapters    llama-server's adapter ids and global scales (a LoRABackend)
//	/v1/files, /v1/fine_tuning/jobs...  OpenAI's fine-tuning (Config.FineTuning; finetuning.go)
//	POST /api/chat              Ollama chat (NDJSON unless "stream": false)
//	POST /api/generate          Ollama generate (NDJSON unless "stream": false)
//	POST /api/embed             Ollama embeddings (batch)
//	POST /api/embeddings        Ollama's older single embedding
//	GET  /api/tags              models in the store
//	GET  /api/ps                loaded models
//	POST /api/show              model details
//	GET  /api/version           Config.Version
//	GET  /                      "Ollama is running" (Ollama clients probe it); HEAD too
//	GET  /healthz, /readyz      liveness, readiness (Config.Ready)
//	GET  /metrics               Prometheus, when Config.Gatherer is set
//
// Choices where the APIs leave room:
//   - Every response carries X-Request-Id. For chat and text completions
//     it equals the body's id ("chatcmpl-<24 hex>", "cmpl-<24 hex>");
//     elsewhere it is "req-<24 hex>". The log line carries the same id.
//   - ErrOverloaded is 503 with Retry-After (whole seconds, at least 1).
//   - Streams send their headers with the first token, so errors found
//     before it (overload, prompt too long) get a real status; errors
//     after it arrive in-band: an OpenAI error event (no [DONE]) or an
//     Ollama {"error"} line.
//   - Only one choice per request: n, best_of and multi-prompt requests
//     other than 1 are a 400. Images, tools and JSON modes are a 400.
//   - Model names match with or without Ollama's ":latest" tag.
//   - Every response a model served carries ModelHeader, the served
//     model's name ("BASE:ADAPTER@VERSION" for a registry adapter).
//   - With Config.Deployments, a request for a deployment's name is served
//     by the version it picks for the request's end user, and the response
//     carries RolloutHeader (deploy.go).
type Server struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	mux *http.ServeMux
}

// New checks cfg and builds the server's routes.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("api: Config.Backend is nil")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("api: Config.MaxBodyBytes is negative")
	}
	if cfg.DefaultMaxTokens < 0 || cfg.MaxTokensLimit < 0 {
		return nil, errors.New("api: Config.DefaultMaxTokens or MaxTokensLimit is negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxEmbeddingTokens <= 0 {
		cfg.MaxEmbeddingTokens = DefaultMaxEmbeddingTokens
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.routes()
	return s, nil
}

// routes lists every endpoint. Methods are checked by route rather than by
// ServeMux patterns so that a wrong method gets a 405 in the route's own
// error shape.
func (s *Server) routes() {
	// The routes that run a model come from modelRoutes (endpoints.go),
	// which the fleet's gateway reads too (ModelRoutes).
	runs := map[string]handlerFunc{
		EndpointChatCompletions:  s.chatCompletions,
		EndpointCompletions:      s.completions,
		EndpointEmbeddings:       s.embeddings,
		EndpointOllamaChat:       s.ollamaChat,
		EndpointOllamaGenerate:   s.ollamaGenerate,
		EndpointOllamaEmbed:      s.ollamaEmbed,
		EndpointOllamaEmbeddings: s.ollamaEmbeddings,
	}
	for _, m := range modelRoutes {
		h := runs[m.Endpoint]
		if h == nil {
			panic("api: no handler for the model route " + m.Path)
		}
		s.route(m.Path, m.Endpoint, familyOf(m.Path), h, http.MethodPost)
	}

	s.route("/v1/models", EndpointModels, familyOpenAI, s.listModels, http.MethodGet)
	s.route("/v1/models/{id...}", EndpointModel, familyOpenAI, s.getModel, http.MethodGet)
	if _, ok := s.cfg.Backend.(LoRABackend); ok { // lora.go
		s.route("/v1/load_lora_adapter", EndpointLoadLoRA, familyOpenAI, s.loadLoRA, http.MethodPost)
		s.route("/v1/unload_lora_adapter", EndpointUnloadLoRA, familyOpenAI, s.unloadLoRA, http.MethodPost)
		s.route("/lora-adapters", EndpointLoRAAdapters, familyOpenAI, s.loraAdapters, http.MethodGet, http.MethodPost)
	}
	s.route("/v1/feedback", EndpointFeedback, familyOpenAI, s.feedback, http.MethodPost) // feedback.go
	if s.cfg.FineTuning != nil {                                                         // finetuning.go
		s.route("/v1/files", EndpointFiles, familyOpenAI, s.files, http.MethodGet, http.MethodPost)
		s.route("/v1/files/{id}", EndpointFile, familyOpenAI, s.file, http.MethodGet, http.MethodDelete)
		s.route("/v1/fine_tuning/jobs", EndpointFineTuningJobs, familyOpenAI, s.fineTuningJobs, http.MethodGet, http.MethodPost)
		s.route("/v1/fine_tuning/jobs/{id}", EndpointFineTuningJob, familyOpenAI, s.fineTuningJob, http.MethodGet)
		s.route("/v1/fine_tuning/jobs/{id}/events", EndpointFineTuningEvents, familyOpenAI, s.fineTuningEvents, http.MethodGet)
		s.route("/v1/fine_tuning/jobs/{id}/checkpoints", EndpointFineTuningCheckpoints, familyOpenAI, s.fineTuningCheckpoints, http.MethodGet)
		s.route("/v1/fine_tuning/jobs/{id}/cancel", EndpointFineTuningCancel, familyOpenAI, s.fineTuningCancel, http.MethodPost)
	}
	s.route("/v1/", EndpointNotFound, familyOpenAI, notFound)

	s.route("/api/tags", EndpointOllamaTags, familyOllama, s.ollamaTags, http.MethodGet)
	s.route("/api/show", EndpointOllamaShow, familyOllama, s.ollamaShow, http.MethodPost)
	s.route("/api/ps", EndpointOllamaPS, familyOllama, s.ollamaPS, http.MethodGet)
	s.route("/api/version", EndpointOllamaVersion, familyOllama, s.ollamaVersion, http.MethodGet)
	s.route("/api/", EndpointNotFound, familyOllama, notFound)

	s.route("/healthz", EndpointHealthz, familyPlain, s.healthz, http.MethodGet)
	s.route("/readyz", EndpointReadyz, familyPlain, s.readyz, http.MethodGet)
	if s.cfg.Gatherer != nil {
		s.route("/metrics", EndpointMetrics, familyPlain, s.metrics, http.MethodGet)
	}
	// "/" answers like Ollama's root, which Open WebUI and other Ollama
	// clients probe to see whether the server is up. Other paths are 404.
	s.route("/{$}", EndpointRoot, familyPlain, ollamaRoot, http.MethodGet)
	s.route("/", EndpointNotFound, familyPlain, notFound)
}

// handlerFunc is a route's handler. It returns an error instead of
// writing one, so that errors.go alone decides how errors look.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) route(pattern, endpoint string, fam family, h handlerFunc, methods ...string) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		info.endpoint = endpoint
		if len(methods) > 0 && !slices.Contains(methods, r.Method) && (r.Method != http.MethodHead || !slices.Contains(methods, http.MethodGet)) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, r, fam, &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: "method_not_allowed",
				Message: clientText(r.Method) + " is not allowed on " + clientText(r.URL.Path) + "; use " + strings.Join(methods, " or ")}, "")
			return
		}
		err := h(w, r)
		if err == nil {
			return
		}
		if rec, ok := w.(*recorder); ok && rec.status != 0 {
			// The response has started (a stream); the handler reported
			// the error in-band. Keep it for the log line.
			if info.err == nil {
				info.err = classify(err, "")
			}
			if info.err.Status == statusClientClosed {
				info.status = statusClientClosed
			}
			return
		}
		writeError(w, r, fam, err, "")
	})
}

func notFound(w http.ResponseWriter, r *http.Request) error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Code: "not_found", Message: "no such endpoint: " + clientText(r.Method) + " " + clientText(r.URL.Path)}
}

// ServeHTTP handles one request: it gives it an id, routes it, then logs
// it and records its metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	info := &requestInfo{rand: randomID(), start: start, endpoint: EndpointNotFound, narrow: strings.TrimSpace(r.Header.Get(JurisdictionHeader))}
	rec := &recorder{ResponseWriter: w, info: info}
	// X-Request-Id starts as "req-<random>"; chat and text completions
	// replace it with their response id ("chatcmpl-<random>",
	// "cmpl-<random>") so a client can match headers, bodies and logs.
	info.id = "req-" + info.rand
	w.Header().Set("X-Request-Id", info.id)
	info.header = w.Header()
	ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
	if s.cfg.Gate != nil && gated(r.URL.Path) {
		caller, err := s.cfg.Gate.Authenticate(r)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrForbidden) {
				err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
			}
			writeError(rec, r.WithContext(ctx), familyOf(r.URL.Path), err, "")
			s.logRequest(rec, r, info, start)
			return
		}
		ctx = caller.Context(context.WithValue(ctx, callerKey{}, caller))
		// Keep a generating request's body for consented capture (capture.go).
		ctx = s.captureStart(ctx, r)
	}
	s.serve(rec, r.WithContext(ctx), info)
	if info.done != nil {
		// Deliver the response first, then let the gate record it.
		if f, ok := w.(http.Flusher); ok && rec.status != 0 {
			f.Flush()
		}
		info.done()
	}
	// A stream's last write deadline must not reach the connection's next
	// request.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	s.logRequest(rec, r, info, start)
}

// serve routes the request; a panic in its handler becomes a 500 for this
// request alone (or ends its stream), logged with its stack, and the node
// goes on serving. (net/http would recover it too, but only on its own
// goroutines, and without an answer, a log line in our format or metrics;
// the fleet calls this handler from its own goroutines.)
func (s *Server) serve(rec *recorder, r *http.Request, info *requestInfo) {
	defer func() {
		v := recover()
		if v == nil || v == http.ErrAbortHandler {
			if v != nil {
				panic(v)
			}
			return
		}
		err := fmt.Errorf("internal error: %v", v)
		s.log.Error("panic serving a request; it fails, the node goes on", "path", clip(r.URL.Path, maxLoggedBytes), "id", info.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		info.err = &Error{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal_error", Message: err.Error()}
		if rec.status == 0 {
			writeError(rec, r, familyOf(r.URL.Path), info.err, "")
		}
	}()
	s.mux.ServeHTTP(rec, r)
}

// logRequest records a finished request's metrics and log line.
func (s *Server) logRequest(rec *recorder, r *http.Request, info *requestInfo, start time.Time) {
	w := rec.ResponseWriter
	status := rec.status
	if info.status != 0 {
		status = info.status
	} else if status == 0 {
		status = http.StatusOK
	}
	dur := s.now().Sub(start)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.observeRequest(info.endpoint, info.model, status, dur)
	}
	attrs := []slog.Attr{
		slog.String("request_id", w.Header().Get("X-Request-Id")),
		// Method and path are the client's, of any length the server's
		// header limit allows: the log keeps their start.
		slog.String("method", clientText(r.Method)),
		slog.String("path", clip(r.URL.Path, maxLoggedBytes)),
		slog.String("endpoint", info.endpoint),
		slog.Int("status", status),
		slog.Duration("duration", dur),
	}
	if info.served != "" {
		attrs = append(attrs, slog.String("model", info.served))
	}
	if info.promptTokens > 0 || info.completionTokens > 0 {
		attrs = append(attrs, slog.Int("prompt_tokens", info.promptTokens), slog.Int("completion_tokens", info.completionTokens))
	}
	// Client mistakes are routine (INFO); overload is worth noticing
	// (WARN); anything else on the server's side is an ERROR.
	level := slog.LevelInfo
	if info.err != nil {
		attrs = append(attrs, slog.String("error", clip(info.err.Message, maxLoggedBytes)))
		if d := info.err.Detail; d != "" && d != info.err.Message {
			attrs = append(attrs, slog.String("detail", clip(d, maxLoggedBytes)))
		}
		switch {
		case info.err.Status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case info.err.Status >= 500:
			level = slog.LevelError
		}
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// requestInfo collects what the log line and metrics need to know about a
// request while its handler runs.
type requestInfo struct {
	rand     string // random part of the request and response ids
	id       string // the request's id as sent in X-Request-Id
	start    time.Time
	endpoint string
	// model, the metrics label, is set once the backend has accepted the
	// name, so that metrics never get a label per misspelt model name;
	// for an adapter it is the base's.
	model            string
	promptTokens     int
	completionTokens int
	status           int // overrides the written status (499)
	err              *Error
	done             func() // tells the gate how the request ended; set by finish
	served           string // the model that serves the request, sent as ModelHeader
	narrow           string // the JurisdictionHeader, checked before a model runs
	user             string // OpenAI's "user", for Deployments.Pick
	header           http.Header
	pick             *Pick // the version Deployments picked, if it did
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	// Handlers called outside ServeHTTP (never in practice) get a
	// throwaway record rather than a nil pointer.
	return &requestInfo{rand: randomID(), start: time.Now()}
}

// randomID is 24 hex digits from crypto/rand: unguessable, so ids leak
// nothing about request order or volume.
func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder remembers the status a handler wrote, and adds ModelHeader
// to the headers of a response a model served: every generating
// endpoint, in one place.
type recorder struct {
	http.ResponseWriter
	status int
	info   *requestInfo
}

// start is called before the response's first byte.
func (r *recorder) start(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	if r.info != nil && r.info.served != "" {
		r.Header().Set(ModelHeader, r.info.served)
	}
}

func (r *recorder) WriteHeader(code int) {
	r.start(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.start(http.StatusOK)
	return r.ResponseWriter.Write(p)
}

// Flush lets streams push each event out as it is written.
func (r *recorder) Flush() {
	r.start(http.StatusOK)
	http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
