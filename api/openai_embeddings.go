package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
)

// POST /v1/embeddings, in OpenAI's wire format.

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           endUser         `json:"user"`
}

// OpenAI's limits on one embeddings request: inputs, and (the default of
// Config.MaxEmbeddingTokens) their tokens all together; each input is also
// held to the model's context. A request's cost is its tokens' forward
// passes: without the second bound, 2,048 inputs of a full context each
// kept a core busy for minutes.
const (
	maxEmbeddingInputs        = 2048
	DefaultMaxEmbeddingTokens = 300_000
)

type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string of little-endian float32s
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// parseEmbeddingInput accepts a string, an array of strings, an array of
// token ids or an array of those, as prompts (text) or token lists.
func parseEmbeddingInput(raw json.RawMessage) ([]promptInput, error) {
	if isNull(raw) {
		return nil, badRequest("input", "'input' is required")
	}
	var out []promptInput
	var text string
	var texts []string
	var ids []int32
	var idss [][]int32
	switch {
	case json.Unmarshal(raw, &text) == nil:
		out = []promptInput{{text: text}}
	case json.Unmarshal(raw, &texts) == nil:
		for _, t := range texts {
			out = append(out, promptInput{text: t})
		}
	case json.Unmarshal(raw, &ids) == nil:
		out = []promptInput{{tokens: ids, ids: true}}
	case json.Unmarshal(raw, &idss) == nil:
		for _, t := range idss {
			out = append(out, promptInput{tokens: t, ids: true})
		}
	default:
		return nil, badRequest("input", "'input' must be a string, an array of strings, an array of token ids or an array of token-id arrays")
	}
	if len(out) == 0 {
		return nil, badRequest("input", "'input' is empty")
	}
	if len(out) > maxEmbeddingInputs {
		return nil, badRequest("input", "'input' holds %d items; at most %d are allowed", len(out), maxEmbeddingInputs)
	}
	for i, in := range out {
		if (!in.ids && in.text == "") || (in.ids && len(in.tokens) == 0) {
			return nil, badRequest("input", "'input[%d]' is empty", i)
		}
	}
	return out, nil
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req embeddingRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	inputs, err := parseEmbeddingInput(req.Input)
	if err != nil {
		return err
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return badRequest("encoding_format", "'encoding_format' must be 'float' or 'base64', got '%s'", clientText(req.EncodingFormat))
	}
	if req.Dimensions != nil && *req.Dimensions < 1 {
		return badRequest("dimensions", "'dimensions' must be at least 1, got %d", *req.Dimensions)
	}
	m, release, _, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	vecs, tokens, err := s.embedAll(ctx, m, inputs, false, "input")
	if err != nil {
		return err
	}
	out := embeddingList{Object: "list", Model: req.Model, Data: make([]embeddingData, len(vecs)),
		Usage: embeddingUsage{PromptTokens: tokens, TotalTokens: tokens}}
	for i, v := range vecs {
		if req.Dimensions != nil && *req.Dimensions != len(v) {
			return unsupported("dimensions", "this model's embeddings have %d dimensions; other sizes are not supported (got 'dimensions' %d)", len(v), *req.Dimensions)
		}
		out.Data[i] = embeddingData{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			out.Data[i].Embedding = base64Floats(v)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// embedAll embeds each input in turn. truncate cuts inputs that do not
// fit the context (Ollama's default) instead of refusing them.
func (s *Server) embedAll(ctx context.Context, m Model, inputs []promptInput, truncate bool, param string) (vecs [][]float32, total int, err error) {
	limit := m.Info().ContextLength - 1
	all := make([][]int32, len(inputs))
	var joined []int32 // every input's tokens, for the audit hash
	for i, in := range inputs {
		toks := in.tokens
		if !in.ids {
			toks = m.Tokenize(in.text, true, false)
		}
		if truncate && limit > 0 && len(toks) > limit {
			toks = toks[:limit]
		}
		if err := checkPrompt(m, toks, inputParam(param, i, len(inputs))); err != nil {
			return nil, 0, err
		}
		all[i] = toks
		total += len(toks)
		if most := s.cfg.MaxEmbeddingTokens; total > most {
			return nil, 0, badRequest(param, "'%s' holds more than %d tokens in all (by input %d); send the inputs in several requests", param, most, i)
		}
		joined = append(joined, toks...)
	}
	pass, err := s.admit(ctx, m, total, 0)
	if err != nil {
		return nil, 0, err
	}
	start := s.now()
	defer func() { s.finish(ctx, pass, m, joined, nil, err, start) }()
	vecs = make([][]float32, 0, len(inputs))
	for i, toks := range all {
		p := inputParam(param, i, len(inputs))
		v, err := m.Embed(ctx, toks)
		if err != nil {
			return nil, 0, classify(fmt.Errorf("embed %s: %w", p, err), p)
		}
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, 0, fmt.Errorf("embed %s: component %d is %v", p, j, x)
			}
		}
		vecs = append(vecs, v)
	}
	requestInfoFrom(ctx).promptTokens += total
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.promptTokens.WithLabelValues(requestInfoFrom(ctx).model).Add(float64(total))
	}
	return vecs, total, nil
}

// base64Floats is OpenAI's base64 encoding: the float32s' little-endian
// bytes.
func base64Floats(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// inputParam names input i of n for error messages: "input" or "input[2]".
func inputParam(param string, i, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s[%d]", param, i)
	}
	return param
}
