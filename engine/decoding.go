package engine

import (
	"fmt"
	"strings"

	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

// Decoding turns one sequence's logits into output, step by step: it
// samples, recognises end-of-generation tokens and stop strings, keeps the
// text valid UTF-8, adds log-probabilities and enforces the token limits.
// Generate uses it for one sequence; the batch scheduler uses one per
// sequence in a batch.
type Decoding struct {
	req     Request
	tok     *tokenizer.Tokenizer
	sampler *sample.Sampler
	history []int32
	dec     *tokenizer.StreamDecoder
	stop    *stopMatcher
	limit   int // tokens the cache holds
	text    strings.Builder
	res     Result
	done    bool
}

// NewDecoding checks a request against the model and prepares its
// decoding. capacity is the number of tokens the sequence's cache holds
// (<= 0: the model's context).
func (m *Model) NewDecoding(req Request, capacity int) (*Decoding, error) {
	if capacity <= 0 {
		capacity = m.ctx
	}
	if len(req.Prompt) == 0 {
		return nil, fmt.Errorf("engine: empty prompt (it must hold at least a BOS token)")
	}
	if len(req.Prompt) >= capacity {
		return nil, fmt.Errorf("%w: %d tokens, context holds %d", ErrPromptTooLong, len(req.Prompt), capacity)
	}
	for _, id := range req.Prompt {
		if id < 0 || int(id) >= m.Net.Vocab {
			return nil, fmt.Errorf("engine: prompt token %d outside the vocabulary of %d", id, m.Net.Vocab)
		}
	}
	s, err := sample.New(req.Sampling, m.Net.Vocab)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	s.Skip(req.Continues)
	d := &Decoding{
		req:     req,
		tok:     m.Tok,
		sampler: s,
		history: append(make([]int32, 0, historyCap(len(req.Prompt), req.MaxTokens, capacity)), req.Prompt...),
		dec:     m.Tok.NewStreamDecoder(tokenizer.DecodeOptions{Continuation: true}),
		stop:    newStopMatcher(req.Stop),
		limit:   capacity,
		res:     Result{PromptTokens: len(req.Prompt), FinishReason: FinishLength},
	}
	return d, nil
}

// historyCap is the room to reserve for a sequence's tokens: its prompt
// and what it may generate, which the cache's capacity bounds whatever
// the request asks for (a client's max_tokens never sizes an allocation).
func historyCap(prompt, maxTokens, capacity int) int {
	gen := capacity - prompt + 1 // the last token is sent, not fed back
	if maxTokens > 0 {
		gen = min(gen, maxTokens)
	}
	return prompt + max(gen, 0)
}

// Next takes the logits that follow the sequence so far and returns the
// token to send to the client and whether generation has ended. When it
// has not, out.ID is the token to feed back into the model. When it has,
// out may still carry text (the held-back tail) with out.ID -1 if the
// last step produced no token; send it if out.Text is not empty.
func (d *Decoding) Next(logits []float32) (out Token, done bool) {
	if d.done {
		return Token{ID: -1}, true
	}
	tok := d.sampler.Sample(logits, d.history)
	if d.tok.IsEOG(tok) && !d.req.IgnoreEOS {
		d.finish(FinishStop)
		return Token{ID: -1, Text: d.flush()}, true
	}
	d.res.Tokens = append(d.res.Tokens, tok)
	d.history = append(d.history, tok)
	piece, matched := d.stop.push(d.dec.Next(tok))
	out = Token{ID: tok, Text: piece}
	if d.req.LogProbs || d.req.TopLogProbs > 0 {
		out.LogProb = sample.LogProb(logits, tok)
		if d.req.TopLogProbs > 0 {
			out.Top = sample.LogProbs(logits, d.req.TopLogProbs, nil)
		}
	}
	switch {
	case matched:
		d.text.WriteString(piece)
		d.finish(FinishStop)
		return out, true
	case d.req.MaxTokens > 0 && len(d.res.Tokens) >= d.req.MaxTokens, len(d.history) > d.limit:
		// The cache holds limit tokens: a token sampled after it is full
		// can be sent but not fed back.
		out.Text += d.flush()
		d.text.WriteString(out.Text)
		d.finish(FinishLength)
		return out, true
	}
	d.text.WriteString(piece)
	return out, false
}

// flush releases the undecoded tail and a partial stop string that never
// completed, adding it to the text.
func (d *Decoding) flush() string {
	rest, _ := d.stop.push(d.dec.Flush())
	rest += d.stop.flush()
	if d.stop.matched {
		return ""
	}
	d.text.WriteString(rest)
	return rest
}

func (d *Decoding) finish(reason string) {
	d.done = true
	d.res.FinishReason = reason
}

// Done reports whether generation has ended.
func (d *Decoding) Done() bool { return d.done }

// Tokens returns the prompt and the tokens generated so far.
func (d *Decoding) Tokens() []int32 { return d.history }

// Result returns the summary so far (final once Done); timings are the
// caller's to fill in.
func (d *Decoding) Result() *Result {
	r := d.res
	r.Text = d.text.String()
	r.Tokens = append([]int32(nil), d.res.Tokens...)
	return &r
}
