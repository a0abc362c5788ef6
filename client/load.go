package client

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// LoadConfig describes a load test: at each concurrency level in Streams,
// that many streams each send Rounds chat requests one after another, all
// at temperature 0 with ignore_eos, so that every request asks the server
// for exactly Tokens tokens.
type LoadConfig struct {
	Model   string
	Prompt  string // user message; the stream and round number are appended so no two requests share a prompt cache entry
	Streams []int  // concurrency levels, each at least 1
	Tokens  int    // max_tokens of each request (0: the server's default)
	Rounds  int    // requests per stream at each level
	// LoRA, when positive, makes stream i use adapter i mod LoRA of the
	// server's (llama-server's "lora" field, at scale 1), so that LoRA
	// distinct adapters run side by side; 0 sends no "lora" field.
	LoRA int
}

// LoadResult is one concurrency level of a load test. The JSON names are
// what `hearth loadgen --json` prints.
type LoadResult struct {
	Streams        int     `json:"streams"`
	Requests       int     `json:"requests"`
	Errors         int     `json:"errors"`
	Tokens         int     `json:"completion_tokens"`
	Seconds        float64 `json:"seconds"`
	TokensPerSec   float64 `json:"aggregate_tokens_per_s"`
	TTFTMedianMs   float64 `json:"ttft_median_ms"`
	TTFTP95Ms      float64 `json:"ttft_p95_ms"`
	StreamTokPerS  float64 `json:"per_stream_tokens_per_s"`
	FirstErrorText string  `json:"first_error,omitempty"`
}

// Load runs the load test, one level after another, and returns a result
// per level. A failed request counts as an error of its level (the first
// error's text is kept) and the test goes on, so a server that sheds load
// shows it in the results rather than ending the run; the returned error
// is for a config that cannot run.
func (c *Client) Load(ctx context.Context, cfg LoadConfig) ([]LoadResult, error) {
	if cfg.LoRA < 0 {
		return nil, fmt.Errorf("client: load: %d LoRA adapters: want 0 or more", cfg.LoRA)
	}
	for _, n := range cfg.Streams {
		if n <= 0 {
			return nil, fmt.Errorf("client: load: %d streams: want at least 1", n)
		}
	}
	results := make([]LoadResult, 0, len(cfg.Streams))
	for _, n := range cfg.Streams {
		results = append(results, c.loadLevel(ctx, cfg, n))
	}
	return results, nil
}

// loadLevel runs n concurrent streams of cfg.Rounds requests each.
func (c *Client) loadLevel(ctx context.Context, cfg LoadConfig, n int) LoadResult {
	r := LoadResult{Streams: n}
	var (
		mu    sync.Mutex
		ttfts []float64 // ms to the first content chunk, per request
		rates []float64 // tokens/s after the first, per request
		wg    sync.WaitGroup
	)
	zero := 0.0
	start := time.Now()
	for i := range n {
		var lora []LoRA
		if cfg.LoRA > 0 {
			lora = []LoRA{{ID: i % cfg.LoRA, Scale: 1}}
		}
		wg.Go(func() {
			for k := range cfg.Rounds {
				res, err := c.ChatStream(ctx, ChatRequest{
					Model:       cfg.Model,
					Messages:    []Message{{Role: "user", Content: fmt.Sprintf("%s (stream %d round %d)", cfg.Prompt, i, k)}},
					MaxTokens:   cfg.Tokens,
					Temperature: &zero,
					IgnoreEOS:   true,
					LoRA:        lora,
				}, nil)
				mu.Lock()
				r.Requests++
				if err != nil {
					r.Errors++
					if r.FirstErrorText == "" {
						r.FirstErrorText = err.Error()
					}
					mu.Unlock()
					continue
				}
				// A server that sends no usage chunk still sends a
				// content chunk per token, near enough.
				got := res.Usage.CompletionTokens
				if got == 0 {
					got = res.Chunks
				}
				r.Tokens += got
				ttfts = append(ttfts, float64(res.FirstToken.Microseconds())/1000)
				if gen := res.Total - res.FirstToken; gen > 0 && got > 1 {
					rates = append(rates, float64(got-1)/gen.Seconds())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.TokensPerSec = float64(r.Tokens) / r.Seconds
	r.TTFTMedianMs = percentile(ttfts, 0.5)
	r.TTFTP95Ms = percentile(ttfts, 0.95)
	r.StreamTokPerS = percentile(rates, 0.5)
	return r
}

// percentile returns the q-th quantile (nearest rank) of xs, 0 if empty.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
