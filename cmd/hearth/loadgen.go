package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/client"
)

// loadResult is one concurrency level of a load test.
type loadResult struct {
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

func newLoadgenCmd(g *globals) *cobra.Command {
	var (
		url, model, key, prompt string
		streamsFlag             string
		tokens, rounds          int
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "loadgen --url URL --model NAME [--streams 1,4,16]",
		Short: "Measure a chat server's throughput and time to first token under concurrent streams",
		Long: `Send concurrent streaming chat requests to an OpenAI-compatible server (a
Hearth node, or llama.cpp's llama-server for comparison) and report, per
concurrency level, aggregate generation tokens/s, time to first token
(median and p95) and per-stream tokens/s. Each stream asks for --tokens
tokens with ignore_eos, at temperature 0, --rounds times.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var levels []int
			for _, s := range strings.Split(streamsFlag, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n <= 0 {
					return fmt.Errorf("loadgen: bad --streams value %q", s)
				}
				levels = append(levels, n)
			}
			c := client.New(url, key)
			if model == "" {
				ids, err := c.Models(cmd.Context())
				if err != nil || len(ids) == 0 {
					return fmt.Errorf("loadgen: no model given and none listed: %v", err)
				}
				model = ids[0]
			}
			zero := 0.0
			var results []loadResult
			for _, n := range levels {
				r := loadResult{Streams: n}
				var (
					mu    sync.Mutex
					ttfts []float64
					rates []float64
				)
				start := time.Now()
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := 0; k < rounds; k++ {
							res, err := c.ChatStream(cmd.Context(), client.ChatRequest{
								Model:       model,
								Messages:    []client.Message{{Role: "user", Content: fmt.Sprintf("%s (stream %d round %d)", prompt, i, k)}},
								MaxTokens:   tokens,
								Temperature: &zero,
								IgnoreEOS:   true,
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
					}()
				}
				wg.Wait()
				r.Seconds = time.Since(start).Seconds()
				r.TokensPerSec = float64(r.Tokens) / r.Seconds
				r.TTFTMedianMs = percentile(ttfts, 0.5)
				r.TTFTP95Ms = percentile(ttfts, 0.95)
				r.StreamTokPerS = percentile(rates, 0.5)
				results = append(results, r)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "streams\trequests\terrors\ttokens\taggregate tok/s\tTTFT p50 ms\tTTFT p95 ms\tper-stream tok/s\t")
			for _, r := range results {
				fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", r.Streams, r.Requests, r.Errors, r.Tokens, r.TokensPerSec, r.TTFTMedianMs, r.TTFTP95Ms, r.StreamTokPerS)
			}
			w.Flush()
			for _, r := range results {
				if r.FirstErrorText != "" {
					fmt.Fprintf(g.stderr, "hearth: loadgen: %d streams: first error: %s\n", r.Streams, r.FirstErrorText)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "http://"+DefaultAddr, "server URL")
	f.StringVarP(&model, "model", "m", "", "model name (default: the first the server lists)")
	f.StringVar(&key, "api-key", "", "API key")
	f.StringVar(&prompt, "prompt", "Tell me a story about a little girl", "user message (the stream and round number are appended)")
	f.StringVar(&streamsFlag, "streams", "1,4,16", "comma-separated concurrency levels")
	f.IntVarP(&tokens, "tokens", "n", 128, "tokens per request")
	f.IntVar(&rounds, "rounds", 2, "requests per stream at each level")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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
