package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// ErrPromptTooLong is returned when the prompt does not fit the context.
var ErrPromptTooLong = errors.New("engine: prompt too long")

// Generate runs a completion, calling emit for every generated token as it
// is produced. It stops at an end-of-generation token, a stop string,
// MaxTokens, a full context, an error from emit, or ctx's cancellation.
func (m *Model) Generate(ctx context.Context, req Request, emit func(Token) error) (*Result, error) {
	if len(req.Prompt) == 0 {
		return nil, fmt.Errorf("engine: empty prompt (it must hold at least a BOS token)")
	}
	if len(req.Prompt) >= m.ctx {
		return nil, fmt.Errorf("%w: %d tokens, context holds %d", ErrPromptTooLong, len(req.Prompt), m.ctx)
	}
	sampler, err := sample.New(req.Sampling, m.Net.Vocab)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if emit == nil {
		emit = func(Token) error { return nil }
	}
	state := m.Net.NewState(m.ctx)
	history := make([]int32, 0, len(req.Prompt)+max(req.MaxTokens, 16))
	history = append(history, req.Prompt...)
	res := &Result{PromptTokens: len(req.Prompt), FinishReason: FinishLength}
	dec := m.Tok.NewStreamDecoder(decodeOptions())
	stop := newStopMatcher(req.Stop)
	var text strings.Builder

	start := time.Now()
	logits, err := m.Net.Forward(ctx, state, req.Prompt)
	if err != nil {
		return nil, fmt.Errorf("engine: prefill: %w", err)
	}
	res.PromptTime = time.Since(start)
	genStart := time.Now()
	for req.MaxTokens <= 0 || len(res.Tokens) < req.MaxTokens {
		tok := sampler.Sample(logits, history)
		if m.Tok.IsEOG(tok) && !req.IgnoreEOS {
			res.FinishReason = FinishStop
			break
		}
		res.Tokens = append(res.Tokens, tok)
		history = append(history, tok)
		piece, done := stop.push(dec.Next(tok))
		text.WriteString(piece)
		out := Token{ID: tok, Text: piece}
		if req.LogProbs || req.TopLogProbs > 0 {
			out.LogProb = sample.LogProb(logits, tok)
			if req.TopLogProbs > 0 {
				out.Top = sample.LogProbs(logits, req.TopLogProbs, nil)
			}
		}
		if err := emit(out); err != nil {
			return res, err
		}
		if done {
			res.FinishReason = FinishStop
			break
		}
		if state.Pos >= m.ctx {
			break // context full
		}
		if logits, err = m.Net.Forward(ctx, state, []int32{tok}); err != nil {
			res.Text = text.String()
			return res, fmt.Errorf("engine: decode: %w", err)
		}
	}
	if res.FinishReason == FinishLength || !stop.matched {
		// Release what was held back: the undecoded tail and a partial stop
		// string that never completed.
		rest, _ := stop.push(dec.Flush())
		rest += stop.flush()
		if rest != "" {
			text.WriteString(rest)
			if err := emit(Token{ID: -1, Text: rest}); err != nil {
				return res, err
			}
		}
	}
	res.GenTime = time.Since(genStart)
	res.Text = text.String()
	return res, nil
}
