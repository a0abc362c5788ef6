package admin

import (
	"net/http"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := h.cfg.Tenants.ListKeys(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(keys))
	return nil
}

// createKeyRequest is POST /admin/v1/tenants/{name}/keys's body. Expiry
// is either a time (expires, RFC 3339) or a lifetime in seconds
// (expires_in); neither means never.
type createKeyRequest struct {
	Name      string         `json:"name"`
	Scopes    []tenant.Scope `json:"scopes"`
	Expires   *time.Time     `json:"expires"`
	ExpiresIn *int64         `json:"expires_in"`
	Limits    tenant.Limits  `json:"limits"`
}

// maxExpiresIn is the longest expires_in, in seconds.
const maxExpiresIn = int64(tenant.MaxKeyLifetime / time.Second)

// createKeyResponse holds the secret: the one time it is ever shown.
type createKeyResponse struct {
	Secret  string     `json:"secret"`
	Key     tenant.Key `json:"key"`
	Warning string     `json:"warning"`
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	o := tenant.KeyOptions{Name: req.Name, Scopes: req.Scopes, Limits: req.Limits}
	switch {
	case req.Expires != nil && req.ExpiresIn != nil:
		return badRequest("give expires or expires_in, not both")
	case req.Expires != nil:
		// The zero time is how the store says "never": given as a time
		// it would make a key that never expires out of one meant to.
		if req.Expires.IsZero() {
			return badRequest("expires %s is not a time in the future; omit expires for a key that never expires",
				req.Expires.Format(time.RFC3339))
		}
		o.Expires = *req.Expires
	case req.ExpiresIn != nil:
		// Bounded before it becomes a Duration: seconds past 2^63 ns
		// wrap around to a past or a seconds-away expiry.
		if n := *req.ExpiresIn; n <= 0 || n > maxExpiresIn {
			return badRequest("expires_in must be a positive number of seconds up to %d (100 years), got %d", maxExpiresIn, n)
		}
		o.Expires = h.cfg.Now().Add(time.Duration(*req.ExpiresIn) * time.Second)
	}
	secret, k, err := h.ops.CreateKey(r.Context(), r.PathValue("name"), o)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, createKeyResponse{Secret: secret, Key: k,
		Warning: "store the secret now: it is not kept and cannot be shown again"})
	return nil
}

func (h *handler) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := h.cfg.Tenants.GetKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

// revokeKey revokes a key; revoking it again answers the same and is no
// new action.
func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, _, err := h.ops.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
