package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/client"
)

func newLoadgenCmd(g *globals) *cobra.Command {
	var (
		url, model, key, prompt string
		streamsFlag             string
		tokens, rounds, lora    int
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "loadgen --url URL --model NAME [--streams 1,4,16]",
		Short: "Measure a chat server's throughput and time to first token under concurrent streams",
		Long: `Send concurrent streaming chat requests to an OpenAI-compatible server (a
Hearth node, or llama.cpp's llama-server for comparison) and report, per
concurrency level, aggregate generation tokens/s, time to first token
(median and p95) and per-stream tokens/s. Each stream asks for --tokens
tokens with ignore_eos, at temperature 0, --rounds times. With --lora N,
stream i asks for the server's LoRA adapter i mod N at scale 1 (the "lora"
field llama-server and Hearth take; ids as GET /lora-adapters lists them).`,
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
			results, err := c.Load(cmd.Context(), client.LoadConfig{Model: model, Prompt: prompt, Streams: levels, Tokens: tokens, Rounds: rounds, LoRA: lora})
			if err != nil {
				return fmt.Errorf("loadgen: %w", err)
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
	f.IntVar(&lora, "lora", 0, "spread the streams over this many of the server's LoRA adapters, by id (0: send no \"lora\" field)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
