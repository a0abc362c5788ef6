package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
)

// Options.KVType picks the cache precision; an unknown one is an error
// naming it, before anything is loaded.
func TestKVType(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 1, KVType: "f16"})
	if !m.Net.KVF16 {
		t.Fatal("KVType f16 did not make an F16 cache")
	}
	res, err := m.Generate(context.Background(), engine.Request{Prompt: m.Tok.Encode("Once upon a time", true, false), MaxTokens: 20}, nil)
	if err != nil || len(res.Tokens) == 0 {
		t.Fatalf("generate with an F16 cache: %v", err)
	}
	if _, err := engine.Load(stories, engine.Options{KVType: "q4"}); err == nil || !strings.Contains(err.Error(), `"q4"`) {
		t.Errorf("KVType q4: %v", err)
	}
}
