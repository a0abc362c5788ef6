package api

import (
	"math"

	"github.com/hearth-ai/hearth/engine"
)

// chatLogprobs is a chat choice's logprobs object.
type chatLogprobs struct {
	Content []tokenLogprob `json:"content"`
	Refusal []tokenLogprob `json:"refusal"` // always null: no refusals
}

// tokenLogprob is one generated token in OpenAI's chat shape. Bytes holds
// the token's UTF-8 bytes as integers, since a token may be part of a
// character and its text alone cannot carry it.
type tokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// minLogprob stands in for -Inf, which JSON cannot carry; OpenAI uses the
// same value for "practically impossible".
const minLogprob = -9999.0

func finiteLogprob(lp float64) float64 {
	if math.IsNaN(lp) || lp < minLogprob {
		return minLogprob
	}
	return lp
}

// pieceOf is the text of one token, decoded alone.
func pieceOf(m Model, id int32) string { return m.Detokenize([]int32{id}) }

func byteInts(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}

// chatLogprob builds the entry for one generated token; tokens with a
// negative id (held-back text flushed at the end) have none.
func chatLogprob(m Model, t engine.Token) (tokenLogprob, bool) {
	if t.ID < 0 {
		return tokenLogprob{}, false
	}
	piece := pieceOf(m, t.ID)
	e := tokenLogprob{Token: piece, Logprob: finiteLogprob(t.LogProb), Bytes: byteInts(piece), TopLogprobs: []topLogprob{}}
	for _, alt := range t.Top {
		p := pieceOf(m, alt.ID)
		e.TopLogprobs = append(e.TopLogprobs, topLogprob{Token: p, Logprob: finiteLogprob(alt.LogProb), Bytes: byteInts(p)})
	}
	return e, true
}

// completionLogprobs is the legacy /v1/completions logprobs object:
// parallel arrays, with the alternatives as token -> logprob maps.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// add appends one generated token; offset is where its text starts in the
// choice's text.
func (c *completionLogprobs) add(m Model, t engine.Token, offset int) int {
	if t.ID < 0 {
		return offset
	}
	piece := pieceOf(m, t.ID)
	c.Tokens = append(c.Tokens, piece)
	c.TokenLogprobs = append(c.TokenLogprobs, finiteLogprob(t.LogProb))
	top := make(map[string]float64, len(t.Top))
	for _, alt := range t.Top {
		p := pieceOf(m, alt.ID)
		if _, dup := top[p]; !dup { // two ids may decode alike; keep the likelier
			top[p] = finiteLogprob(alt.LogProb)
		}
	}
	c.TopLogprobs = append(c.TopLogprobs, top)
	c.TextOffset = append(c.TextOffset, offset)
	return offset + len(piece)
}

func newCompletionLogprobs() *completionLogprobs {
	return &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
}
