package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Backend: newFakeBackend(), MaxBodyBytes: -1},
		{Backend: newFakeBackend(), DefaultMaxTokens: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// A client that goes away must cancel the engine's work: streaming and
// not, on both APIs.
func TestClientDisconnectCancels(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		stream           bool
	}{
		{"openai stream", "/v1/chat/completions", `{"model":"block",` + hi + `,"stream":true}`, true},
		{"openai", "/v1/chat/completions", `{"model":"block",` + hi + `}`, false},
		{"completions stream", "/v1/completions", `{"model":"block","prompt":"x","stream":true}`, true},
		{"ollama stream", "/api/chat", `{"model":"block",` + hi + `}`, true},
		{"ollama", "/api/generate", `{"model":"block","prompt":"x","stream":false}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			ts := h.httpServer()
			m := h.backend.models["block"]
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			var firstLine string
			go func() {
				resp, err := postJSON(ctx, ts.URL+tc.path, tc.body)
				if err != nil {
					errc <- err
					return
				}
				defer resp.Body.Close()
				if tc.stream {
					// The first token arrives before the model blocks.
					firstLine, err = bufio.NewReader(resp.Body).ReadString('\n')
				}
				errc <- err
				io.Copy(io.Discard, resp.Body)
			}()
			if tc.stream {
				if err := <-errc; err != nil {
					t.Fatalf("reading the first event: %v", err)
				}
				if !strings.Contains(firstLine, "assistant") && !strings.Contains(firstLine, "Once") {
					t.Errorf("first line %q", firstLine)
				}
			} else {
				select {
				case <-m.started:
				case <-time.After(5 * time.Second):
					t.Fatal("generation never started")
				}
			}
			cancel()
			select {
			case <-m.cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("the model's context was not cancelled after the client left")
			}
			// The handler finishes, releases the model and logs a 499 or
			// the stream's 200.
			deadline := time.Now().Add(5 * time.Second)
			for {
				h.backend.mu.Lock()
				a, r := h.backend.acquired, h.backend.released
				h.backend.mu.Unlock()
				if a == 1 && r == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("acquired %d, released %d", a, r)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// An engine error after tokens went out arrives in-band: OpenAI's error
// object as an SSE event (without [DONE]), Ollama's {"error"} line.
func TestMidStreamError(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do("POST", "/v1/chat/completions", `{"model":"fail",`+hi+`,"stream":true}`)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	events := sseEvents(t, rec.Body.String())
	last := events[len(events)-1]
	var e oaError
	decode(t, []byte(last), &e)
	if e.Error.Type != "server_error" || !strings.Contains(e.Error.Message, "engine broke") {
		t.Errorf("last event %s", last)
	}
	if strings.Contains(rec.Body.String(), "[DONE]") {
		t.Error("a failed stream ended with [DONE]")
	}
	if len(events) != 4 { // role, two tokens, error
		t.Errorf("%d events: %q", len(events), events)
	}

	rec = h.do("POST", "/api/chat", `{"model":"fail",`+hi+`}`)
	lines := ndjsonLines(t, rec.Body.String())
	var oe struct {
		Error string `json:"error"`
	}
	decode(t, []byte(lines[len(lines)-1]), &oe)
	if len(lines) != 3 || !strings.Contains(oe.Error, "engine broke") {
		t.Errorf("ollama stream %q", lines)
	}

	// Not streaming: an ordinary 500.
	rec = h.do("POST", "/v1/chat/completions", `{"model":"fail",`+hi+`}`)
	var e2 oaError
	decode(t, rec.Body.Bytes(), &e2)
	if rec.Code != 500 || e2.Error.Type != "server_error" {
		t.Errorf("non-streaming failure: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(h.log(), `"level":"ERROR"`) {
		t.Error("a 500 was not logged as an error")
	}
}

func TestHealth(t *testing.T) {
	ready := errors.New("loading models")
	h := newHarness(t, func(c *Config) {
		c.Ready = func(context.Context) error { return ready }
	})
	if rec := h.do("GET", "/healthz", ""); rec.Code != 200 {
		t.Errorf("/healthz %d", rec.Code)
	}
	rec := h.do("GET", "/readyz", "")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "loading models") {
		t.Errorf("/readyz while loading: %d %q", rec.Code, rec.Body)
	}
	ready = nil
	if rec := h.do("GET", "/readyz", ""); rec.Code != 200 {
		t.Errorf("/readyz when ready: %d", rec.Code)
	}
	if rec := h.do("HEAD", "/healthz", ""); rec.Code != 200 {
		t.Errorf("HEAD /healthz: %d", rec.Code)
	}
	// No Ready func: always ready.
	h2 := newHarness(t, nil)
	if rec := h2.do("GET", "/readyz", ""); rec.Code != 200 {
		t.Errorf("/readyz without Ready: %d", rec.Code)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v1/chat/completions", `{"model":"fake",`+hi+`}`)
	h.do("POST", "/v1/chat/completions", `{"model":"fake",`+hi+`,"stream":true}`)
	h.do("POST", "/v1/chat/completions", `{"model":"nope",`+hi+`}`)
	h.do("POST", "/api/chat", `{"model":"busy",`+hi+`}`)
	h.do("POST", "/v1/embeddings", `{"model":"fake","input":"ab"}`)
	prompt := len(h.backend.models["fake"].lastRequest().Prompt)

	rec := h.do("GET", "/metrics", "")
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`hearth_http_requests_total{endpoint="chat_completions",model="fake",status="200"} 2`,
		`hearth_http_requests_total{endpoint="chat_completions",model="",status="404"} 1`, // unknown names never become labels
		`hearth_http_requests_total{endpoint="ollama_chat",model="busy",status="503"} 1`,
		`hearth_http_requests_total{endpoint="embeddings",model="fake",status="200"} 1`,
		fmt.Sprintf(`hearth_prompt_tokens_total{model="fake"} %d`, 2*prompt+3),
		`hearth_time_to_first_token_seconds_count{model="fake"} 2`,
		`hearth_inter_token_latency_seconds_count{model="fake"} 8`,
		`hearth_http_request_duration_seconds_count{endpoint="chat_completions",model="fake"} 2`,
		`hearth_completion_tokens_total{model="fake"} 10`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Without a Gatherer, /metrics is not served.
	h2 := newHarness(t, func(c *Config) { c.Gatherer = nil })
	if rec := h2.do("GET", "/metrics", ""); rec.Code != 404 {
		t.Errorf("/metrics without a gatherer: %d", rec.Code)
	}
}

func TestRequestLog(t *testing.T) {
	h := newHarness(t, nil)
	secret := "the secret prompt text"
	rec := h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"`+secret+`"}]}`)
	h.do("POST", "/api/generate", `{"model":"fake","prompt":"`+secret+`","stream":false}`)
	h.do("POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"`+secret+`"}]}`)
	logs := h.log()
	if strings.Contains(logs, "secret") || strings.Contains(logs, "Once upon") {
		t.Fatalf("prompt or output text in the log:\n%s", logs)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), logs)
	}
	var first struct {
		Msg              string `json:"msg"`
		RequestID        string `json:"request_id"`
		Method           string `json:"method"`
		Path             string `json:"path"`
		Status           int    `json:"status"`
		Model            string `json:"model"`
		PromptTokens     int    `json:"prompt_tokens"`
		CompletionTokens int    `json:"completion_tokens"`
		Duration         int64  `json:"duration"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.RequestID != rec.Header().Get("X-Request-Id") || first.Method != "POST" || first.Path != "/v1/chat/completions" ||
		first.Status != 200 || first.Model != "fake" || first.CompletionTokens != len(fakePieces) || first.PromptTokens == 0 {
		t.Errorf("log line %s", lines[0])
	}
	if !strings.Contains(lines[2], `"status":404`) || !strings.Contains(lines[2], `"level":"INFO"`) || !strings.Contains(lines[2], `"error":"The model`) {
		t.Errorf("404 log line %s", lines[2])
	}
}

func TestRequestIDs(t *testing.T) {
	h := newHarness(t, nil)
	seen := map[string]bool{}
	for range 20 {
		rec := h.do("GET", "/v1/models", "")
		id := rec.Header().Get("X-Request-Id")
		if !strings.HasPrefix(id, "req-") || seen[id] {
			t.Fatalf("request id %q (repeat %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestJSONErrorPosition(t *testing.T) {
	for _, tc := range []struct {
		data      string
		off       int64
		line, col int
	}{
		{"abc", 0, 1, 1},
		{"abc", 2, 1, 2},
		{"a\nbc", 3, 2, 1},
		{"a\nbcd", 5, 2, 3},
		{"a", 99, 1, 1},
	} {
		if l, c := position([]byte(tc.data), tc.off); l != tc.line || c != tc.col {
			t.Errorf("position(%q, %d) = %d:%d, want %d:%d", tc.data, tc.off, l, c, tc.line, tc.col)
		}
	}
}

func TestHumanCount(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, ""}, {999, "999"}, {260_000, "260K"}, {494_032_768, "494M"}, {8_030_261_248, "8.0B"}} {
		if got := humanCount(tc.n); got != tc.want {
			t.Errorf("humanCount(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// Two concurrent streams each get their own tokens.
func TestConcurrentStreams(t *testing.T) {
	h := newHarness(t, nil)
	ts := h.httpServer()
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			resp, err := postJSON(t.Context(), ts.URL+"/v1/chat/completions", `{"model":"fake",`+hi+`,"stream":true}`)
			if err != nil {
				errc <- err
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Count(string(body), `"content":"`) != len(fakePieces)+1 {
				errc <- errors.New("bad stream: " + string(body))
				return
			}
			errc <- nil
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
