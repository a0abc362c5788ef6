package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// Hook connects a Store to the API server: it implements api.Capturer.
// The caller's tenant comes from the request's context
// (tenant.PrincipalFrom), where the gate put it (package access's callers
// do, through api.Caller.Context); a request without one (a node serving
// its own machine with no tenants) is never captured and owns no
// responses.
type Hook struct {
	s   *Store
	log *slog.Logger
}

var _ api.Capturer = (*Hook)(nil)

// NewHook returns the API hook of s.
func NewHook(s *Store) *Hook { return &Hook{s: s, log: s.log} }

// principal is the request's caller, nil without one.
func principal(ctx context.Context) *tenant.Principal {
	p, _ := tenant.PrincipalFrom(ctx)
	return p
}

// Wants applies the caller's tenant policy alone (allowed): capture on is
// CaptureAlways, opt-in CaptureIfAsked, anything else (capture off,
// retention 0, no tenant) CaptureNever. Whether this node can keep what
// the policy wants is Capture's question: an interaction wanted but not
// storable here is counted as dropped there.
func (h *Hook) Wants(ctx context.Context, _ api.Caller) api.CaptureWant {
	p := principal(ctx)
	if p == nil {
		return api.CaptureNever
	}
	if _, ok := allowed(p.Tenant, true); !ok {
		return api.CaptureNever
	}
	if _, ok := allowed(p.Tenant, false); !ok {
		return api.CaptureIfAsked
	}
	return api.CaptureAlways
}

// Capture saves the interaction when the tenant's policy and the request's
// opt-in allow it here; a refusal by policy is not an error.
func (h *Hook) Capture(ctx context.Context, _ api.Caller, in api.CaptureInput) error {
	p := principal(ctx)
	if p == nil {
		return nil
	}
	ok, reason := h.s.Decide(p.Tenant, in.OptIn)
	if !ok {
		if _, wanted := allowed(p.Tenant, in.OptIn); wanted {
			// Wanted by the policy but not storable on this node:
			// dropped, counted and logged (fail closed).
			h.s.dropped.Add(1)
			h.log.Warn("capture: interaction dropped", "tenant", p.Tenant.Name, "response_id", in.ResponseID, "reason", reason)
		}
		return nil
	}
	msgs := make([]Message, len(in.Messages))
	for i, m := range in.Messages {
		msgs[i] = Message{Role: m.Role, Content: m.Content}
	}
	return h.s.Save(ctx, p.Tenant, Interaction{ResponseID: in.ResponseID, TenantID: p.Tenant.ID, KeyID: p.Key.ID, EndUser: in.EndUser,
		Model: in.Model, Endpoint: in.Endpoint, Messages: msgs, Output: in.Output, Params: in.Params, Time: in.Time})
}

// Feedback records feedback for the caller's tenant, on its home node
// (FeedbackFor); the key needs the "feedback" scope.
func (h *Hook) Feedback(ctx context.Context, _ api.Caller, in api.FeedbackInput) (string, error) {
	p := principal(ctx)
	if p == nil {
		return "", fmt.Errorf("%w: %q", api.ErrResponseNotFound, in.ResponseID)
	}
	if !p.Has(tenant.ScopeFeedback) {
		return "", fmt.Errorf("%w: this key has no %q scope", api.ErrForbidden, tenant.ScopeFeedback)
	}
	fb, err := h.s.FeedbackFor(ctx, p.Tenant, Feedback{ResponseID: in.ResponseID, Rating: in.Rating, Thumb: in.Thumb, Correction: in.Correction,
		Tags: in.Tags, Comment: in.Comment, KeyID: p.Key.ID})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrKeyDeleted):
		return "", fmt.Errorf("%w: %w", api.ErrResponseNotFound, err)
	case errors.Is(err, ErrInvalid):
		return "", fmt.Errorf("%w: %w", api.ErrInvalidFeedback, err)
	case errors.Is(err, ErrUnreachable), errors.Is(err, audit.ErrUnavailable):
		return "", fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return fb.ID, err
}
