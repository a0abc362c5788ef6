package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func TestOpenAIErrors(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		typ, code, param         string
		msg                      string // a substring of the message
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", "{\"model\":\"fake\",\n \"messages\": [}", 400, "invalid_request_error", "invalid_json", "", "line 2, column 15"},
		{"truncated JSON", "POST", "/v1/chat/completions", `{"model":"fake"`, 400, "invalid_request_error", "invalid_json", "", "unexpected end of JSON input (line 1, column 15)"},
		{"empty body", "POST", "/v1/chat/completions", ``, 400, "invalid_request_error", "invalid_value", "", "empty"},
		{"not an object", "POST", "/v1/chat/completions", `[1]`, 400, "invalid_request_error", "invalid_type", "", "JSON object"},
		{"wrong type", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"temperature":"hot"}`, 400, "invalid_request_error", "invalid_type", "temperature", "expected a number"},
		{"trailing data", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `} {}`, 400, "invalid_request_error", "invalid_json", "", "after top-level value"},
		{"temperature", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"temperature":2.5}`, 400, "invalid_request_error", "invalid_value", "temperature", "between 0 and 2"},
		{"top_p", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"top_p":1.5}`, 400, "invalid_request_error", "invalid_value", "top_p", "between 0 and 1"},
		{"presence_penalty", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"presence_penalty":-3}`, 400, "invalid_request_error", "invalid_value", "presence_penalty", "between -2 and 2"},
		{"frequency_penalty", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"frequency_penalty":2.1}`, 400, "invalid_request_error", "invalid_value", "frequency_penalty", "between -2 and 2"},
		{"n", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"n":2}`, 400, "invalid_request_error", "unsupported_parameter", "n", "must be 1"},
		{"top_logprobs range", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"logprobs":true,"top_logprobs":21}`, 400, "invalid_request_error", "invalid_value", "top_logprobs", "between 0 and 20"},
		{"top_logprobs without logprobs", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"top_logprobs":3}`, 400, "invalid_request_error", "invalid_value", "top_logprobs", "requires 'logprobs'"},
		{"five stops", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"stop":["a","b","c","d","e"]}`, 400, "invalid_request_error", "invalid_value", "stop", "at most 4"},
		{"stop type", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"stop":5}`, 400, "invalid_request_error", "invalid_value", "stop", "string or an array"},
		{"max_tokens 0", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"max_tokens":0}`, 400, "invalid_request_error", "invalid_value", "max_tokens", "at least 1"},
		{"max_completion_tokens", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"max_completion_tokens":-1}`, 400, "invalid_request_error", "invalid_value", "max_completion_tokens", "at least 1"},
		{"image part", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"data:,"}}]}]}`, 400, "invalid_request_error", "unsupported_parameter", "messages[0].content[1]", "image input is not supported"},
		{"unknown part", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, "invalid_request_error", "invalid_value", "messages[0].content[0].type", "expected 'text'"},
		{"content type", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":7}]}`, 400, "invalid_request_error", "invalid_value", "messages[0].content", "string or an array"},
		{"unknown role", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"hi"}]}`, 400, "invalid_request_error", "invalid_value", "messages[1].role", "wizard"},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"fake","messages":[]}`, 400, "invalid_request_error", "invalid_value", "messages", "at least one"},
		{"json_object", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"response_format":{"type":"json_object"}}`, 400, "invalid_request_error", "unsupported_parameter", "response_format", "json_object"},
		{"tools", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "invalid_request_error", "unsupported_parameter", "tools", "not supported"},
		{"template error", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"tool","content":"bad"}]}`, 400, "invalid_request_error", "invalid_value", "messages", "chat template"},
		{"no model", "POST", "/v1/chat/completions", `{` + hi + `}`, 400, "invalid_request_error", "invalid_value", "model", "required"},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-9",` + hi + `}`, 404, "invalid_request_error", "model_not_found", "model", "`gpt-9` does not exist"},
		{"context too long", "POST", "/v1/chat/completions", `{"model":"small",` + hi + `}`, 400, "invalid_request_error", "context_length_exceeded", "messages", "maximum context length is 8 tokens"},
		{"context too long streaming", "POST", "/v1/chat/completions", `{"model":"small",` + hi + `,"stream":true}`, 400, "invalid_request_error", "context_length_exceeded", "messages", "maximum context length"},
		{"overloaded", "POST", "/v1/chat/completions", `{"model":"busy",` + hi + `}`, 503, "server_error", "server_overloaded", "", "overloaded"},
		{"overloaded streaming", "POST", "/v1/chat/completions", `{"model":"busy",` + hi + `,"stream":true}`, 503, "server_error", "server_overloaded", "", "overloaded"},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "invalid_request_error", "method_not_allowed", "", "use POST"},
		{"wrong method on models", "POST", "/v1/models", `{}`, 405, "invalid_request_error", "method_not_allowed", "", "use GET"},
		{"body too large", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"` + long + `"}]}`, 413, "invalid_request_error", "request_too_large", "", "4096 bytes"},
		{"unknown endpoint", "POST", "/v1/images/generations", `{}`, 404, "not_found_error", "not_found", "", "no such endpoint"},
		{"unknown model by id", "GET", "/v1/models/nope", ``, 404, "invalid_request_error", "model_not_found", "model", "`nope`"},

		{"completions: two prompts", "POST", "/v1/completions", `{"model":"fake","prompt":["a","b"]}`, 400, "invalid_request_error", "unsupported_parameter", "prompt", "one per request"},
		{"completions: bad prompt", "POST", "/v1/completions", `{"model":"fake","prompt":{"a":1}}`, 400, "invalid_request_error", "invalid_value", "prompt", "must be a string"},
		{"completions: empty prompt list", "POST", "/v1/completions", `{"model":"fake","prompt":[]}`, 400, "invalid_request_error", "invalid_value", "prompt", "empty array"},
		{"completions: no prompt", "POST", "/v1/completions", `{"model":"fake"}`, 400, "invalid_request_error", "invalid_value", "prompt", "required"},
		{"completions: logprobs", "POST", "/v1/completions", `{"model":"fake","prompt":"a","logprobs":6}`, 400, "invalid_request_error", "invalid_value", "logprobs", "between 0 and 5"},
		{"completions: token out of vocabulary", "POST", "/v1/completions", `{"model":"fake","prompt":[1,99999]}`, 400, "invalid_request_error", "invalid_value", "prompt", "outside the model's vocabulary"},
		{"completions: context", "POST", "/v1/completions", `{"model":"small","prompt":"0123456789"}`, 400, "invalid_request_error", "context_length_exceeded", "prompt", "maximum context length"},
		{"completions: suffix", "POST", "/v1/completions", `{"model":"fake","prompt":"a","suffix":"b"}`, 400, "invalid_request_error", "unsupported_parameter", "suffix", "not supported"},
		{"embeddings: empty", "POST", "/v1/embeddings", `{"model":"fake","input":""}`, 400, "invalid_request_error", "invalid_value", "input", "empty"},
		{"embeddings: empty list", "POST", "/v1/embeddings", `{"model":"fake","input":[]}`, 400, "invalid_request_error", "invalid_value", "input", "empty"},
		{"embeddings: format", "POST", "/v1/embeddings", `{"model":"fake","input":"a","encoding_format":"hex"}`, 400, "invalid_request_error", "invalid_value", "encoding_format", "'float' or 'base64'"},
		{"embeddings: dimensions", "POST", "/v1/embeddings", `{"model":"fake","input":"a","dimensions":2}`, 400, "invalid_request_error", "unsupported_parameter", "dimensions", "3 dimensions"},
		{"embeddings: context", "POST", "/v1/embeddings", `{"model":"small","input":["ok","0123456789"]}`, 400, "invalid_request_error", "context_length_exceeded", "input[1]", "maximum context length"},
		{"embeddings: unknown model", "POST", "/v1/embeddings", `{"model":"nope","input":"a"}`, 404, "invalid_request_error", "model_not_found", "model", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(tc.method, tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got oaError
			decode(t, rec.Body.Bytes(), &got)
			e := got.Error
			if e.Type != tc.typ || e.Code == nil || *e.Code != tc.code {
				t.Errorf("type %q code %v, want %q %q", e.Type, deref(e.Code), tc.typ, tc.code)
			}
			if (tc.param == "" && e.Param != nil) || (tc.param != "" && (e.Param == nil || *e.Param != tc.param)) {
				t.Errorf("param %v, want %q", deref(e.Param), tc.param)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q lacks %q", e.Message, tc.msg)
			}
			// Every key is present, null when empty, as OpenAI sends them.
			var raw map[string]map[string]json.RawMessage
			json.Unmarshal(rec.Body.Bytes(), &raw)
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := raw["error"][k]; !ok {
					t.Errorf("error.%s missing", k)
				}
			}
			switch tc.status {
			case 503:
				if ra := rec.Header().Get("Retry-After"); ra != "3" {
					t.Errorf("Retry-After %q, want 3", ra)
				}
			case 405:
				if rec.Header().Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}
	if a, r := h.backend.acquired, h.backend.released; a != r {
		t.Errorf("acquired %d models, released %d", a, r)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

func TestRetryAfterRounding(t *testing.T) {
	for _, tc := range []struct {
		d    float64
		want string
	}{{0.2, "1"}, {1, "1"}, {1.5, "2"}, {30, "30"}} {
		if got := retryAfterSeconds(secondsDur(tc.d)); got != tc.want {
			t.Errorf("retryAfterSeconds(%vs) = %s, want %s", tc.d, got, tc.want)
		}
	}
	// A plain ErrOverloaded gets the default of one second.
	if got := classify(ErrOverloaded, "").RetryAfter; got.Seconds() != 1 {
		t.Errorf("default retry after %v, want 1s", got)
	}
}

func TestOllamaErrors(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"unknown model", "POST", "/api/chat", `{"model":"nope",` + hi + `}`, 404, "model 'nope' not found"},
		{"unknown model generate", "POST", "/api/generate", `{"model":"nope","prompt":"x"}`, 404, "model 'nope' not found"},
		{"unknown model show", "POST", "/api/show", `{"model":"nope"}`, 404, "model 'nope' not found"},
		{"unknown model embed", "POST", "/api/embed", `{"model":"nope","input":"x"}`, 404, "model 'nope' not found"},
		{"malformed", "POST", "/api/chat", `{"model":`, 400, "not valid JSON"},
		{"images", "POST", "/api/chat", `{"model":"fake","messages":[{"role":"user","content":"hi","images":["aGk="]}]}`, 400, "images are not supported"},
		{"role", "POST", "/api/chat", `{"model":"fake","messages":[{"role":"robot","content":"hi"}]}`, 400, "role 'robot'"},
		{"format", "POST", "/api/chat", `{"model":"fake",` + hi + `,"format":"json"}`, 400, "'format' is not supported"},
		{"tools", "POST", "/api/chat", `{"model":"fake",` + hi + `,"tools":[{"type":"function"}]}`, 400, "'tools' is not supported"},
		{"template", "POST", "/api/generate", `{"model":"fake","prompt":"x","template":"{{ .Prompt }}"}`, 400, "'template' is not supported"},
		{"context", "POST", "/api/generate", `{"model":"fake","prompt":"x","context":[1,2]}`, 400, "'context' is not supported"},
		{"bad option", "POST", "/api/generate", `{"model":"fake","prompt":"x","options":{"top_p":3}}`, 400, "top_p"},
		{"option type", "POST", "/api/generate", `{"model":"fake","prompt":"x","options":{"top_k":"many"}}`, 400, "options.top_k"},
		{"too long", "POST", "/api/generate", `{"model":"small","prompt":"0123456789","raw":true}`, 400, "maximum context length"},
		{"overloaded", "POST", "/api/chat", `{"model":"busy",` + hi + `}`, 503, "overloaded"},
		{"overloaded, no stream", "POST", "/api/generate", `{"model":"busy","prompt":"x","stream":false}`, 503, "overloaded"},
		{"method", "GET", "/api/chat", ``, 405, "use POST"},
		{"method tags", "POST", "/api/tags", ``, 405, "use GET"},
		{"too large", "POST", "/api/generate", `{"model":"fake","prompt":"` + strings.Repeat("y", 5000) + `"}`, 413, "exceeds"},
		{"unknown endpoint", "POST", "/api/pull", `{"model":"x"}`, 404, "no such endpoint"},
		{"embed too long without truncation", "POST", "/api/embed", `{"model":"small","input":"0123456789","truncate":false}`, 400, "maximum context length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(tc.method, tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			var got struct {
				Error string `json:"error"`
			}
			decode(t, rec.Body.Bytes(), &got)
			if !strings.Contains(got.Error, tc.msg) {
				t.Errorf("error %q lacks %q", got.Error, tc.msg)
			}
			if tc.status == 503 && rec.Header().Get("Retry-After") != "3" {
				t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
		})
	}
}

func TestPlainErrors(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"POST", "/healthz", 405},
		{"DELETE", "/", 405},
	} {
		rec := h.do(tc.method, tc.path, "")
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
	}
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
