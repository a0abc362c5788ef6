package admin

import (
	"net/http"

	"github.com/hearth-ai/hearth/tenant"
)

// list is the envelope of list responses, as OpenAI's.
type list[T any] struct {
	Object string `json:"object"`
	Data   []T    `json:"data"`
}

func newList[T any](data []T) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Object: "list", Data: data}
}

func (h *handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.cfg.Tenants.ListTenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(ts))
	return nil
}

// createTenantRequest is POST /admin/v1/tenants's body.
type createTenantRequest struct {
	Name     string        `json:"name"`
	Policy   tenant.Policy `json:"policy"`
	Limits   tenant.Limits `json:"limits"`
	Disabled bool          `json:"disabled"`
}

func (h *handler) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req createTenantRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := h.ops.CreateTenant(r.Context(), tenant.Tenant{Name: req.Name, Policy: req.Policy, Limits: req.Limits, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := h.cfg.Tenants.GetTenant(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// TenantPatch is a change to some of a tenant's fields: PATCH
// /admin/v1/tenants/{name}'s body, and what the tenants commands' flags
// build. Only the fields present change; a list given as [] clears it.
type TenantPatch struct {
	Name     *string      `json:"name"`
	Policy   *PolicyPatch `json:"policy"`
	Limits   *LimitsPatch `json:"limits"`
	Disabled *bool        `json:"disabled"`
}

// PolicyPatch is the policy part of a TenantPatch.
type PolicyPatch struct {
	AllowedModels *[]string `json:"allowed_models"`
	Jurisdictions *[]string `json:"jurisdictions"`
	Home          *string   `json:"home"`
	Capture       *string   `json:"capture"`
	RetentionDays *int      `json:"retention_days"`
	// RetireErasedAdapters is tenant.Policy's.
	RetireErasedAdapters *bool `json:"retire_erased_adapters"`
}

// LimitsPatch is the limits part of a TenantPatch.
type LimitsPatch struct {
	RequestsPerMinute *int   `json:"requests_per_minute"`
	TokensPerMinute   *int   `json:"tokens_per_minute"`
	MonthlyTokens     *int64 `json:"monthly_tokens"`
}

// Apply changes t and returns the names of the fields it set, as the
// admin API names them ("name", "policy.home", "limits.monthly_tokens",
// "disabled"), in that order: the audit record's "changed".
func (p TenantPatch) Apply(t *tenant.Tenant) []string {
	var changed []string
	set := func(name string, do func()) { do(); changed = append(changed, name) }
	if p.Name != nil {
		set("name", func() { t.Name = *p.Name })
	}
	if q := p.Policy; q != nil {
		if q.AllowedModels != nil {
			set("policy.allowed_models", func() { t.Policy.AllowedModels = *q.AllowedModels })
		}
		if q.Jurisdictions != nil {
			set("policy.jurisdictions", func() { t.Policy.Jurisdictions = *q.Jurisdictions })
		}
		if q.Home != nil {
			set("policy.home", func() { t.Policy.Home = *q.Home })
		}
		if q.Capture != nil {
			set("policy.capture", func() { t.Policy.Capture = *q.Capture })
		}
		if q.RetentionDays != nil {
			set("policy.retention_days", func() { t.Policy.RetentionDays = *q.RetentionDays })
		}
		if q.RetireErasedAdapters != nil {
			set("policy.retire_erased_adapters", func() { t.Policy.RetireErasedAdapters = *q.RetireErasedAdapters })
		}
	}
	if l := p.Limits; l != nil {
		if l.RequestsPerMinute != nil {
			set("limits.requests_per_minute", func() { t.Limits.RequestsPerMinute = *l.RequestsPerMinute })
		}
		if l.TokensPerMinute != nil {
			set("limits.tokens_per_minute", func() { t.Limits.TokensPerMinute = *l.TokensPerMinute })
		}
		if l.MonthlyTokens != nil {
			set("limits.monthly_tokens", func() { t.Limits.MonthlyTokens = *l.MonthlyTokens })
		}
	}
	if p.Disabled != nil {
		set("disabled", func() { t.Disabled = *p.Disabled })
	}
	return changed
}

// Fields names the fields p sets, as Apply does.
func (p TenantPatch) Fields() []string { return p.Apply(&tenant.Tenant{}) }

func (h *handler) patchTenant(w http.ResponseWriter, r *http.Request) error {
	var p TenantPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	t, err := h.ops.UpdateTenant(r.Context(), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (h *handler) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	t, n, err := h.ops.DeleteTenant(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": t.ID, "name": t.Name, "object": "tenant", "deleted": true, "keys_deleted": n})
	return nil
}
