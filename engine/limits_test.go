package engine_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sample"
)

// TestAbsurdMaxTokens: a request asking for more tokens than any memory
// holds runs like one asking for the whole context; the count never
// sizes an allocation (it used to end the process: "runtime: out of
// memory").
func TestAbsurdMaxTokens(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 1, Context: 64})
	prompt := m.Tok.Encode("Lily", true, false)
	for _, n := range []int{1_000_000_000_000, math.MaxInt, math.MaxInt - 1} {
		res, err := m.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: n, Sampling: sample.Params{}, IgnoreEOS: true},
			func(engine.Token) error { return nil })
		if err != nil {
			t.Fatalf("max tokens %d: %v", n, err)
		}
		if res.FinishReason != engine.FinishLength || len(prompt)+len(res.Tokens) != 64+1 {
			t.Errorf("max tokens %d: %d tokens after a %d-token prompt, finish %q; want the context of 64 filled", n, len(res.Tokens), len(prompt), res.FinishReason)
		}
	}
}

// TestChatPromptStopsPastContext: a conversation far longer than the
// context is tokenized only until it is known not to fit.
func TestChatPromptStopsPastContext(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 1, Context: 128})
	msgs := []chat.Message{{Role: "user", Content: strings.Repeat("Once upon a time there was a girl. ", 20_000)}}
	ids, err := m.ChatPrompt(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) <= m.Context() || len(ids) > 4*m.Context() {
		t.Errorf("%d ids for a conversation of about 200,000 tokens and a context of %d; want just past the context", len(ids), m.Context())
	}
	short, err := m.ChatPrompt([]chat.Message{{Role: "user", Content: "Hello"}})
	if err != nil || len(short) == 0 || len(short) >= m.Context() {
		t.Fatalf("a short conversation: %d ids, %v", len(short), err)
	}
}
