package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

type testCaller struct{}

func (testCaller) Sees(string) bool                               { return true }
func (testCaller) Context(ctx context.Context) context.Context    { return ctx }
func (testCaller) Use(context.Context, string, string) error      { return nil }
func (testCaller) Admit(context.Context, Admission) (Pass, error) { return nopPass{}, nil }

type testGate struct{}

func (testGate) Authenticate(*http.Request) (Caller, error) { return testCaller{}, nil }

// recordingCapturer keeps what it is offered; written reports, at capture
// time, whether the response had already been written.
type recordingCapturer struct {
	lastFB  FeedbackInput
	mu      sync.Mutex
	got     []CaptureInput
	written func() bool
	seen    []bool
	fbErr   error
	fb      []FeedbackInput
	want    *CaptureWant
}

// Wants is CaptureAlways unless the test sets want.
func (c *recordingCapturer) Wants(context.Context, Caller) CaptureWant {
	if c.want == nil {
		return CaptureAlways
	}
	return *c.want
}

func (c *recordingCapturer) Capture(_ context.Context, _ Caller, in CaptureInput) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, in)
	if c.written != nil {
		c.seen = append(c.seen, c.written())
	}
	return errors.New("capture failures are only logged")
}

func (c *recordingCapturer) Feedback(_ context.Context, _ Caller, in FeedbackInput) (string, error) {
	c.fb = append(c.fb, in)
	c.lastFB = in
	return "fb_1", c.fbErr
}

func TestCaptureHook(t *testing.T) {
	tests := []struct {
		name, path, body string
		header           string // X-Hearth-Capture
		want             *CaptureInput
	}{
		{"chat with content parts, store and user", "/v1/chat/completions",
			`{"model":"fake","max_tokens":3,"temperature":0.5,"store":true,"user":"u-1","messages":[{"role":"developer","content":"be kind"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
			"", &CaptureInput{Endpoint: "chat_completions", EndUser: "u-1", OptIn: true,
				Messages: []CaptureMessage{{"system", "be kind"}, {"user", "a\nb"}}, Params: map[string]any{"max_tokens": 3.0, "temperature": 0.5}}},
		{"chat opted in by header", "/v1/chat/completions", `{"model":"fake","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			"true", &CaptureInput{Endpoint: "chat_completions", OptIn: true, Messages: []CaptureMessage{{"user", "hi"}}, Params: map[string]any{"max_tokens": 2.0}}},
		{"completion prompt in an array", "/v1/completions", `{"model":"fake","max_tokens":2,"prompt":["once"]}`,
			"no", &CaptureInput{Endpoint: "completions", Messages: []CaptureMessage{{"user", "once"}}, Params: map[string]any{"max_tokens": 2.0}}},
		{"ollama generate with system", "/api/generate", `{"model":"fake","stream":false,"system":"sys","prompt":"p","options":{"num_predict":2}}`,
			"1", &CaptureInput{Endpoint: "ollama_generate", OptIn: true, Messages: []CaptureMessage{{"system", "sys"}, {"user", "p"}},
				Params: map[string]any{"options": map[string]any{"num_predict": 2.0}}}},
		{"ollama chat stream", "/api/chat", `{"model":"fake","options":{"num_predict":2},"messages":[{"role":"user","content":"x"}]}`,
			"", &CaptureInput{Endpoint: "ollama_chat", Messages: []CaptureMessage{{"user", "x"}}, Params: map[string]any{"options": map[string]any{"num_predict": 2.0}}}},
		{"failed request", "/v1/chat/completions", `{"model":"missing","messages":[{"role":"user","content":"x"}]}`, "true", nil},
		{"embeddings are not captured", "/v1/embeddings", `{"model":"fake","input":"x"}`, "true", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordingCapturer{}
			h := newHarness(t, func(c *Config) { c.Gate = testGate{}; c.Capture = rc })
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
			if tc.header != "" {
				req.Header.Set(CaptureHeader, tc.header)
			}
			w := httptest.NewRecorder()
			rc.written = func() bool { return w.Body.Len() > 0 }
			h.srv.ServeHTTP(w, req)
			if tc.want == nil {
				if len(rc.got) != 0 {
					t.Errorf("captured %+v, want nothing (status %d)", rc.got, w.Code)
				}
				return
			}
			if w.Code != 200 || len(rc.got) != 1 {
				t.Fatalf("status %d, %d captures; want 200 and 1: %s", w.Code, len(rc.got), w.Body)
			}
			got := rc.got[0]
			if !rc.seen[0] {
				t.Error("capture ran before the response was written")
			}
			if got.ResponseID == "" || got.ResponseID != w.Header().Get("X-Request-Id") || got.Model != "fake" || got.Output == "" {
				t.Errorf("id %q (header %q), model %q, output %q", got.ResponseID, w.Header().Get("X-Request-Id"), got.Model, got.Output)
			}
			if g, w := fmt.Sprint(got.Endpoint, got.EndUser, got.OptIn, got.Messages, got.Params),
				fmt.Sprint(tc.want.Endpoint, tc.want.EndUser, tc.want.OptIn, tc.want.Messages, tc.want.Params); g != w {
				t.Errorf("captured\n%s\nwant\n%s", g, w)
			}
			if !strings.Contains(h.log(), "capture failures are only logged") {
				t.Error("the capturer's error was not logged")
			}
		})
	}
	// Without a gate there is no caller and nothing is captured.
	rc := &recordingCapturer{}
	h := newHarness(t, func(c *Config) { c.Capture = rc })
	if w := h.do("POST", "/v1/chat/completions", `{"model":"fake","store":true,"messages":[{"role":"user","content":"x"}]}`); w.Code != 200 || len(rc.got) != 0 {
		t.Errorf("no gate: status %d, %d captures; want 200 and none", w.Code, len(rc.got))
	}
}

func TestFeedbackEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		rating int
		thumb  int
		noHook bool
		fbErr  error
		status int
		code   string
	}{
		{"five stars", `{"response_id":"chatcmpl-1","rating":5,"tags":["a"]}`, 5, 0, false, nil, 200, ""},
		{"thumbs up", `{"response_id":"chatcmpl-1","rating":1}`, 0, 1, false, nil, 200, ""},
		{"thumbs down", `{"response_id":"chatcmpl-1","rating":-1,"scale":"thumbs"}`, 0, -1, false, nil, 200, ""},
		{"one star", `{"response_id":"chatcmpl-1","rating":1,"scale":"stars"}`, 1, 0, false, nil, 200, ""},
		{"correction without rating", `{"response_id":"chatcmpl-1","correction":"better"}`, 0, 0, false, nil, 200, ""},
		{"stars scale, -1", `{"response_id":"chatcmpl-1","rating":-1,"scale":"stars"}`, 0, 0, false, nil, 400, "invalid_value"},
		{"thumbs scale, 3", `{"response_id":"chatcmpl-1","rating":3,"scale":"thumbs"}`, 0, 0, false, nil, 400, "invalid_value"},
		{"unknown scale", `{"response_id":"chatcmpl-1","rating":3,"scale":"likert"}`, 0, 0, false, nil, 400, "invalid_value"},
		{"not the tenant's", `{"response_id":"chatcmpl-1","rating":1}`, 0, 0, false, fmt.Errorf("x: %w", ErrResponseNotFound), 404, "response_not_found"},
		{"no capture on this node", `{"response_id":"chatcmpl-1","rating":1}`, 0, 0, true, nil, 404, "response_not_found"},
		{"no scope", `{"response_id":"chatcmpl-1","rating":1}`, 0, 0, false, fmt.Errorf("%w: no feedback scope", ErrForbidden), 403, "permission_denied"},
		{"invalid per store", `{"response_id":"chatcmpl-1","rating":1,"tags":[""]}`, 0, 0, false, fmt.Errorf("%w: empty tag", ErrInvalidFeedback), 400, "invalid_value"},
		{"rating 0", `{"response_id":"chatcmpl-1","rating":0}`, 0, 0, false, nil, 400, "invalid_value"},
		{"rating 6", `{"response_id":"chatcmpl-1","rating":6}`, 0, 0, false, nil, 400, "invalid_value"},
		{"no rating", `{"response_id":"chatcmpl-1"}`, 0, 0, false, nil, 400, "invalid_value"},
		{"no id", `{"rating":1}`, 0, 0, false, nil, 400, "invalid_value"},
		{"rating as a string", `{"response_id":"chatcmpl-1","rating":"up"}`, 0, 0, false, nil, 400, "invalid_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordingCapturer{fbErr: tc.fbErr}
			h := newHarness(t, func(c *Config) {
				c.Gate = testGate{}
				if !tc.noHook {
					c.Capture = rc
				}
			})
			w := h.do("POST", "/v1/feedback", tc.body)
			var body struct {
				ID, Status string
				Error      struct{ Code string }
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tc.status || body.Error.Code != tc.code {
				t.Fatalf("status %d code %q, want %d %q: %s", w.Code, body.Error.Code, tc.status, tc.code, w.Body)
			}
			if tc.status == 200 && (body.ID != "fb_1" || body.Status != "recorded" || rc.lastFB.Rating != tc.rating || rc.lastFB.Thumb != tc.thumb) {
				t.Errorf("body %s, passed on %+v; want rating %d thumb %d", w.Body, rc.lastFB, tc.rating, tc.thumb)
			}
		})
	}
	h := newHarness(t, func(c *Config) { c.Gate = testGate{}; c.Capture = &recordingCapturer{} })
	if w := h.do("GET", "/v1/feedback", ""); w.Code != 405 {
		t.Errorf("GET /v1/feedback: %d, want 405", w.Code)
	}
}

// allocated is the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCaptureCostsNothingUnwanted: a body padded with megabytes of an
// unknown field costs a request no more memory when a Capturer is
// configured than when none is: nothing is kept for a caller the
// Capturer does not want, and for one it does the padding is skipped,
// not decoded (it used to be copied, then decoded into map[string]any at
// ~25 times its size, for every caller).
func TestCaptureCostsNothingUnwanted(t *testing.T) {
	junk := "[" + strings.Repeat("1,", 1<<20) + "1]" // 2 MB, a million numbers
	never, ifAsked := CaptureNever, CaptureIfAsked
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"fake","max_tokens":2,"temperature":0,` + hi + `,"x_junk":` + junk + `}`},
		{"/v1/completions", `{"model":"fake","max_tokens":2,"temperature":0,"prompt":"hi","x_junk":` + junk + `}`},
		{"/api/chat", `{"model":"fake","stream":false,"options":{"num_predict":2,"x_junk":` + junk + `},` + hi + `,"x_junk":` + junk + `}`},
		{"/api/generate", `{"model":"fake","stream":false,"options":{"num_predict":2},"prompt":"hi","x_junk":` + junk + `}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			run := func(rc *recordingCapturer) uint64 {
				h := newHarness(t, func(c *Config) {
					c.Gate, c.MaxBodyBytes = testGate{}, 8<<20
					if rc != nil {
						c.Capture = rc
					}
				})
				return allocated(func() {
					if w := h.do("POST", tc.path, tc.body); w.Code != 200 {
						t.Fatalf("status %d: %s", w.Code, w.Body)
					}
				})
			}
			base := run(nil)
			const slack = 1 << 20 // well under the body's 2 MB
			for _, c := range []struct {
				name     string
				rc       *recordingCapturer
				captured int
			}{
				{"capture off", &recordingCapturer{want: &never}, 0},
				{"opt-in, not asked", &recordingCapturer{want: &ifAsked}, 0},
				{"capture on", &recordingCapturer{}, 1},
			} {
				got := run(c.rc)
				t.Logf("%s: %d KB allocated, %d KB with no capturer", c.name, got>>10, base>>10)
				if got > base+slack {
					t.Errorf("%s: the request allocated %d KB, %d KB more than with no capturer", c.name, got>>10, (got-base)>>10)
				}
				if len(c.rc.got) != c.captured {
					t.Fatalf("%s: %d captures, want %d", c.name, len(c.rc.got), c.captured)
				}
				if c.captured > 0 {
					if p := fmt.Sprint(c.rc.got[0].Params); strings.Contains(p, "x_junk") || !strings.Contains(p, "2") {
						t.Errorf("%s: params %s; want the sampling settings without x_junk", c.name, p)
					}
				}
			}
		})
	}
}

// TestCaptureOptInAsked: an opt-in tenant's request is captured when it
// asks, by header or "store", and not otherwise.
func TestCaptureOptInAsked(t *testing.T) {
	ifAsked := CaptureIfAsked
	for _, tc := range []struct {
		name, body, header string
		want               int
	}{
		{"not asked", `{"model":"fake","max_tokens":2,` + hi + `}`, "", 0},
		{"store false", `{"model":"fake","max_tokens":2,"store":false,` + hi + `}`, "", 0},
		{"store true", `{"model":"fake","max_tokens":2,"store":true,` + hi + `}`, "", 1},
		{"header", `{"model":"fake","max_tokens":2,` + hi + `}`, "true", 1},
	} {
		rc := &recordingCapturer{want: &ifAsked}
		h := newHarness(t, func(c *Config) { c.Gate = testGate{}; c.Capture = rc })
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(tc.body))
		if tc.header != "" {
			req.Header.Set(CaptureHeader, tc.header)
		}
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, req)
		if w.Code != 200 || len(rc.got) != tc.want {
			t.Errorf("%s: status %d, %d captures; want 200 and %d", tc.name, w.Code, len(rc.got), tc.want)
		}
		if tc.want == 1 && !rc.got[0].OptIn {
			t.Errorf("%s: captured without OptIn", tc.name)
		}
	}
}

// TestCaptureParamsBounded: a capture's Params are the known settings
// only, each at most maxParamBytes; the end user is OpenAI's field alone.
func TestCaptureParamsBounded(t *testing.T) {
	longStop := `["` + strings.Repeat("s", 1000) + `","` + strings.Repeat("t", 1000) + `"]`
	for _, tc := range []struct {
		name, endpoint, body string
		params               string
		user                 string
		dropped              int
	}{
		{"unknown fields dropped", "chat_completions", `{"model":"m",` + hi + `,"temperature":0.5,"x_junk":{"a":[1,2,3]},"metadata":{"k":"v"},"user":"u1"}`,
			"map[temperature:0.5]", "u1", 0},
		{"a long stop list dropped and counted", "completions", `{"model":"m","prompt":"p","max_tokens":3,"stop":` + longStop + `}`,
			"map[max_tokens:3]", "", 1},
		{"ollama options filtered", "ollama_chat", `{"model":"m",` + hi + `,"options":{"num_predict":2,"mirostat":1,"x":[1]},"raw":true,"user":"not ollama's"}`,
			"map[options:map[num_predict:2] raw:true]", "", 0},
		{"ollama options with only junk", "ollama_generate", `{"model":"m","prompt":"p","options":{"x_junk":[1,1,1]},"keep_alive":"5m"}`,
			"map[]", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := CaptureInput{Endpoint: tc.endpoint}
			dropped, err := parseCaptureBody([]byte(tc.body), &in)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(in.Params); got != tc.params || dropped != tc.dropped || in.EndUser != tc.user {
				t.Errorf("params %s, dropped %d, user %q; want %s, %d, %q", got, dropped, in.EndUser, tc.params, tc.dropped, tc.user)
			}
		})
	}
}
