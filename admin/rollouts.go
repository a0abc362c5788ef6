package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/tenant"
)

// Rollouts is what the rollout routes need; *rollout.Store implements it.
// Its changes are audited by the store itself (kind "rollout"), with the
// admin key as the actor.
type Rollouts interface {
	Start(ctx context.Context, req rollout.StartRequest) (*rollout.Rollout, error)
	List(ctx context.Context, tenantID string) ([]rollout.Rollout, error)
	Status(ctx context.Context, id string) (*rollout.Rollout, []rollout.Check, error)
	Promote(ctx context.Context, id string, share int, actor string) (*rollout.Rollout, error)
	Rollback(ctx context.Context, id, actor, reason string) (*rollout.Rollout, error)
	History(ctx context.Context, id string) ([]rollout.Event, error)
}

// rolloutStatus is a rollout with its live gates' checks as they stand.
type rolloutStatus struct {
	*rollout.Rollout
	Checks []rollout.Check `json:"checks,omitempty"`
}

// actor names the admin key making a change, for the rollout's history.
func actor(r *http.Request) string {
	if p, ok := tenant.PrincipalFrom(r.Context()); ok {
		return "key:" + p.Key.ID
	}
	return "admin"
}

// rollouts is the store, for a change (change) once Preflight allows it.
func (h *handler) rollouts(change bool) (Rollouts, error) {
	if h.cfg.Rollouts == nil {
		return nil, &apiError{Status: http.StatusNotImplemented, Type: typeServer, Code: "not_implemented", Message: "this node keeps no rollouts"}
	}
	if change && h.cfg.Preflight != nil {
		if err := h.cfg.Preflight(); err != nil {
			return nil, err
		}
	}
	return h.cfg.Rollouts, nil
}

// startRollout is POST /admin/v1/rollouts: {"tenant", "model",
// "candidate", "share", "gates"}; gates not given keep their defaults.
func (h *handler) startRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(true)
	if err != nil {
		return err
	}
	g := rollout.DefaultGates()
	var req struct {
		Tenant    string         `json:"tenant"`
		Model     string         `json:"model"`
		Candidate string         `json:"candidate"`
		Share     int            `json:"share"`
		Gates     *rollout.Gates `json:"gates"`
	}
	req.Gates = &g
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Tenant) == "" {
		return badRequest("'tenant' is required: the tenant whose deployment it is")
	}
	t, err := h.cfg.Tenants.GetTenant(r.Context(), req.Tenant)
	if err != nil {
		return err
	}
	rr, err := ro.Start(r.Context(), rollout.StartRequest{Tenant: t, Model: req.Model, Candidate: req.Candidate, Share: req.Share,
		Gates: req.Gates, Actor: actor(r)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rr)
	return nil
}

// listRollouts is GET /admin/v1/rollouts[?tenant=NAME].
func (h *handler) listRollouts(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(false)
	if err != nil {
		return err
	}
	tenantID := ""
	if name := r.URL.Query().Get("tenant"); name != "" {
		t, err := h.cfg.Tenants.GetTenant(r.Context(), name)
		if err != nil {
			return err
		}
		tenantID = t.ID
	}
	rs, err := ro.List(r.Context(), tenantID)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []rollout.Rollout{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": rs})
	return nil
}

// getRollout is GET /admin/v1/rollouts/{id}: the rollout with its gates
// evaluated now.
func (h *handler) getRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(false)
	if err != nil {
		return err
	}
	rr, checks, err := ro.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rolloutStatus{rr, checks})
	return nil
}

// promoteRollout is POST /admin/v1/rollouts/{id}/promote: {"share": N}
// sets the candidate's share; none (or 100) makes it the stable.
func (h *handler) promoteRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(true)
	if err != nil {
		return err
	}
	var req struct {
		Share int `json:"share"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	rr, err := ro.Promote(r.Context(), r.PathValue("id"), req.Share, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rr)
	return nil
}

// rollbackRollout is POST /admin/v1/rollouts/{id}/rollback: {"reason"}.
func (h *handler) rollbackRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(true)
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	rr, err := ro.Rollback(r.Context(), r.PathValue("id"), actor(r), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rr)
	return nil
}

// rolloutHistory is GET /admin/v1/rollouts/{id}/history.
func (h *handler) rolloutHistory(w http.ResponseWriter, r *http.Request) error {
	ro, err := h.rollouts(false)
	if err != nil {
		return err
	}
	evs, err := ro.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []rollout.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": evs})
	return nil
}

// classifyRollout maps the rollout store's errors, and the registry's
// about a candidate, to responses; nil if err is none of them.
func classifyRollout(err error) *apiError {
	e := func(status int, typ, code string) *apiError {
		return &apiError{Status: status, Type: typ, Code: code, Message: err.Error()}
	}
	switch {
	case errors.Is(err, rollout.ErrInvalid), errors.Is(err, registry.ErrInvalid):
		return e(http.StatusBadRequest, typeInvalidRequest, "invalid_value")
	case errors.Is(err, registry.ErrBaseMismatch):
		return e(http.StatusBadRequest, typeInvalidRequest, "base_mismatch")
	case errors.Is(err, rollout.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		return e(http.StatusNotFound, typeNotFound, "not_found")
	case errors.Is(err, rollout.ErrNotHome):
		return e(http.StatusForbidden, "permission_error", "not_home")
	case errors.Is(err, rollout.ErrForbidden):
		return e(http.StatusForbidden, "permission_error", "model_not_allowed")
	case errors.Is(err, rollout.ErrConflict):
		return e(http.StatusConflict, typeInvalidRequest, "conflict")
	case errors.Is(err, audit.ErrUnavailable):
		ae := e(http.StatusServiceUnavailable, typeServer, "audit_unavailable")
		ae.RetryAfter = auditRetry
		return ae
	}
	return nil
}
