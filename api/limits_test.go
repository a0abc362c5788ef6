package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientSizesAreChecked: every size a client sends is checked against
// the model's context (64 tokens for "fake") and the node's limits before
// the model does any work, on both API shapes. An absurd max_tokens used to
// reach the engine, which reserved memory for it and ended the process.
func TestClientSizesAreChecked(t *testing.T) {
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	for _, tc := range []struct {
		name      string
		limit     int // Config.MaxTokensLimit
		path      string
		body      string
		status    int
		param     string // the field a 400 names
		wantMax   int    // the engine's MaxTokens, for a 200
		inMessage string
	}{
		{name: "max_tokens 1e12", path: "/v1/chat/completions", body: `{"model":"fake","max_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "max_tokens", inMessage: "context holds 64 tokens"},
		{name: "max_tokens MaxInt64", path: "/v1/chat/completions", body: `{"model":"fake","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "max_tokens"},
		{name: "max_completion_tokens 1e12", path: "/v1/chat/completions", body: `{"model":"fake","max_completion_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "max_completion_tokens"},
		{name: "max_tokens at the context", path: "/v1/chat/completions", body: `{"model":"fake","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`,
			status: 200, wantMax: 64},
		{name: "completions max_tokens 1e12", path: "/v1/completions", body: `{"model":"fake","max_tokens":1000000000000,"prompt":"hi"}`,
			status: 400, param: "max_tokens"},
		{name: "streamed max_tokens 1e12", path: "/v1/chat/completions", body: `{"model":"fake","stream":true,"max_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "max_tokens"},
		{name: "ollama num_predict 1e12 is lowered", path: "/api/generate", body: `{"model":"fake","prompt":"hi","stream":false,"options":{"num_predict":1000000000000}}`,
			status: 200, wantMax: 64},
		{name: "ollama chat num_predict MaxInt64", path: "/api/chat", body: `{"model":"fake","stream":false,"messages":[{"role":"user","content":"hi"}],"options":{"num_predict":9223372036854775807}}`,
			status: 200, wantMax: 64},
		{name: "node limit", limit: 10, path: "/v1/chat/completions", body: `{"model":"fake","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "max_tokens", inMessage: "this node generates at most 10"},
		{name: "node limit applies when none is asked", limit: 10, path: "/v1/chat/completions", body: `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`,
			status: 200, wantMax: 10},
		{name: "node limit on ollama", limit: 10, path: "/api/generate", body: `{"model":"fake","prompt":"hi","stream":false,"options":{"num_predict":20}}`,
			status: 200, wantMax: 10},
		{name: "n", path: "/v1/chat/completions", body: `{"model":"fake","n":1000000000,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "n"},
		{name: "top_logprobs", path: "/v1/chat/completions", body: `{"model":"fake","logprobs":true,"top_logprobs":1000000000,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "top_logprobs"},
		{name: "logit_bias", path: "/v1/chat/completions", body: `{"model":"fake","logit_bias":{"5":100},"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "logit_bias"},
		{name: "empty logit_bias", path: "/v1/chat/completions", body: `{"model":"fake","logit_bias":{},"messages":[{"role":"user","content":"hi"}]}`,
			status: 200, wantMax: 0},
		{name: "five stops", path: "/v1/chat/completions", body: `{"model":"fake","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, param: "stop"},
		{name: "a huge stop", path: "/v1/completions", body: `{"model":"fake","prompt":"hi","stop":"` + strings.Repeat("x", 5000) + `"}`,
			status: 400, param: "stop"},
		{name: "ollama: many stops", path: "/api/generate", body: `{"model":"fake","prompt":"hi","stream":false,"options":{"stop":` + many(100, `"x"`) + `}}`,
			status: 400, param: "options.stop"},
		{name: "more messages than the context", path: "/v1/chat/completions", body: `{"model":"fake","messages":` + many(65, `{"role":"user","content":""}`) + `}`,
			status: 400, param: "messages", inMessage: "65 messages"},
		{name: "more messages than any conversation", path: "/v1/chat/completions", body: `{"model":"fake","messages":` + many(maxMessages+1, `{"role":"user","content":""}`) + `}`,
			status: 400, param: "messages", inMessage: "more than 16384"},
		{name: "ollama: more messages than any conversation", path: "/api/chat", body: `{"model":"fake","messages":` + many(maxMessages+1, `{"role":"user","content":""}`) + `}`,
			status: 400, param: "messages"},
		{name: "ollama: more messages than the context", path: "/api/chat", body: `{"model":"fake","messages":` + many(65, `{"role":"user","content":""}`) + `}`,
			status: 400, param: "messages"},
		{name: "more text than the context", path: "/v1/chat/completions", body: `{"model":"fake","messages":[{"role":"user","content":"` + strings.Repeat("y", 100) + `"}]}`,
			status: 400, param: "messages", inMessage: "bytes of text"},
		{name: "ollama: too many embedding inputs", path: "/api/embed", body: `{"model":"fake","input":` + many(2049, `"x"`) + `}`,
			status: 400, param: "input"},
		{name: "openai: more embedding tokens than a request may hold", path: "/v1/embeddings", body: `{"model":"fake","input":` + many(4, `"`+strings.Repeat("e", 30)+`"`) + `}`,
			status: 400, param: "input", inMessage: "more than 100 tokens in all"},
		{name: "ollama: more embedding tokens than a request may hold", path: "/api/embed", body: `{"model":"fake","input":` + many(4, `"`+strings.Repeat("e", 30)+`"`) + `}`,
			status: 400, param: "input"},
		{name: "openai: too many embedding inputs", path: "/v1/embeddings", body: `{"model":"fake","input":` + many(2049, `"x"`) + `}`,
			status: 400, param: "input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxTokensLimit, c.MaxBodyBytes, c.MaxEmbeddingTokens = tc.limit, 1<<20, 100 })
			rec := h.do("POST", tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				if tc.wantMax > 0 {
					if got := h.backend.models["fake"].lastRequest().MaxTokens; got != tc.wantMax {
						t.Errorf("the engine was asked for %d tokens, want %d", got, tc.wantMax)
					}
				}
				return
			}
			var body struct {
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%v: %s", err, rec.Body)
			}
			var oe struct {
				Message string  `json:"message"`
				Param   *string `json:"param"`
			}
			var msg string
			if json.Unmarshal(body.Error, &oe) == nil { // OpenAI's shape names the field
				msg = oe.Message
				if oe.Param == nil || *oe.Param != tc.param {
					t.Errorf("param %v, want %q: %s", oe.Param, tc.param, rec.Body)
				}
			} else if err := json.Unmarshal(body.Error, &msg); err != nil { // Ollama's is a string
				t.Fatalf("error is neither shape: %s", rec.Body)
			}
			if !strings.Contains(msg, tc.param) && !strings.Contains(msg, strings.TrimPrefix(tc.param, "options.")) {
				t.Errorf("message %q does not name %q", msg, tc.param)
			}
			if tc.inMessage != "" && !strings.Contains(msg, tc.inMessage) {
				t.Errorf("message %q, want it to say %q", msg, tc.inMessage)
			}
			if n := h.backend.models["fake"].generations(); n != 0 {
				t.Errorf("%d generations ran for a refused request", n)
			}
		})
	}
}
