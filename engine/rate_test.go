package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sample"
)

func TestResultRates(t *testing.T) {
	tests := []struct {
		name        string
		res         engine.Result
		prompt, gen float64
	}{
		{"timed", engine.Result{PromptTokens: 50, PromptTime: 500 * time.Millisecond, Tokens: make([]int32, 11), GenTime: 2 * time.Second}, 100, 5},
		{"one token: nothing decoded after the prefill", engine.Result{PromptTokens: 4, PromptTime: time.Second, Tokens: make([]int32, 1), GenTime: time.Second}, 4, 0},
		{"not timed", engine.Result{PromptTokens: 4, Tokens: make([]int32, 3)}, 0, 0},
		{"empty", engine.Result{}, 0, 0},
	}
	for _, tt := range tests {
		if p, g := tt.res.PromptRate(), tt.res.GenRate(); p != tt.prompt || g != tt.gen {
			t.Errorf("%s: PromptRate %v, GenRate %v; want %v, %v", tt.name, p, g, tt.prompt, tt.gen)
		}
	}
}

// TestResultRatesOfARun checks the rates of a real generation are there.
func TestResultRatesOfARun(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 1})
	p := sample.DefaultParams()
	p.Temperature = 0
	res, err := m.Generate(context.Background(), engine.Request{Prompt: m.Tok.Encode("Once upon a time", true, false), MaxTokens: 8, Sampling: p, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PromptRate() <= 0 || res.GenRate() <= 0 {
		t.Errorf("rates of a run: prompt %v, gen %v tokens/s", res.PromptRate(), res.GenRate())
	}
}
