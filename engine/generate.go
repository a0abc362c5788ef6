package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/sample"
)

// Request is one completion: prompt tokens in, up to MaxTokens tokens out.
type Request struct {
	Prompt    []int32
	MaxTokens int // 0 means until the context is full or the model stops
	Sampling  sample.Params
	Stop      []string // generation ends before the first of these strings
	// IgnoreEOS keeps generating past end-of-generation tokens (for
	// benchmarks).
	IgnoreEOS bool
	// LogProbs asks for the log-probability of each generated token, and
	// TopLogProbs for that many most likely alternatives at each step.
	LogProbs    bool
	TopLogProbs int
	// Continues is how many tokens at the end of Prompt a sampler has
	// already drawn for (a response another node started): their draws
	// are skipped, so that with the same seed the response goes on as it
	// would have there.
	Continues int
	// Adapter, when set, is the LoRA adapter the request runs with
	// (adapter.Build); requests with different adapters, or none, share
	// one batch over the base weights.
	Adapter *model.Adapter
}

// Token is one generated token and the text it adds. Text is empty while a
// multi-byte character or a possible stop string is incomplete; it arrives
// with a later token.
type Token struct {
	ID   int32
	Text string
	// LogProb is the token's log-probability under the model (before
	// sampling filters), set when Request.LogProbs is.
	LogProb float64
	// Top holds the Request.TopLogProbs most likely tokens at this step.
	Top []sample.TokenLogProb
}

// Finish reasons, as OpenAI names them.
const (
	FinishStop   = "stop"   // end-of-generation token or stop string
	FinishLength = "length" // MaxTokens reached or the context is full
)

// Result summarises a completion.
type Result struct {
	Tokens       []int32 // generated token ids (without the end-of-generation token)
	Text         string  // generated text, cut before a stop string
	PromptTokens int
	FinishReason string
	PromptTime   time.Duration // prefill
	GenTime      time.Duration // decoding after the first token
}

// PromptRate is the prefill speed in tokens/s, 0 when it was not timed.
func (r *Result) PromptRate() float64 { return perSecond(r.PromptTokens, r.PromptTime) }

// GenRate is the decoding speed in tokens/s, 0 when it was not timed. The
// first token comes out of the prefill, so GenTime covers the others.
func (r *Result) GenRate() float64 { return perSecond(len(r.Tokens)-1, r.GenTime) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ErrPromptTooLong is returned when the prompt does not fit the context.
var ErrPromptTooLong = errors.New("engine: prompt too long")

// Generate runs a completion on its own sequence, calling emit for every
// generated token as it is produced. It stops at an end-of-generation
// token, a stop string, MaxTokens, a full context, an error from emit, or
// ctx's cancellation.
func (m *Model) Generate(ctx context.Context, req Request, emit func(Token) error) (*Result, error) {
	d, err := m.NewDecoding(req, m.ctx)
	if err != nil {
		return nil, err
	}
	if emit == nil {
		emit = func(Token) error { return nil }
	}
	state := m.Net.NewState(m.ctx)
	state.Adapter = req.Adapter
	start := time.Now()
	logits, err := m.Net.Forward(ctx, state, req.Prompt)
	if err != nil {
		return nil, fmt.Errorf("engine: prefill: %w", err)
	}
	promptTime := time.Since(start)
	genStart := time.Now()
	for {
		out, done := d.Next(logits)
		if out.ID >= 0 || out.Text != "" {
			if err := emit(out); err != nil {
				return d.Result(), err
			}
		}
		if done {
			break
		}
		if logits, err = m.Net.Forward(ctx, state, []int32{out.ID}); err != nil {
			return d.Result(), fmt.Errorf("engine: decode: %w", err)
		}
	}
	res := d.Result()
	res.PromptTime, res.GenTime = promptTime, time.Since(genStart)
	return res, nil
}
