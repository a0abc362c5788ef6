package api

import (
	"encoding/json"
	"net/http"

	"github.com/hearth-ai/hearth/engine"
)

// POST /v1/completions: OpenAI's legacy text completions.

type completionRequest struct {
	openAIParams
	Prompt   json.RawMessage `json:"prompt"`
	Echo     bool            `json:"echo"`
	Logprobs *int            `json:"logprobs"`
	Suffix   *string         `json:"suffix"`
	BestOf   *int            `json:"best_of"`
}

// Limits from OpenAI's reference.
const (
	maxCompletionLogprobs = 5
	// defaultCompletionTokens is OpenAI's max_tokens default for this
	// endpoint (vLLM follows it too).
	defaultCompletionTokens = 16
)

type completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint,omitempty"`
	Choices           []completionChoice `json:"choices"`
	// Usage: always set on a full response; on stream chunks, as for chat.
	Usage any `json:"usage,omitempty"`
}

type completionChoice struct {
	Text         string              `json:"text"`
	Index        int                 `json:"index"`
	Logprobs     *completionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// promptInput is a decoded prompt: text, or token ids given directly.
type promptInput struct {
	text   string
	tokens []int32
	ids    bool // tokens came from the request, not from text
}

// parsePrompt accepts OpenAI's four prompt forms (a string, an array of
// strings, an array of token ids, an array of those) with one prompt.
func parsePrompt(raw json.RawMessage) (promptInput, error) {
	if isNull(raw) {
		return promptInput{}, badRequest("prompt", "'prompt' is required")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return promptInput{text: text}, nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil {
		if len(texts) == 0 {
			return promptInput{}, badRequest("prompt", "'prompt' is an empty array")
		}
		if len(texts) != 1 {
			return promptInput{}, unsupported("prompt", "'prompt' holds %d prompts; Hearth takes one per request", len(texts))
		}
		return promptInput{text: texts[0]}, nil
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil {
		return promptInput{tokens: ids, ids: true}, nil
	}
	var idss [][]int32
	if json.Unmarshal(raw, &idss) == nil {
		if len(idss) == 0 {
			return promptInput{}, badRequest("prompt", "'prompt' is an empty array")
		}
		if len(idss) != 1 {
			return promptInput{}, unsupported("prompt", "'prompt' holds %d prompts; Hearth takes one per request", len(idss))
		}
		return promptInput{tokens: idss[0], ids: true}, nil
	}
	return promptInput{}, badRequest("prompt", "'prompt' must be a string, an array of strings, an array of token ids or an array of token-id arrays")
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req completionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	in, err := parsePrompt(req.Prompt)
	if err != nil {
		return err
	}
	var ereq engine.Request
	if ereq.Sampling, err = req.sampling(); err != nil {
		return err
	}
	if ereq.Stop, err = req.stops(); err != nil {
		return err
	}
	if err := req.checkN(); err != nil {
		return err
	}
	if req.BestOf != nil && *req.BestOf != 1 {
		return unsupported("best_of", "'best_of' must be 1 (got %d)", *req.BestOf)
	}
	if req.Suffix != nil && *req.Suffix != "" {
		return unsupported("suffix", "'suffix' (fill-in-the-middle) is not supported yet")
	}
	var maxParam string
	if ereq.MaxTokens, maxParam, err = maxTokens(defaultCompletionTokens, []*int{req.MaxTokens}, []string{"max_tokens"}); err != nil {
		return err
	}
	logprobs := req.Logprobs != nil
	if logprobs {
		n := *req.Logprobs
		if n < 0 || n > maxCompletionLogprobs {
			return badRequest("logprobs", "'logprobs' must be between 0 and %d, got %d", maxCompletionLogprobs, n)
		}
		if req.Echo {
			return unsupported("logprobs", "'logprobs' with 'echo' needs the prompt's log-probabilities, which are not supported yet")
		}
		ereq.LogProbs, ereq.TopLogProbs = true, n
	}

	requestInfoFrom(ctx).user = string(req.User)
	ctx = withLoRA(ctx, req.LoRA) // llama-server's per-request adapters (lora.go)
	m, release, _, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	prompt := in.tokens
	if !in.ids {
		// Special-token text in a raw prompt is parsed, as llama.cpp's
		// server does: raw prompts are how clients write their own
		// templates.
		prompt = m.Tokenize(in.text, true, true)
	}
	if err := checkPrompt(m, prompt, "prompt"); err != nil {
		return err
	}
	ereq.Prompt = prompt
	if err := s.limitTokens(m, &ereq, maxParam, false); err != nil {
		return err
	}
	echo := ""
	if req.Echo {
		echo = in.text
		if in.ids {
			echo = m.Detokenize(in.tokens)
		}
	}

	info := requestInfoFrom(ctx)
	id := "cmpl-" + info.rand
	created := s.now().Unix()
	if r := resumeFrom(ctx); r != nil && req.Stream {
		id, created = r.ID, r.Created // one response, whichever node sends it
		echo = ""                     // sent already
	}
	info.id = id
	w.Header().Set("X-Request-Id", id)
	base := completion{ID: id, Object: "text_completion", Created: created, Model: req.Model}
	if req.Stream {
		return s.completionStream(w, r, m, ereq, base, echo, logprobs, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	}

	res, toks, err := s.generateAll(ctx, m, ereq)
	if err != nil {
		return classify(err, "prompt")
	}
	finish := res.FinishReason
	choice := completionChoice{Text: echo + res.Text, FinishReason: &finish}
	if logprobs {
		choice.Logprobs = newCompletionLogprobs()
		off := len(echo)
		for _, t := range toks {
			off = choice.Logprobs.add(m, t, off)
		}
	}
	base.Choices = []completionChoice{choice}
	base.Usage = newUsage(res.PromptTokens, len(res.Tokens))
	writeJSON(w, http.StatusOK, base)
	return nil
}

// completionStream sends text_completion chunks: the echoed prompt if
// asked, one per token, one with the finish reason, usage if asked, then
// [DONE].
func (s *Server) completionStream(w http.ResponseWriter, r *http.Request, m Model, ereq engine.Request, base completion, echo string, logprobs, includeUsage bool) error {
	sw := s.newSSE(w)
	if includeUsage {
		base.Usage = jsonNull
	}
	chunk := func(c completionChoice) completion {
		out := base
		out.Choices = []completionChoice{c}
		return out
	}
	off := len(echo)
	started := false
	begin := func() error {
		if started {
			return nil
		}
		started = true
		if echo != "" {
			return sw.send(chunk(completionChoice{Text: echo}))
		}
		return nil
	}
	res, err := s.stream(r.Context(), m, ereq, func(toks []engine.Token) error {
		if err := begin(); err != nil {
			return err
		}
		for _, t := range toks {
			var lp *completionLogprobs
			if logprobs && t.ID >= 0 {
				lp = newCompletionLogprobs()
				off = lp.add(m, t, off)
			}
			if t.Text == "" && lp == nil {
				continue
			}
			if err := sw.send(chunk(completionChoice{Text: t.Text, Logprobs: lp})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return sw.fail(err, "prompt")
	}
	if err := begin(); err != nil {
		return err
	}
	finish := res.FinishReason
	if err := sw.send(chunk(completionChoice{FinishReason: &finish})); err != nil {
		return err
	}
	if includeUsage {
		last := base
		last.Choices = []completionChoice{}
		last.Usage = newUsage(res.PromptTokens, len(res.Tokens))
		if err := sw.send(last); err != nil {
			return err
		}
	}
	return sw.done()
}
