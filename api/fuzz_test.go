package api

import (
	"strings"
	"testing"
)

// FuzzRequests sends any body to the generating endpoints of both API
// shapes. Whatever it holds, the node must not panic, and a request that
// reaches the model must reach it with sizes the node chose to allow: at
// most the context's tokens, a bounded stop list. The seeds are the sizes
// that once killed a node or overflowed an estimate.
func FuzzRequests(f *testing.F) {
	paths := []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/api/chat", "/api/generate", "/api/embed", "/api/embeddings"}
	for _, seed := range []struct {
		path int
		body string
	}{
		{0, `{"model":"fake","max_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"fake","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"fake","max_completion_tokens":-9223372036854775808,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"fake","stream":true,"n":1000000000,"top_logprobs":1000000000,"logprobs":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`},
		{0, `{"model":"fake","logit_bias":{"1":100},"stop":["a","b","c","d","e"],"messages":[{"role":"developer","content":null}]}`},
		{1, `{"model":"fake","max_tokens":1000000000000,"prompt":[[1,2,2147483647]],"logprobs":1000000000,"echo":true}`},
		{2, `{"model":"fake","input":[[1,2,3],[4]],"dimensions":1000000000000,"encoding_format":"base64"}`},
		{3, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":1000000000000,"num_ctx":1000000000000,"repeat_last_n":9223372036854775807,"top_k":9223372036854775807}}`},
		{4, `{"model":"fake","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":-2,"stop":["` + strings.Repeat("x", 2000) + `"]}}`},
		{5, `{"model":"fake","input":["a","b"],"truncate":false}`},
		{6, `{"model":"fake","prompt":"hi"}`},
		{0, `{"model":"fake","messages":[` + strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"a"},`, 100), ",") + `]}`},
	} {
		f.Add(seed.path, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, path int, body []byte) {
		if path < 0 {
			path = -path
		}
		if strings.Contains(string(body), `"panic`) {
			return // the fake model that panics on purpose
		}
		h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
		rec := h.do("POST", paths[path%len(paths)], string(body))
		if log := h.log(); strings.Contains(log, "panic") {
			t.Fatalf("%s %q: the node panicked:\n%s", paths[path%len(paths)], body, log)
		}
		if rec.Code == 200 {
			for _, name := range fakeNames {
				r := h.backend.models[name].lastRequest()
				ctx := h.backend.models[name].info.ContextLength
				if r.MaxTokens > ctx || len(r.Stop) > maxOllamaStops || len(r.Prompt) >= ctx {
					t.Fatalf("%q reached model %s with max tokens %d, %d stops, a %d-token prompt (context %d)", body, name, r.MaxTokens, len(r.Stop), len(r.Prompt), ctx)
				}
			}
		}
	})
}
