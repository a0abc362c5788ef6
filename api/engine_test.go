package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

// Integration with the real engine: a minimal Backend over one
// engine.Model (the node's real backend, with batching, lives elsewhere).

const storiesPath = "../../shared/testdata/models/stories260K.gguf"

type engineBackend struct {
	model *engine.Model
	info  ModelInfo
	// errs receives the error of every Generate call, so tests can see
	// that a departed client cancelled the engine.
	errs chan error
	// delay slows each token down, standing in for a larger model so
	// that a test can act while generation is still running.
	delay time.Duration
}

func (b *engineBackend) Models(context.Context) ([]ModelInfo, error) { return []ModelInfo{b.info}, nil }

func (b *engineBackend) Acquire(_ context.Context, name string) (Model, func(), error) {
	if name != b.info.Name {
		return nil, nil, fmt.Errorf("%q: %w", name, ErrModelNotFound)
	}
	return engineModel{b}, func() {}, nil
}

type engineModel struct{ b *engineBackend }

func (m engineModel) Info() ModelInfo { return m.b.info }
func (m engineModel) ChatPrompt(msgs []chat.Message) ([]int32, error) {
	return m.b.model.ChatPrompt(msgs)
}
func (m engineModel) Tokenize(text string, addSpecial, parseSpecial bool) []int32 {
	return m.b.model.Tok.Encode(text, addSpecial, parseSpecial)
}

// Detokenize keeps a leading space: ids here continue a prompt.
func (m engineModel) Detokenize(ids []int32) string {
	return m.b.model.Tok.DecodeWith(ids, tokenizer.DecodeOptions{Continuation: true})
}
func (m engineModel) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error) {
	res, err := m.b.model.Generate(ctx, req, func(t engine.Token) error {
		time.Sleep(m.b.delay)
		return emit(t)
	})
	select {
	case m.b.errs <- err:
	default:
	}
	return res, err
}
func (m engineModel) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	return m.b.model.Embed(ctx, tokens)
}

var (
	storiesOnce  sync.Once
	storiesModel *engine.Model
	storiesErr   error
)

// newEngineBackend loads stories260K once per test binary.
func newEngineBackend(t *testing.T) *engineBackend {
	t.Helper()
	if _, err := os.Stat(storiesPath); err != nil {
		t.Skipf("test model not available: %v", err)
	}
	storiesOnce.Do(func() { storiesModel, storiesErr = engine.Load(storiesPath, engine.Options{Threads: 2}) })
	if storiesErr != nil {
		t.Fatal(storiesErr)
	}
	m := storiesModel
	st, _ := os.Stat(storiesPath)
	return &engineBackend{model: m, errs: make(chan error, 64), info: ModelInfo{
		Name: "stories260k", Path: storiesPath, Size: st.Size(), ModifiedAt: st.ModTime(), Architecture: m.Net.Arch,
		ContextLength: m.Context(), ChatTemplate: m.Template.Name(), Loaded: true, Vocab: m.Net.Vocab,
	}}
}

func newEngineServer(t *testing.T) (*Server, *engineBackend) {
	t.Helper()
	b := newEngineBackend(t)
	srv, err := New(Config{Backend: b, DefaultMaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	return srv, b
}

func serve(srv *Server, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func TestEngineChat(t *testing.T) {
	srv, b := newEngineServer(t)
	msgs := []chat.Message{{Role: "user", Content: "Tell me a story about a cat."}}
	prompt, err := b.model.ChatPrompt(msgs)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"stories260k","messages":[{"role":"user","content":"Tell me a story about a cat."}],"temperature":0,"max_tokens":24,"logprobs":true,"top_logprobs":3`

	rec := serve(srv, "POST", "/v1/chat/completions", body+`}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var full oaChat
	decode(t, rec.Body.Bytes(), &full)
	c := full.Choices[0]
	u := full.Usage
	if u.PromptTokens != len(prompt) || u.CompletionTokens == 0 || u.CompletionTokens > 24 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, prompt %d tokens", u, len(prompt))
	}
	if (u.CompletionTokens == 24) != (c.FinishReason == "length") {
		t.Errorf("%d tokens with finish_reason %q", u.CompletionTokens, c.FinishReason)
	}
	if c.Message.Content == "" || len(c.Logprobs.Content) != u.CompletionTokens {
		t.Fatalf("content %q with %d logprob entries for %d tokens", c.Message.Content, len(c.Logprobs.Content), u.CompletionTokens)
	}
	t.Logf("reply %q (%d tokens, %s)", c.Message.Content, u.CompletionTokens, c.FinishReason)
	var joined strings.Builder
	for i, e := range c.Logprobs.Content {
		joined.WriteString(e.Token)
		if e.Logprob > 0 || len(e.TopLogprobs) != 3 || string(intBytes(e.Bytes)) != e.Token {
			t.Errorf("logprobs[%d] = %+v", i, e)
		}
		// Greedy decoding picks the most likely token, which leads the list.
		if e.TopLogprobs[0].Token != e.Token || math.Abs(e.TopLogprobs[0].Logprob-e.Logprob) > 1e-9 ||
			e.TopLogprobs[0].Logprob < e.TopLogprobs[1].Logprob || e.TopLogprobs[1].Logprob < e.TopLogprobs[2].Logprob {
			t.Errorf("logprobs[%d]: greedy token %q (%v) vs alternatives %+v", i, e.Token, e.Logprob, e.TopLogprobs)
		}
	}
	if joined.String() != c.Message.Content {
		t.Errorf("logprob tokens join to %q, content is %q", joined.String(), c.Message.Content)
	}

	// The same request streamed gives the same text, token for token.
	rec = serve(srv, "POST", "/v1/chat/completions", body+`,"stream":true,"stream_options":{"include_usage":true}}`)
	events := sseEvents(t, rec.Body.String())
	if events[len(events)-1] != "[DONE]" {
		t.Fatal("no [DONE]")
	}
	var text strings.Builder
	var entries int
	var usage *oaUsage
	var finish string
	for _, ev := range events[:len(events)-1] {
		var ch oaChunk
		decode(t, []byte(ev), &ch)
		if ch.Usage != nil {
			usage = ch.Usage
			continue
		}
		if d := ch.Choices[0].Delta.Content; d != nil {
			text.WriteString(*d)
		}
		if lp := ch.Choices[0].Logprobs; lp != nil {
			entries += len(lp.Content)
		}
		if f := ch.Choices[0].FinishReason; f != nil {
			finish = *f
		}
	}
	if text.String() != c.Message.Content || usage == nil || *usage != *u || entries != u.CompletionTokens || finish != c.FinishReason {
		t.Errorf("stream: text %q usage %+v entries %d finish %q; non-stream: %q %+v %q", text.String(), usage, entries, finish, c.Message.Content, *u, c.FinishReason)
	}
}

func TestEngineCompletionAndEmbedding(t *testing.T) {
	srv, b := newEngineServer(t)
	rec := serve(srv, "POST", "/v1/completions", `{"model":"stories260k","prompt":"Once upon a time","max_tokens":12,"temperature":0,"logprobs":1}`)
	var got oaCompletion
	decode(t, rec.Body.Bytes(), &got)
	prompt := b.model.Tok.Encode("Once upon a time", true, true)
	ch := got.Choices[0]
	if got.Usage.PromptTokens != len(prompt) || got.Usage.CompletionTokens != len(ch.Logprobs.Tokens) || ch.Text == "" {
		t.Errorf("completion %+v for a %d-token prompt", got, len(prompt))
	}
	if strings.Join(ch.Logprobs.Tokens, "") != ch.Text {
		t.Errorf("tokens %q do not join to %q", ch.Logprobs.Tokens, ch.Text)
	}

	rec = serve(srv, "POST", "/v1/embeddings", `{"model":"stories260k","input":["a cat","a dog"]}`)
	var emb struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &emb); err != nil || len(emb.Data) != 2 {
		t.Fatalf("embeddings %d: %s", rec.Code, rec.Body)
	}
	for i, d := range emb.Data {
		var norm float64
		for _, x := range d.Embedding {
			norm += x * x
		}
		if len(d.Embedding) != b.model.Net.Dim || math.Abs(norm-1) > 1e-4 {
			t.Errorf("embedding %d: %d dims (want %d), norm² %v", i, len(d.Embedding), b.model.Net.Dim, norm)
		}
	}
	want := len(b.model.Tok.Encode("a cat", true, false)) + len(b.model.Tok.Encode("a dog", true, false))
	if emb.Usage.PromptTokens != want {
		t.Errorf("usage %d tokens, want %d", emb.Usage.PromptTokens, want)
	}

	// An Ollama chat over the same engine, streamed.
	rec = serve(srv, "POST", "/api/chat", `{"model":"stories260k","messages":[{"role":"user","content":"Hi"}],"options":{"num_predict":8,"temperature":0}}`)
	lines := ndjsonLines(t, rec.Body.String())
	var final olChat
	decode(t, []byte(lines[len(lines)-1]), &final)
	if !final.Done || final.EvalCount == 0 || final.EvalCount > 8 || final.PromptEvalCount == 0 || final.TotalDuration <= 0 {
		t.Errorf("final line %s", lines[len(lines)-1])
	}
}

// A client that leaves mid-stream stops the real engine.
func TestEngineDisconnect(t *testing.T) {
	srv, b := newEngineServer(t)
	b.delay = 10 * time.Millisecond
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithCancel(t.Context())
	resp, err := postJSON(ctx, ts.URL+"/v1/completions", `{"model":"stories260k","prompt":"Once","max_tokens":400,"stream":true,"temperature":1}`)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case err := <-b.errs:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Generate returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the engine kept generating after the client left")
	}
}

// TokenizeContinuation makes engineModel tokenize resumed text as the
// node's real backend does.
func (m engineModel) TokenizeContinuation(text string) []int32 {
	return m.b.model.Tok.EncodeContinuation(text)
}
