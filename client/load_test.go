package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseServer streams chunks content chunks per chat request, after delay,
// with a usage chunk when usage is set. Requests whose prompt contains fail
// get a 503. It records every request it decodes.
type sseServer struct {
	chunks int
	delay  time.Duration
	usage  bool
	fail   string

	mu   sync.Mutex
	reqs []ChatRequest
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req ChatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if s.fail != "" && strings.Contains(req.Messages[0].Content, s.fail) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"busy"}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	time.Sleep(s.delay)
	for i := range s.chunks {
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
		w.(http.Flusher).Flush()
		time.Sleep(time.Millisecond)
	}
	fmt.Fprint(w, "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n")
	if s.usage {
		// Servers count tokens, not chunks: say more than were sent so the
		// test can tell which one Load used.
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"completion_tokens\":%d}}\n\n", 2*s.chunks)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name       string
		srv        *sseServer
		cfg        LoadConfig
		want       []LoadResult // Streams, Requests, Errors, Tokens, FirstErrorText
		minTTFTMs  float64
		wantPrompt string // one of the prompts sent
	}{
		{
			name: "usage counted",
			srv:  &sseServer{chunks: 4, delay: 20 * time.Millisecond, usage: true},
			cfg:  LoadConfig{Model: "m", Prompt: "hi", Streams: []int{1, 3}, Tokens: 4, Rounds: 2},
			want: []LoadResult{
				{Streams: 1, Requests: 2, Tokens: 16},
				{Streams: 3, Requests: 6, Tokens: 48},
			},
			minTTFTMs:  20,
			wantPrompt: "hi (stream 2 round 1)",
		},
		{
			name: "chunks counted without usage",
			srv:  &sseServer{chunks: 5},
			cfg:  LoadConfig{Model: "m", Prompt: "p", Streams: []int{2}, Tokens: 5, Rounds: 1},
			want: []LoadResult{{Streams: 2, Requests: 2, Tokens: 10}},
		},
		{
			name: "errors counted, the run goes on",
			srv:  &sseServer{chunks: 3, usage: true, fail: "stream 1 "},
			cfg:  LoadConfig{Model: "m", Prompt: "p", Streams: []int{1, 2}, Tokens: 3, Rounds: 2},
			want: []LoadResult{
				{Streams: 1, Requests: 2, Tokens: 12},
				{Streams: 2, Requests: 4, Errors: 2, Tokens: 12, FirstErrorText: "server said 503: busy"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.srv)
			defer ts.Close()
			got, err := New(ts.URL, "").Load(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d results; want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Streams != w.Streams || g.Requests != w.Requests || g.Errors != w.Errors || g.Tokens != w.Tokens || g.FirstErrorText != w.FirstErrorText {
					t.Errorf("level %d: %+v; want %+v", i, g, w)
				}
				if g.Seconds <= 0 || g.TokensPerSec <= 0 || g.StreamTokPerS <= 0 {
					t.Errorf("level %d: rates not measured: %+v", i, g)
				}
				if g.TTFTMedianMs < tt.minTTFTMs || g.TTFTP95Ms < g.TTFTMedianMs {
					t.Errorf("level %d: TTFT p50 %.1f ms, p95 %.1f ms; want p50 >= %.0f and p95 >= p50", i, g.TTFTMedianMs, g.TTFTP95Ms, tt.minTTFTMs)
				}
			}
			seen := false
			for _, r := range tt.srv.reqs {
				if r.Model != tt.cfg.Model || !r.Stream || !r.IgnoreEOS || r.MaxTokens != tt.cfg.Tokens || r.Temperature == nil || *r.Temperature != 0 {
					t.Errorf("request %+v: want model %q, streaming, ignore_eos, max_tokens %d, temperature 0", r, tt.cfg.Model, tt.cfg.Tokens)
				}
				seen = seen || r.Messages[0].Content == tt.wantPrompt
			}
			if tt.wantPrompt != "" && !seen {
				t.Errorf("no request sent the prompt %q", tt.wantPrompt)
			}
		})
	}
}

func TestLoadRefusesBadLevels(t *testing.T) {
	srv := &sseServer{chunks: 1}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for _, streams := range [][]int{{0}, {4, -1}} {
		if _, err := New(ts.URL, "").Load(context.Background(), LoadConfig{Streams: streams, Rounds: 1}); err == nil {
			t.Errorf("streams %v accepted", streams)
		}
	}
	if len(srv.reqs) != 0 {
		t.Errorf("%d requests sent for a config that cannot run", len(srv.reqs))
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{7}, 0.95, 7},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2},
		{[]float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, 0.95, 10},
		{[]float64{5, 1, 4, 2, 3}, 0, 1},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := percentile(tt.xs, tt.q); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v; want %v", tt.xs, tt.q, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Errorf("percentile sorted its input: %v", tt.xs)
			}
		}
	}
}

// TestLoadLoRA: with LoRA N, stream i sends "lora":[{"id": i mod N,
// "scale": 1}]; with 0, no "lora" field at all.
func TestLoadLoRA(t *testing.T) {
	for _, n := range []int{0, 3} {
		srv := &sseServer{chunks: 1}
		var raw []string
		var mu sync.Mutex
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]json.RawMessage
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &body)
			mu.Lock()
			raw = append(raw, string(body["lora"]))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
			srv.ServeHTTP(w, r)
		}))
		_, err := New(ts.URL, "").Load(context.Background(), LoadConfig{Model: "m", Prompt: "p", Streams: []int{5}, Rounds: 1, LoRA: n})
		ts.Close()
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for _, r := range srv.reqs {
			if n == 0 && r.LoRA != nil || n > 0 && (len(r.LoRA) != 1 || r.LoRA[0].Scale != 1) {
				t.Errorf("LoRA %d: a request sent lora %+v", n, r.LoRA)
			}
			var stream int
			fmt.Sscanf(r.Messages[0].Content, "p (stream %d", &stream)
			if n > 0 && r.LoRA[0].ID != stream%n {
				t.Errorf("stream %d used adapter %d, want %d", stream, r.LoRA[0].ID, stream%n)
			}
		}
		for _, s := range raw {
			ids[s]++
		}
		if n == 0 && ids[""] != 5 {
			t.Errorf("LoRA 0 sent lora fields %v", raw)
		}
		if n == 3 && len(ids) != 3 {
			t.Errorf("LoRA 3 used %d distinct adapters: %v", len(ids), raw)
		}
	}
	if _, err := New("http://127.0.0.1:1", "").Load(context.Background(), LoadConfig{Streams: []int{1}, LoRA: -1}); err == nil {
		t.Error("LoRA -1 accepted")
	}
}
