package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/prometheus/client_golang/prometheus"
)

// The fake backend: models whose behaviour is chosen by name.
//
//   - "fake":  emits fakePieces (one token each), then stops.
//   - "long":  emits 40 tokens, then stops.
//   - "busy":  Generate fails with ErrOverloaded, retry after 3s.
//   - "block": emits one token, then waits for ctx to be cancelled.
//   - "small": a context of 8 tokens.
//   - "fail":  emits two tokens, then fails.
//   - "panic": emits one token, then panics (a bug in a backend).
//   - "flood": emits 64 KiB tokens until ctx is cancelled.
//
// Tokens: BOS is 1; text is one token per byte (id = byte + 3); generated
// pieces have ids from pieceBase up.
var fakeNames = []string{"fake", "long", "busy", "block", "small", "fail", "panic", "flood"}

var fakePieces = []string{"Once", " upon", " a", " time", "."}

const (
	fakeBOS   = 1
	pieceBase = 1000
	fakeVocab = 2000
)

type fakeBackend struct {
	mu       sync.Mutex
	acquired int
	released int
	models   map[string]*fakeModel
}

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{models: map[string]*fakeModel{}}
	for _, name := range fakeNames {
		ctxLen := 64
		if name == "small" {
			ctxLen = 8
		}
		b.models[name] = &fakeModel{
			name:      name,
			cancelled: make(chan struct{}),
			started:   make(chan struct{}, 16),
			info: ModelInfo{Name: name, Path: "/models/" + name + ".gguf", Size: 1234, Digest: "sha256:abcd",
				ModifiedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Architecture: "llama", Parameters: 260_000,
				Quantization: "F32", ContextLength: ctxLen, ChatTemplate: "chatml", Loaded: name == "fake", Vocab: fakeVocab, TokenBytes: 1,
				ExpiresAt: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)},
		}
	}
	return b
}

func (b *fakeBackend) Models(ctx context.Context) ([]ModelInfo, error) {
	var out []ModelInfo
	for _, name := range fakeNames {
		out = append(out, b.models[name].info)
	}
	return out, nil
}

func (b *fakeBackend) Acquire(ctx context.Context, name string) (Model, func(), error) {
	m, ok := b.models[name]
	if !ok {
		return nil, nil, fmt.Errorf("fake: %q: %w", name, ErrModelNotFound)
	}
	b.mu.Lock()
	b.acquired++
	b.mu.Unlock()
	return m, func() {
		b.mu.Lock()
		b.released++
		b.mu.Unlock()
	}, nil
}

type retryErr struct{ d time.Duration }

func (e retryErr) Error() string             { return "queue full" }
func (e retryErr) Unwrap() error             { return ErrOverloaded }
func (e retryErr) RetryAfter() time.Duration { return e.d }

func (m *fakeModel) Info() ModelInfo { return m.info }

func (m *fakeModel) Tokenize(text string, addSpecial, parseSpecial bool) []int32 {
	var out []int32
	if addSpecial {
		out = append(out, fakeBOS)
	}
	for i := 0; i < len(text); i++ {
		out = append(out, int32(text[i])+3)
	}
	return out
}

func (m *fakeModel) TokenizeContinuation(text string) []int32 { return m.Tokenize(text, false, false) }

type fakeModel struct {
	name      string
	info      ModelInfo
	cancelled chan struct{} // closed when a "block" generation sees ctx.Done
	started   chan struct{}
	once      sync.Once
	mu        sync.Mutex
	last      engine.Request
	runs      int // Generate calls
}

// generations is how many times Generate was called.
func (m *fakeModel) generations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs
}

func (m *fakeModel) lastRequest() engine.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (m *fakeModel) Detokenize(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		switch {
		case id >= pieceBase:
			sb.WriteString(fakePiece(int(id - pieceBase)))
		case id >= 3:
			sb.WriteByte(byte(id - 3))
		}
	}
	return sb.String()
}

func fakePiece(i int) string {
	if i < len(fakePieces) {
		return fakePieces[i]
	}
	return fmt.Sprintf(" w%d", i)
}

func (m *fakeModel) ChatPrompt(msgs []chat.Message) ([]int32, error) {
	var sb strings.Builder
	for _, msg := range msgs {
		if msg.Role == "tool" && msg.ToolCallID == "" && msg.Content == "bad" {
			return nil, fmt.Errorf("template refuses this")
		}
		fmt.Fprintf(&sb, "%s: %s\n", msg.Role, msg.Content)
	}
	sb.WriteString("assistant:")
	return m.Tokenize(sb.String(), true, false), nil
}

// fakeLogProb is the log-probability the fake reports for its i-th token.
func fakeLogProb(i int) float64 { return -0.25 * float64(i+1) }

func (m *fakeModel) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error) {
	m.mu.Lock()
	m.last = req
	m.runs++
	m.mu.Unlock()
	select {
	case m.started <- struct{}{}:
	default:
	}
	if len(req.Prompt) >= m.info.ContextLength {
		return nil, fmt.Errorf("%w: %d tokens", engine.ErrPromptTooLong, len(req.Prompt))
	}
	if m.name == "panic" {
		emit(engine.Token{ID: pieceBase, Text: fakePieces[0]})
		var none []int
		_ = none[len(req.Prompt)] // index out of range
	}
	res := &engine.Result{PromptTokens: len(req.Prompt), FinishReason: engine.FinishStop, PromptTime: 3 * time.Millisecond, GenTime: 7 * time.Millisecond}
	n := len(fakePieces)
	switch m.name {
	case "busy":
		return nil, retryErr{3 * time.Second}
	case "long":
		n = 40
	case "fail":
		for i := range 2 {
			if err := emit(engine.Token{ID: int32(pieceBase + i), Text: fakePiece(i)}); err != nil {
				return res, err
			}
		}
		return res, errors.New("fake: the engine broke")
	case "block":
		if err := emit(engine.Token{ID: pieceBase, Text: fakePiece(0)}); err != nil {
			return res, err
		}
		<-ctx.Done()
		m.once.Do(func() { close(m.cancelled) })
		return res, ctx.Err()
	case "flood":
		big := strings.Repeat("x", 64<<10)
		for ctx.Err() == nil {
			if err := emit(engine.Token{ID: pieceBase, Text: big}); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		m.once.Do(func() { close(m.cancelled) })
		return res, ctx.Err()
	}
	var text strings.Builder
	for i := 0; i < n; i++ {
		if req.MaxTokens > 0 && i == req.MaxTokens {
			res.FinishReason = engine.FinishLength
			break
		}
		id := int32(pieceBase + i)
		t := engine.Token{ID: id, Text: fakePiece(i)}
		if req.LogProbs || req.TopLogProbs > 0 {
			t.LogProb = fakeLogProb(i)
			for k := 0; k < req.TopLogProbs; k++ {
				t.Top = append(t.Top, sample.TokenLogProb{ID: int32(pieceBase + k), LogProb: fakeLogProb(k)})
			}
		}
		res.Tokens = append(res.Tokens, id)
		text.WriteString(t.Text)
		if err := emit(t); err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	res.Text = text.String()
	return res, nil
}

// Embed returns a unit vector that depends on the tokens' count and sum.
func (m *fakeModel) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	if len(tokens) >= m.info.ContextLength {
		return nil, fmt.Errorf("%w: %d tokens", engine.ErrPromptTooLong, len(tokens))
	}
	var sum float64
	for _, t := range tokens {
		sum += float64(t)
	}
	v := []float64{float64(len(tokens)), sum, 1}
	norm := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	return []float32{float32(v[0] / norm), float32(v[1] / norm), float32(v[2] / norm)}, nil
}

// harness is a server over the fake backend with its registry and log.
type harness struct {
	t       *testing.T
	srv     *Server
	backend *fakeBackend
	reg     *prometheus.Registry
	logs    *bytes.Buffer
	logMu   *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, backend: newFakeBackend(), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	metrics, err := NewMetrics(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Backend:      h.backend,
		Logger:       slog.New(slog.NewJSONHandler(lockedWriter{h.logMu, h.logs}, nil)),
		Metrics:      metrics,
		Gatherer:     h.reg,
		MaxBodyBytes: 4096,
		Version:      "0.1.2",
		Now:          func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) },
	}
	if edit != nil {
		edit(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) log() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.logs.String()
}

// do sends one request through ServeHTTP.
func (h *harness) do(method, path, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// decode parses a JSON response body strictly into v, so that a field the
// server sends but the mirror struct lacks fails the test.
func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, body)
	}
}

// sseEvents splits an SSE body into its data payloads, checking framing.
func sseEvents(t *testing.T, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("SSE body does not end with a blank line: %q", body)
	}
	var out []string
	for _, ev := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("bad SSE event %q", ev)
		}
		out = append(out, data)
	}
	return out
}

// ndjsonLines splits an NDJSON body into lines, checking framing.
func ndjsonLines(t *testing.T, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("NDJSON body does not end with a newline: %q", body)
	}
	return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
}

// httpServer serves the harness over a real connection, for tests that
// need a client to go away.
func (h *harness) httpServer() *httptest.Server {
	ts := httptest.NewServer(h.srv)
	h.t.Cleanup(ts.Close)
	return ts
}

func postJSON(ctx context.Context, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}
