package api

import (
	"fmt"
	"net/http"
)

// GET /v1/models and /v1/models/{id}, in OpenAI's wire format.

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Parent is an adapter's base model, as vLLM lists its adapters;
	// absent for a base.
	Parent string `json:"parent,omitempty"`
}

type openAIModelList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

// ownedBy is what the owned_by field says for every model.
const ownedBy = "hearth"

func toOpenAIModel(mi ModelInfo) openAIModel {
	var created int64
	if !mi.ModifiedAt.IsZero() {
		created = mi.ModifiedAt.Unix()
	}
	return openAIModel{ID: mi.Name, Object: "model", Created: created, OwnedBy: ownedBy, Parent: mi.Base}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	models, err := s.models(r.Context())
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	out := openAIModelList{Object: "list", Data: make([]openAIModel, 0, len(models))}
	for _, mi := range models {
		out.Data = append(out.Data, toOpenAIModel(mi))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" {
		return s.listModels(w, r)
	}
	mi, err := s.findModel(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOpenAIModel(mi))
	return nil
}
