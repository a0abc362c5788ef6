package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/client"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sample"
)

// chatBackend answers one turn of a conversation, streaming the reply,
// and takes ratings of the replies it gave: a *client.Chat, or a model
// run in this process.
type chatBackend interface {
	Reply(ctx context.Context, history []client.Message, onDelta func(string)) (string, error)
	// Rate sends feedback on the last reply; scale is client.ScaleThumbs
	// or client.ScaleStars.
	Rate(ctx context.Context, rating int, scale, correction string) error
}

func newChatCmd(g *globals) *cobra.Command {
	var (
		url, model, system, key string
		maxTokens               int
		temp                    float64
		seed                    int64
		threads                 int
		lora                    loraFlags
	)
	cmd := &cobra.Command{
		Use:   "chat [--url URL] [--model NAME|FILE]",
		Short: "Chat with a model in the terminal, streaming, with history",
		Long: `Chat with a model in the terminal. Each line you type is a user message; the
reply streams as it is generated and the conversation is kept as history.
Commands: /reset forgets the history, /exit (or end of input) quits,
/good and /bad rate the last reply (/rate 1-5 on a five-star scale, /fix TEXT
gives a better answer): the node keeps the rating with the captured
interaction, when the tenant's data policy captures it.

With --url (default $HEARTH_URL, else http://127.0.0.1:8080) it talks to a
running node over its OpenAI API; --model picks the model (default: the
first the node lists). When --model is a GGUF file and --url is not given,
the model runs in this process instead; --lora FILE and --lora-scaled
FILE:SCALE (repeatable, llama.cpp's flags) then apply LoRA adapters to it,
and with --tenant a name that is not a file is looked up in the tenant's
adapter registry as NAME[@VERSION].`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var b chatBackend
			if _, err := os.Stat(model); err == nil && url == "" && strings.HasSuffix(strings.ToLower(model), ".gguf") {
				loras, resolver, err := lora.options(ctx, g, model)
				if err != nil {
					return fmt.Errorf("chat: %w", err)
				}
				m, err := engine.Load(model, engine.Options{Threads: threads, Logger: g.logger(), LoRA: loras, Resolver: resolver})
				if err != nil {
					return err
				}
				defer m.Close()
				p := sample.DefaultParams()
				p.Temperature = float32(temp)
				if seed >= 0 {
					p.Seed = uint64(seed)
				}
				b = &localChat{m: m, params: p, maxTokens: maxTokens}
			} else {
				if lora.set() {
					return fmt.Errorf("chat: --lora and --lora-scaled apply to a model run in this process (--model FILE.gguf, no --url)")
				}
				if url == "" {
					url = os.Getenv("HEARTH_URL")
				}
				if url == "" {
					url = "http://" + DefaultAddr
				}
				c := client.New(url, key)
				if model == "" {
					ids, err := c.Models(ctx)
					if err != nil {
						return fmt.Errorf("chat: %w", err)
					}
					if len(ids) == 0 {
						return fmt.Errorf("chat: %s serves no models", url)
					}
					model = ids[0]
				}
				rc := &client.Chat{Client: c, Model: model, MaxTokens: maxTokens, Temperature: temp}
				if seed >= 0 {
					rc.Seed = &seed
				}
				b = rc
			}
			return chatLoop(ctx, g, b, system)
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "node URL (default $HEARTH_URL or http://"+DefaultAddr+")")
	f.StringVarP(&model, "model", "m", "", "model name on the node, or a GGUF file to run here")
	f.StringVar(&key, "api-key", os.Getenv("HEARTH_API_KEY"), "API key for the node")
	f.StringVar(&system, "system", "", "system message")
	f.IntVarP(&maxTokens, "n", "n", 512, "most tokens per reply")
	f.Float64Var(&temp, "temp", 0.8, "temperature (0: greedy)")
	f.Int64Var(&seed, "seed", -1, "random seed (-1: random)")
	f.IntVarP(&threads, "threads", "t", 0, "threads for a model run in this process")
	lora.register(f)
	return cmd
}

func chatLoop(ctx context.Context, g *globals, b chatBackend, system string) error {
	var history []client.Message
	if system != "" {
		history = append(history, client.Message{Role: "system", Content: system})
	}
	base := len(history)
	tty := isTerminal(g.stdout)
	in := bufio.NewScanner(g.stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if tty {
			fmt.Fprint(g.stdout, "> ")
		}
		if !in.Scan() {
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit":
			return nil
		case "/reset":
			history = history[:base]
			fmt.Fprintln(g.stdout, "(history cleared)")
			continue
		case "/help":
			fmt.Fprintln(g.stdout, "/reset forgets the conversation, /exit quits, /good or /bad rates the last reply, /rate 1-5, /fix TEXT")
			continue
		}
		if strings.HasPrefix(line, "/") {
			rating, scale, fix, ok := parseRating(line)
			if !ok {
				fmt.Fprintln(g.stderr, "hearth: chat: unknown command or bad argument:", line, "(/help lists them)")
			} else if err := b.Rate(ctx, rating, scale, fix); err != nil {
				fmt.Fprintln(g.stderr, "hearth: chat: feedback:", err)
			} else {
				fmt.Fprintln(g.stdout, "(feedback recorded)")
			}
			continue
		}
		history = append(history, client.Message{Role: "user", Content: line})
		text, err := b.Reply(ctx, history, func(s string) { fmt.Fprint(g.stdout, s) })
		fmt.Fprintln(g.stdout)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			// Keep the session: the user can retry or /reset.
			history = history[:len(history)-1]
			fmt.Fprintln(g.stderr, "hearth: chat:", err)
			continue
		}
		history = append(history, client.Message{Role: "assistant", Content: text})
	}
}

// parseRating reads the rating commands: /good, /bad, /rate N, /fix TEXT.
func parseRating(line string) (rating int, scale, fix string, ok bool) {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "/good", "/up":
		return 1, client.ScaleThumbs, "", true
	case "/bad", "/down":
		return -1, client.ScaleThumbs, "", true
	case "/rate":
		n, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil || n < 1 || n > 5 {
			return 0, "", "", false
		}
		return n, client.ScaleStars, "", true
	case "/fix":
		if strings.TrimSpace(arg) == "" {
			return 0, "", "", false
		}
		return -1, client.ScaleThumbs, strings.TrimSpace(arg), true
	}
	return 0, "", "", false
}

// localChat is a model run in this process; it has no capture store, so
// nothing to rate.
type localChat struct {
	m         *engine.Model
	params    sample.Params
	maxTokens int
}

func (l *localChat) Rate(context.Context, int, string, string) error {
	return errors.New("ratings go to a node's capture store: chat with a node (--url) to rate replies")
}

func (l *localChat) Reply(ctx context.Context, history []client.Message, onDelta func(string)) (string, error) {
	msgs := make([]chat.Message, len(history))
	for i, h := range history {
		msgs[i] = chat.Message{Role: h.Role, Content: h.Content}
	}
	ids, err := l.m.ChatPrompt(msgs)
	if err != nil {
		return "", err
	}
	res, err := l.m.Generate(ctx, engine.Request{Prompt: ids, MaxTokens: l.maxTokens, Sampling: l.params}, func(t engine.Token) error {
		onDelta(t.Text)
		return nil
	})
	if err != nil {
		return "", err
	}
	return res.Text, nil
}
