package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine/chat"
)

// Mirrors of Ollama's response objects.

type olMessage struct {
	Role    string   `json:"role"`
	Content string   `json:"content"`
	Images  []string `json:"images"`
}

type olStats struct {
	TotalDuration      int64 `json:"total_duration"`
	LoadDuration       int64 `json:"load_duration"`
	PromptEvalCount    int   `json:"prompt_eval_count"`
	PromptEvalDuration int64 `json:"prompt_eval_duration"`
	EvalCount          int   `json:"eval_count"`
	EvalDuration       int64 `json:"eval_duration"`
}

type olChat struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Message    olMessage `json:"message"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason"`
	olStats
}

type olGenerate struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason"`
	olStats
}

type olDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func TestOllamaChatStream(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name, path, body string
		wantText         string
		wantReason       string
		wantTokens       int
	}{
		{"chat", "/api/chat", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`, strings.Join(fakePieces, ""), "stop", 5},
		{"chat stream true, num_predict", "/api/chat", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stream":true,"options":{"num_predict":2}}`, "Once upon", "length", 2},
		{"generate", "/api/generate", `{"model":"fake","prompt":"hi"}`, strings.Join(fakePieces, ""), "stop", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", tc.path, tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type %q", ct)
			}
			lines := ndjsonLines(t, rec.Body.String())
			var text strings.Builder
			for i, line := range lines {
				var part olChat
				var content string
				var done bool
				var reason string
				var stats olStats
				if tc.path == "/api/chat" {
					decode(t, []byte(line), &part)
					if part.Message.Role != "assistant" {
						t.Errorf("line %d role %q", i, part.Message.Role)
					}
					content, done, reason, stats = part.Message.Content, part.Done, part.DoneReason, part.olStats
				} else {
					var g olGenerate
					decode(t, []byte(line), &g)
					part.Model, part.CreatedAt = g.Model, g.CreatedAt
					content, done, reason, stats = g.Response, g.Done, g.DoneReason, g.olStats
				}
				if part.Model != "fake" || !part.CreatedAt.Equal(h.srv.now()) {
					t.Errorf("line %d model %q created_at %v", i, part.Model, part.CreatedAt)
				}
				last := i == len(lines)-1
				if done != last {
					t.Errorf("line %d done=%v", i, done)
				}
				if !last {
					if reason != "" || stats != (olStats{}) {
						t.Errorf("line %d has final fields: %s", i, line)
					}
					text.WriteString(content)
					continue
				}
				if content != "" || reason != tc.wantReason {
					t.Errorf("final line %s, want empty content and done_reason %q", line, tc.wantReason)
				}
				prompt := len(h.backend.models["fake"].lastRequest().Prompt)
				if stats.EvalCount != tc.wantTokens || stats.PromptEvalCount != prompt ||
					stats.PromptEvalDuration != int64(3*time.Millisecond) || stats.EvalDuration != int64(7*time.Millisecond) {
					t.Errorf("final stats %+v, want %d tokens after a %d-token prompt", stats, tc.wantTokens, prompt)
				}
			}
			if text.String() != tc.wantText {
				t.Errorf("streamed %q, want %q", text.String(), tc.wantText)
			}
		})
	}
}

func TestOllamaNoStream(t *testing.T) {
	h := newHarness(t, nil)
	m := h.backend.models["fake"]
	rec := h.do("POST", "/api/chat", `{"model":"fake","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],"stream":false}`)
	var c olChat
	decode(t, rec.Body.Bytes(), &c)
	if rec.Header().Get("Content-Type") != "application/json" || !c.Done || c.DoneReason != "stop" ||
		c.Message.Role != "assistant" || c.Message.Content != strings.Join(fakePieces, "") || c.EvalCount != 5 {
		t.Errorf("chat = %+v", c)
	}
	if want := fakePromptLen(t, h, chat.Message{Role: "system", Content: "s"}, chat.Message{Role: "user", Content: "hi"}); c.PromptEvalCount != want {
		t.Errorf("prompt_eval_count %d, want %d", c.PromptEvalCount, want)
	}

	// generate: system + prompt go through the chat template; raw does not.
	rec = h.do("POST", "/api/generate", `{"model":"fake","prompt":"hi","system":"s","stream":false}`)
	var g olGenerate
	decode(t, rec.Body.Bytes(), &g)
	if g.Response != strings.Join(fakePieces, "") || !g.Done || g.DoneReason != "stop" {
		t.Errorf("generate = %+v", g)
	}
	want, _ := m.ChatPrompt([]chat.Message{{Role: "system", Content: "s"}, {Role: "user", Content: "hi"}})
	if got := m.lastRequest().Prompt; !slices.Equal(got, want) {
		t.Errorf("templated prompt %v, want %v", got, want)
	}
	h.do("POST", "/api/generate", `{"model":"fake","prompt":"hi","raw":true,"stream":false}`)
	if got := m.lastRequest().Prompt; !slices.Equal(got, m.Tokenize("hi", true, true)) {
		t.Errorf("raw prompt %v", got)
	}

	// Empty prompt or messages: load only.
	for _, tc := range []struct{ path, body string }{
		{"/api/generate", `{"model":"fake"}`},
		{"/api/chat", `{"model":"fake","messages":[]}`},
	} {
		rec := h.do("POST", tc.path, tc.body)
		var raw map[string]any
		json.Unmarshal(rec.Body.Bytes(), &raw)
		if rec.Code != 200 || raw["done"] != true || raw["done_reason"] != "load" {
			t.Errorf("%s %s: %d %s", tc.path, tc.body, rec.Code, rec.Body)
		}
	}
}

func TestOllamaOptions(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DefaultMaxTokens = 50 })
	m := h.backend.models["fake"]
	h.do("POST", "/api/generate", `{"model":"fake","prompt":"x","stream":false}`)
	r := m.lastRequest()
	if s := r.Sampling; s.Temperature != 0.8 || s.TopK != 40 || s.TopP != 0.9 || s.RepeatPenalty != 1.1 || s.RepeatLastN != 64 || r.MaxTokens != 50 {
		t.Errorf("defaults: %+v max %d", s, r.MaxTokens)
	}
	h.do("POST", "/api/generate", `{"model":"fake","prompt":"x","stream":false,"options":{"temperature":0,"top_k":5,"top_p":0.5,"min_p":0.1,"seed":7,
		"num_predict":3,"stop":["\n","user:"],"repeat_penalty":1.3,"repeat_last_n":-1,"presence_penalty":0.5,"frequency_penalty":0.25,"num_ctx":99999,"mirostat":1}}`)
	r = m.lastRequest()
	s := r.Sampling
	if s.Temperature != 0 || s.TopK != 5 || s.TopP != 0.5 || s.MinP != 0.1 || s.Seed != 7 || s.RepeatPenalty != 1.3 || s.RepeatLastN != -1 ||
		s.PresencePenalty != 0.5 || s.FrequencyPenalty != 0.25 || r.MaxTokens != 3 || strings.Join(r.Stop, "|") != "\n|user:" {
		t.Errorf("options: %+v max %d stop %q", s, r.MaxTokens, r.Stop)
	}
	h.do("POST", "/api/generate", `{"model":"fake","prompt":"x","stream":false,"options":{"num_predict":-1,"seed":-1}}`)
	if r := m.lastRequest(); r.MaxTokens != 0 {
		t.Errorf("num_predict -1 gave max %d, want no limit", r.MaxTokens)
	}
}

func TestOllamaModels(t *testing.T) {
	h := newHarness(t, nil)
	var tags struct {
		Models []struct {
			Name       string    `json:"name"`
			Model      string    `json:"model"`
			ModifiedAt time.Time `json:"modified_at"`
			Size       int64     `json:"size"`
			Digest     string    `json:"digest"`
			Details    olDetails `json:"details"`
		} `json:"models"`
	}
	decode(t, h.do("GET", "/api/tags", "").Body.Bytes(), &tags)
	wantDetails := olDetails{Format: "gguf", Family: "llama", Families: []string{"llama"}, ParameterSize: "260K", QuantizationLevel: "F32"}
	if len(tags.Models) != len(fakeNames) {
		t.Fatalf("tags = %+v", tags)
	}
	if m := tags.Models[0]; m.Name != "fake" || m.Model != "fake" || m.Size != 1234 || m.Digest != "abcd" ||
		!m.ModifiedAt.Equal(h.backend.models["fake"].info.ModifiedAt) || !equalDetails(m.Details, wantDetails) {
		t.Errorf("tags[0] = %+v", m)
	}

	var ps struct {
		Models []struct {
			Name          string    `json:"name"`
			Model         string    `json:"model"`
			Size          int64     `json:"size"`
			Digest        string    `json:"digest"`
			Details       olDetails `json:"details"`
			ExpiresAt     time.Time `json:"expires_at"`
			SizeVRAM      int64     `json:"size_vram"`
			ContextLength int       `json:"context_length"`
		} `json:"models"`
	}
	decode(t, h.do("GET", "/api/ps", "").Body.Bytes(), &ps)
	if len(ps.Models) != 1 || ps.Models[0].Name != "fake" || ps.Models[0].ContextLength != 64 ||
		!ps.Models[0].ExpiresAt.Equal(h.backend.models["fake"].info.ExpiresAt) {
		t.Errorf("ps = %+v, want only the loaded model", ps)
	}

	var show struct {
		License      string         `json:"license"`
		Modelfile    string         `json:"modelfile"`
		Parameters   string         `json:"parameters"`
		Template     string         `json:"template"`
		Details      olDetails      `json:"details"`
		ModelInfo    map[string]any `json:"model_info"`
		Capabilities []string       `json:"capabilities"`
		ModifiedAt   time.Time      `json:"modified_at"`
	}
	// "fake:latest" is Ollama's spelling of "fake"; "name" is the old field.
	decode(t, h.do("POST", "/api/show", `{"name":"fake:latest"}`).Body.Bytes(), &show)
	if show.Template != "chatml" || !strings.Contains(show.Modelfile, "FROM fake\n") || !strings.Contains(show.Parameters, "num_ctx") ||
		!equalDetails(show.Details, wantDetails) || show.ModelInfo["general.architecture"] != "llama" ||
		show.ModelInfo["llama.context_length"] != float64(64) || show.ModelInfo["general.parameter_count"] != float64(260000) {
		t.Errorf("show = %+v", show)
	}
	// Nothing in the answer names the server's file (item 10 of issue 12).
	if body := h.do("POST", "/api/show", `{"model":"fake"}`).Body.String(); strings.Contains(body, "/models/") || strings.Contains(body, ".gguf") {
		t.Errorf("/api/show names the model's file: %s", body)
	}

	var ver struct {
		Version string `json:"version"`
	}
	decode(t, h.do("GET", "/api/version", "").Body.Bytes(), &ver)
	if ver.Version != "0.1.2" {
		t.Errorf("version %q", ver.Version)
	}

	rec := h.do("GET", "/", "")
	if rec.Code != 200 || rec.Body.String() != "Ollama is running" {
		t.Errorf("GET / = %d %q", rec.Code, rec.Body)
	}
	rec = h.do("HEAD", "/", "")
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD / = %d %q", rec.Code, rec.Body)
	}
}

func equalDetails(a, b olDetails) bool {
	return a.ParentModel == b.ParentModel && a.Format == b.Format && a.Family == b.Family && strings.Join(a.Families, ",") == strings.Join(b.Families, ",") &&
		a.ParameterSize == b.ParameterSize && a.QuantizationLevel == b.QuantizationLevel
}

func TestOllamaNameAlias(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do("POST", "/api/chat", `{"model":"fake:latest",`+hi+`,"stream":false}`)
	var c olChat
	decode(t, rec.Body.Bytes(), &c)
	if rec.Code != 200 || c.Model != "fake:latest" || c.Message.Content == "" {
		t.Errorf("fake:latest: %d %+v", rec.Code, c)
	}
}

func TestOllamaEmbed(t *testing.T) {
	h := newHarness(t, nil)
	m := h.backend.models["fake"]
	var got struct {
		Model           string      `json:"model"`
		Embeddings      [][]float32 `json:"embeddings"`
		TotalDuration   int64       `json:"total_duration"`
		LoadDuration    int64       `json:"load_duration"`
		PromptEvalCount int         `json:"prompt_eval_count"`
	}
	decode(t, h.do("POST", "/api/embed", `{"model":"fake","input":["ab","c"]}`).Body.Bytes(), &got)
	want0, _ := m.Embed(t.Context(), m.Tokenize("ab", true, false))
	if got.Model != "fake" || len(got.Embeddings) != 2 || got.Embeddings[0][1] != want0[1] || got.PromptEvalCount != 5 {
		t.Errorf("embed = %+v", got)
	}
	// Truncation is Ollama's default: a long input is cut to the context.
	rec := h.do("POST", "/api/embed", `{"model":"small","input":"0123456789"}`)
	decode(t, rec.Body.Bytes(), &got)
	if rec.Code != 200 || got.PromptEvalCount != 7 {
		t.Errorf("truncated embed: %d %+v", rec.Code, got)
	}

	var old struct {
		Embedding []float64 `json:"embedding"`
	}
	decode(t, h.do("POST", "/api/embeddings", `{"model":"fake","prompt":"ab"}`).Body.Bytes(), &old)
	if len(old.Embedding) != 3 || float32(old.Embedding[1]) != want0[1] {
		t.Errorf("embeddings = %+v", old)
	}
	rec = h.do("POST", "/api/embeddings", `{"model":"fake","prompt":""}`)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"embedding":[]}` {
		t.Errorf("empty prompt: %d %s", rec.Code, rec.Body)
	}
}
