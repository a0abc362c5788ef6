package api

import (
	"encoding/json"
	"net/http"
)

// Ollama's embeddings: /api/embed and the older /api/embeddings.

type ollamaEmbedRequest struct {
	Model    string          `json:"model"`
	Input    json.RawMessage `json:"input"`
	Truncate *bool           `json:"truncate"`
}

type ollamaEmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	LoadDuration    int64       `json:"load_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count,omitempty"`
}

func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaEmbedRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	texts, err := stringOrStrings(req.Input, "input")
	if err != nil {
		return err
	}
	if len(texts) > maxEmbeddingInputs {
		return badRequest("input", "'input' holds %d items; at most %d are allowed", len(texts), maxEmbeddingInputs)
	}
	m, release, load, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	out := ollamaEmbedResponse{Model: req.Model, Embeddings: [][]float32{}, LoadDuration: int64(load)}
	if len(texts) > 0 {
		inputs := make([]promptInput, len(texts))
		for i, t := range texts {
			if t == "" {
				return badRequest("input", "input[%d] is empty", i)
			}
			inputs[i] = promptInput{text: t}
		}
		truncate := req.Truncate == nil || *req.Truncate // Ollama truncates by default
		if out.Embeddings, out.PromptEvalCount, err = s.embedAll(ctx, m, inputs, truncate, "input"); err != nil {
			return err
		}
	}
	out.TotalDuration = int64(s.now().Sub(requestInfoFrom(ctx).start))
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ollamaEmbeddingsRequest struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
}

type ollamaEmbeddingsResponse struct {
	Embedding []float64 `json:"embedding"`
}

// ollamaEmbeddings is the older single-prompt endpoint, which answers
// float64s and an empty embedding for an empty prompt.
func (s *Server) ollamaEmbeddings(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaEmbeddingsRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	m, release, _, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	out := ollamaEmbeddingsResponse{Embedding: []float64{}}
	if req.Prompt != "" {
		vecs, _, err := s.embedAll(ctx, m, []promptInput{{text: req.Prompt}}, false, "prompt")
		if err != nil {
			return err
		}
		for _, x := range vecs[0] {
			out.Embedding = append(out.Embedding, float64(x))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
