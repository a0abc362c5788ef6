package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

// A response taken over by another node continues from the text already
// sent, tokenized again. Greedy generation is then the same as if the
// first node had lived only if that text tokenizes back to the tokens that
// made it: check that for every split of a generated story.
func TestContinuationRetokenizes(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 1})
	prompt := m.Tok.Encode("Once upon a time", true, false)
	res, err := m.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 80, Sampling: sample.Params{Temperature: 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := res.Tokens
	if len(ids) < 20 {
		t.Fatalf("only %d tokens generated", len(ids))
	}
	for k := 1; k < len(ids); k++ {
		sent := m.Tok.DecodeWith(ids[:k], tokenizer.DecodeOptions{Continuation: true})
		got := m.Tok.EncodeContinuation(sent)
		if !slices.Equal(got, ids[:k]) {
			t.Errorf("split at %d: %q tokenizes to %v, generated %v", k, sent, got, ids[:k])
		}
	}
	if got := m.Tok.EncodeContinuation(""); got != nil {
		t.Errorf("empty continuation = %v, want none", got)
	}
}
