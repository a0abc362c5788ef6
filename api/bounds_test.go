package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// usingCaller records the model names a gate was asked about (what a real
// gate checks against the tenant's list and audits when refused).
type usingCaller struct {
	mu   sync.Mutex
	used []string
}

func (*usingCaller) Sees(string) bool                            { return true }
func (*usingCaller) Context(ctx context.Context) context.Context { return ctx }
func (c *usingCaller) Use(_ context.Context, _, model string) error {
	c.mu.Lock()
	c.used = append(c.used, model)
	c.mu.Unlock()
	return nil
}
func (*usingCaller) Admit(context.Context, Admission) (Pass, error) { return nopPass{}, nil }

// TestModelNameBounded: a model name longer than any the store can hold
// is a 400 naming 'model' on every endpoint that takes one, before the
// gate hears of it (a refused name goes into the audit log) and without
// being echoed.
func TestModelNameBounded(t *testing.T) {
	c := &usingCaller{}
	h := newHarness(t, func(cfg *Config) { cfg.Gate = callerGate{c}; cfg.MaxBodyBytes = 1 << 20 })
	long := strings.Repeat("m", MaxModelNameBytes+1)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/chat/completions", `{"model":"` + long + `",` + hi + `}`},
		{"POST", "/v1/completions", `{"model":"` + long + `","prompt":"hi"}`},
		{"POST", "/v1/embeddings", `{"model":"` + long + `","input":"hi"}`},
		{"GET", "/v1/models/" + long, ``},
		{"POST", "/api/chat", `{"model":"` + long + `",` + hi + `}`},
		{"POST", "/api/generate", `{"model":"` + long + `","prompt":"hi"}`},
		{"POST", "/api/embed", `{"model":"` + long + `","input":"hi"}`},
		{"POST", "/api/embeddings", `{"model":"` + long + `","prompt":"hi"}`},
		{"POST", "/api/show", `{"model":"` + long + `"}`},
		{"POST", "/api/show", `{"name":"` + long + `"}`},
	} {
		w := h.do(tc.method, tc.path, tc.body)
		body := w.Body.String()
		if w.Code != 400 || !strings.Contains(body, "'model' is 257 bytes long") || strings.Contains(body, long) {
			t.Errorf("%s %s: %d %s; want a 400 naming 'model' and its length", tc.method, tc.path[:min(len(tc.path), 30)], w.Code, body[:min(len(body), 200)])
		}
		if strings.HasPrefix(tc.path, "/v1/") && !strings.Contains(body, `"param":"model"`) {
			t.Errorf("%s: the error does not name the param: %s", tc.path[:20], body[:min(len(body), 200)])
		}
	}
	if len(c.used) != 0 {
		t.Errorf("the gate was asked about %d overlong names", len(c.used))
	}
	// The longest name allowed still gets as far as the gate (and a 404).
	ok := strings.Repeat("m", MaxModelNameBytes)
	if w := h.do("POST", "/v1/chat/completions", `{"model":"`+ok+`",`+hi+`}`); w.Code != 404 || len(c.used) != 1 {
		t.Errorf("a %d-byte name: %d, gate asked %d times; want 404 after the gate", MaxModelNameBytes, w.Code, len(c.used))
	}
}

// callerGate authenticates every request as c.
type callerGate struct{ c Caller }

func (g callerGate) Authenticate(*http.Request) (Caller, error) { return g.c, nil }

// TestEndUserBounded: OpenAI's "user" is refused past 256 bytes on both
// endpoints that capture it, before anything runs.
func TestEndUserBounded(t *testing.T) {
	rc := &recordingCapturer{}
	h := newHarness(t, func(c *Config) { c.Gate = testGate{}; c.Capture = rc; c.MaxBodyBytes = 1 << 20 })
	for _, tc := range []struct {
		name, user string
		status     int
		code, msg  string
	}{
		{"256 bytes", `"` + strings.Repeat("u", maxEndUserBytes) + `"`, 200, "", ""},
		{"257 bytes", `"` + strings.Repeat("u", maxEndUserBytes+1) + `"`, 400, "invalid_value", "'user' is 257 bytes long; at most 256"},
		{"a megabyte", `"` + strings.Repeat("u", 1<<19) + `"`, 400, "invalid_value", "'user' is 524288 bytes long"},
		{"not a string", `["u"]`, 400, "invalid_type", "expected a string"},
		{"null", `null`, 200, "", ""},
	} {
		for _, ep := range []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"fake","max_tokens":2,` + hi + `,"user":` + tc.user + `}`},
			{"/v1/completions", `{"model":"fake","max_tokens":2,"prompt":"hi","user":` + tc.user + `}`},
		} {
			rc.got = nil
			w := h.do("POST", ep.path, ep.body)
			var e struct{ Error openAIError }
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.status || (tc.status == 400 && (e.Error.Param == nil || *e.Error.Param != "user" || *e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.msg))) {
				t.Errorf("%s %s: %d %.200s; want %d naming 'user'", ep.path, tc.name, w.Code, w.Body, tc.status)
			}
			if tc.status == 200 && (len(rc.got) != 1 || len(rc.got[0].EndUser) > maxEndUserBytes) {
				t.Errorf("%s %s: captures %d", ep.path, tc.name, len(rc.got))
			}
			if tc.status != 200 && len(rc.got) != 0 {
				t.Errorf("%s %s: a refused request was captured", ep.path, tc.name)
			}
		}
	}
}

// TestClientTextNotEchoed: whatever a client sends, an error repeats at
// most the first maxQuotedBytes of it (with its length), and so does the
// node's log line; it used to repeat all of it, megabytes included.
func TestClientTextNotEchoed(t *testing.T) {
	big := strings.Repeat("Z", 200_000)
	num := strings.Repeat("9", 200_000)
	rc := &recordingCapturer{fbErr: ErrResponseNotFound}
	h := newHarness(t, func(c *Config) { c.Gate = testGate{}; c.Capture = rc; c.MaxBodyBytes = 1 << 20 })
	for _, tc := range []struct {
		name, method, path, body, header string
		status                           int
	}{
		{"feedback response_id", "POST", "/v1/feedback", `{"response_id":"` + big + `","rating":1}`, "", 404},
		{"feedback scale", "POST", "/v1/feedback", `{"response_id":"x","rating":1,"scale":"` + big + `"}`, "", 400},
		{"model not found", "POST", "/v1/chat/completions", `{"model":"` + strings.Repeat("Z", 250) + `",` + hi + `}`, "", 404},
		{"ollama model not found", "POST", "/api/chat", `{"model":"` + strings.Repeat("Z", 250) + `",` + hi + `}`, "", 404},
		{"role", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"` + big + `","content":"x"}]}`, "", 400},
		{"ollama role", "POST", "/api/chat", `{"model":"fake","messages":[{"role":"` + big + `","content":"x"}]}`, "", 400},
		{"content part type", "POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":[{"type":"` + big + `"}]}]}`, "", 400},
		{"response_format type", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"response_format":{"type":"` + big + `"}}`, "", 400},
		{"a number too large for its field", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `,"max_tokens":` + num + `}`, "", 400},
		{"jurisdiction header", "POST", "/v1/chat/completions", `{"model":"fake",` + hi + `}`, big, 400},
		{"unknown path", "GET", "/v1/" + big, ``, "", 404},
		{"wrong method", "POST", "/v1/models/" + big, ``, "", 405},
	} {
		before := len(h.log())
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.header != "" {
			req.Header.Set(JurisdictionHeader, tc.header)
		}
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, req)
		body := w.Body.String()
		if w.Code != tc.status || len(body) > 600 || !strings.Contains(body, "bytes)") {
			t.Errorf("%s: %d, a %d-byte answer: %.300s; want %d, short, the client's text cut", tc.name, w.Code, len(body), body, tc.status)
		}
		for _, line := range strings.Split(h.log()[before:], "\n") {
			if len(line) > 2*maxLoggedBytes+1024 {
				t.Errorf("%s: a %d-byte log line: %.300s", tc.name, len(line), line)
			}
		}
	}
}
