package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hearth-ai/hearth/tenant"
)

// POST /admin/v1/tenants/{name}/erase erases a tenant's captured
// interactions, by response id or by end user (the OpenAI request's
// "user" field), and the dataset examples built from them, on every node
// that may hold them: a data subject's erasure request, answered once
// for the whole fleet. {"all": true} crypto-shreds all of the tenant's
// captured data instead: every node deletes the tenant's capture key.

// EraseRequest says what to erase: exactly one of its fields.
type EraseRequest struct {
	ResponseID string `json:"response_id,omitempty"`
	User       string `json:"user,omitempty"`
	All        bool   `json:"all,omitempty"` // delete the tenant's keys: everything becomes unreadable
}

// Valid reports whether exactly one thing to erase is given.
func (r EraseRequest) Valid() bool {
	n := 0
	for _, set := range []bool{r.ResponseID != "", r.User != "", r.All} {
		if set {
			n++
		}
	}
	return n == 1
}

// EraseReport is what an erasure did, node by node.
type EraseReport struct {
	Erased int         `json:"erased"`   // interactions erased, all nodes
	Nodes  []NodeErase `json:"nodes"`    // this node first
	Done   bool        `json:"complete"` // every node answered
}

// NodeErase is one node's part of an erasure.
type NodeErase struct {
	Node         string `json:"node"`
	Jurisdiction string `json:"jurisdiction,omitempty"`
	Erased       int    `json:"erased"`
	Shredded     bool   `json:"shredded,omitempty"` // the tenant's key is deleted there ("all")
	Error        string `json:"error,omitempty"`
}

// Eraser erases a tenant's captured data wherever it is kept.
type Eraser func(ctx context.Context, t tenant.Tenant, req EraseRequest) (EraseReport, error)

func (h *handler) erase(w http.ResponseWriter, r *http.Request) error {
	if h.ops.Eraser == nil {
		return errNoErase
	}
	ctx := r.Context()
	t, err := h.cfg.Tenants.GetTenant(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req EraseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rep, err := h.ops.Erase(ctx, t, req)
	if ue, ok := errors.AsType[*unrecordedErase](err); ok {
		// Done, and cannot be undone.
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "audit_unavailable", RetryAfter: 5, Message: ue.Error()}
	}
	if err != nil {
		return err
	}
	if !rep.Done {
		var failed []string
		for _, n := range rep.Nodes {
			if n.Error != "" {
				failed = append(failed, fmt.Sprintf("%s (%s): %s", n.Node, n.Jurisdiction, n.Error))
			}
		}
		// Erasure is idempotent: the operator repeats the request once
		// the nodes are back.
		writeJSON(w, http.StatusBadGateway, map[string]any{
			"error": map[string]string{"type": typeServer, "code": "erase_incomplete",
				"message": fmt.Sprintf("erased %d interactions, but %d node(s) could not be reached or failed; repeat the request: %s",
					rep.Erased, len(failed), strings.Join(failed, "; "))},
			"report": rep,
		})
		return nil
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
