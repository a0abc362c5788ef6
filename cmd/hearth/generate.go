package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sample"
)

func newGenerateCmd(g *globals) *cobra.Command {
	var (
		modelPath string
		prompt    string
		n         int
		threads   int
		ctxSize   int
		asJSON    bool
		asChat    bool
		system    string
		stops     []string
		p         = sample.DefaultParams()
		seed      int64
		lora      loraFlags
	)
	cmd := &cobra.Command{
		Use:   "generate --model FILE --prompt TEXT",
		Short: "Continue a prompt with a model, streaming the text",
		Long: `Continue a prompt with a model, streaming the text to stdout.

The prompt is used as is (no chat template); the tokenizer adds BOS when the
model asks for it, and an empty prompt means BOS alone. With --json, nothing is
streamed and one JSON object is printed at the end:
{"tokens":[ids of the generated tokens],"text":"the generated text"}.

LoRA adapters (llama.cpp's GGUF adapter files) are applied with --lora FILE
(scale 1) and --lora-scaled FILE:SCALE, each repeatable; the update of each is
SCALE * alpha / rank * B A, and several on one weight add up. With --tenant,
a name that is not a file is looked up in the tenant's adapter registry as
NAME[@VERSION].`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return fmt.Errorf("generate: --model is required")
			}
			if seed >= 0 {
				p.Seed = uint64(seed)
			} else {
				p.Seed = rand.Uint64()
			}
			loras, resolver, err := lora.options(cmd.Context(), g, modelPath)
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			m, err := engine.Load(modelPath, engine.Options{Threads: threads, Context: ctxSize, Logger: g.logger(), LoRA: loras, Resolver: resolver})
			if err != nil {
				return err
			}
			defer m.Close()
			ids := m.Tok.Encode(prompt, true, false)
			if asChat {
				var msgs []chat.Message
				if system != "" {
					msgs = append(msgs, chat.Message{Role: "system", Content: system})
				}
				msgs = append(msgs, chat.Message{Role: "user", Content: prompt})
				if ids, err = m.ChatPrompt(msgs); err != nil {
					return err
				}
			}
			req := engine.Request{
				Prompt:    ids,
				MaxTokens: n,
				Sampling:  p,
				Stop:      stops,
			}
			emit := func(t engine.Token) error {
				if !asJSON {
					_, err := fmt.Fprint(g.stdout, t.Text)
					return err
				}
				return nil
			}
			res, err := m.Generate(cmd.Context(), req, emit)
			if err != nil {
				return err
			}
			if asJSON {
				tokens := res.Tokens
				if tokens == nil {
					tokens = []int32{}
				}
				return json.NewEncoder(g.stdout).Encode(struct {
					Tokens []int32 `json:"tokens"`
					Text   string  `json:"text"`
				}{tokens, res.Text})
			}
			fmt.Fprintln(g.stdout)
			g.logger().Info("generated",
				"prompt_tokens", res.PromptTokens, "tokens", len(res.Tokens), "finish", res.FinishReason,
				"prompt_tok_per_s", res.PromptRate(),
				"gen_tok_per_s", res.GenRate(), "seed", p.Seed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model file")
	f.StringVarP(&prompt, "prompt", "p", "", "text to continue (empty: start from BOS)")
	f.IntVarP(&n, "n", "n", 128, "tokens to generate at most (0: until the model stops or the context is full)")
	f.IntVarP(&threads, "threads", "t", 0, "worker threads (0: one per core)")
	f.IntVarP(&ctxSize, "ctx", "c", 0, "context size in tokens (0: the model's, at most 4096)")
	f.BoolVar(&asJSON, "json", false, `print {"tokens":[...],"text":"..."} at the end instead of streaming`)
	f.BoolVar(&asChat, "chat", false, "send the prompt as a user message through the model's chat template")
	f.StringVar(&system, "system", "", "system message for --chat")
	f.StringArrayVar(&stops, "stop", nil, "stop before this string (repeatable)")
	f.Float32Var(&p.Temperature, "temp", p.Temperature, "temperature (0: greedy)")
	f.IntVar(&p.TopK, "top-k", p.TopK, "keep the K most likely tokens (0: off)")
	f.Float32Var(&p.TopP, "top-p", p.TopP, "nucleus sampling threshold (1: off)")
	f.Float32Var(&p.MinP, "min-p", p.MinP, "drop tokens below this share of the top probability (0: off)")
	f.Float32Var(&p.RepeatPenalty, "repeat-penalty", p.RepeatPenalty, "repetition penalty (1: off)")
	f.IntVar(&p.RepeatLastN, "repeat-last-n", p.RepeatLastN, "tokens the penalties look back at (-1: all)")
	f.Float32Var(&p.PresencePenalty, "presence-penalty", 0, "OpenAI presence penalty")
	f.Float32Var(&p.FrequencyPenalty, "frequency-penalty", 0, "OpenAI frequency penalty")
	f.Int64Var(&seed, "seed", -1, "random seed (-1: a new one each run)")
	lora.register(f)
	return cmd
}
