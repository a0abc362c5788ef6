package api

import (
	"errors"
	"net/http"
	"strings"
)

// POST /v1/feedback: a rating or correction of a captured response, from
// a caller of the tenant that owns it.
//
//	{"response_id": "chatcmpl-...", "rating": 1, "correction": "...", "tags": ["tone"], "comment": "..."}
//
// rating is -1 (down), 1 (up) or 1 to 5 (stars), and may be left out when a
// correction, tags or a comment are given. A lone 1 is ambiguous: it reads
// as a thumbs-up unless "scale" is "stars" (then one star); "scale":
// "thumbs" allows only -1 and 1. Stars and thumbs are stored apart. The answer is
// {"id": "fb_...", "object": "feedback", "response_id": ..., "status": "recorded"}.
// A response id the caller's tenant did not capture is a 404, whether or
// not another tenant has one by that id.

type feedbackRequest struct {
	ResponseID string   `json:"response_id"`
	Rating     *int     `json:"rating"`
	Scale      string   `json:"scale"` // "thumbs", "stars" or empty
	Correction string   `json:"correction"`
	Tags       []string `json:"tags"`
	Comment    string   `json:"comment"`
}

type feedbackResponse struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	ResponseID string `json:"response_id"`
	Status     string `json:"status"`
}

func (s *Server) feedback(w http.ResponseWriter, r *http.Request) error {
	var req feedbackRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.ResponseID) == "" {
		return badRequest("response_id", "'response_id' is required: the id of the response being rated")
	}
	in := FeedbackInput{ResponseID: req.ResponseID, Correction: req.Correction, Tags: req.Tags, Comment: req.Comment}
	if req.Scale != "" && req.Scale != "thumbs" && req.Scale != "stars" {
		return badRequest("scale", "'scale' must be 'thumbs' or 'stars', got '%s'", clientText(req.Scale))
	}
	if req.Rating != nil {
		switch r := *req.Rating; {
		case r == -1 && req.Scale != "stars":
			in.Thumb = -1
		case r == 1 && req.Scale != "stars":
			in.Thumb = 1
		case r >= 1 && r <= 5 && req.Scale != "thumbs":
			in.Rating = r
		case req.Scale == "thumbs":
			return badRequest("rating", "'rating' on the thumbs scale must be -1 (down) or 1 (up), got %d", r)
		case req.Scale == "stars":
			return badRequest("rating", "'rating' on the stars scale must be 1 to 5, got %d", r)
		default:
			return badRequest("rating", "'rating' must be -1 (down), 1 (up) or 1 to 5 (stars), got %d", r)
		}
	} else if strings.TrimSpace(req.Correction) == "" && strings.TrimSpace(req.Comment) == "" && len(req.Tags) == 0 {
		return badRequest("rating", "'rating' is required unless a correction, tags or a comment is given")
	}
	c := CallerFrom(r.Context())
	if s.cfg.Capture == nil || c == nil {
		// Nothing is captured here, so no response can be rated.
		return responseNotFound(req.ResponseID)
	}
	id, err := s.cfg.Capture.Feedback(r.Context(), c, in)
	switch {
	case errors.Is(err, ErrResponseNotFound):
		return responseNotFound(req.ResponseID)
	case errors.Is(err, ErrInvalidFeedback):
		return badRequest("", "%s", err.Error())
	case err != nil:
		return err
	}
	if s.cfg.Deployments != nil {
		s.cfg.Deployments.Feedback(r.Context(), in) // counted for the rollout arm that served it
	}
	writeJSON(w, http.StatusOK, feedbackResponse{ID: id, Object: "feedback", ResponseID: req.ResponseID, Status: "recorded"})
	return nil
}

func responseNotFound(id string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Code: "response_not_found", Param: "response_id",
		Message: "no captured response with id '" + clientText(id) + "' for this tenant"}
}
