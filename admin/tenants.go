package admin

import (
	"net/http"
	"strconv"
	"strings"

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
	if err := h.preflight("tenant.create"); err != nil {
		return err
	}
	hook, after := h.audited(r, "tenant.create", func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID}
	})
	t, err := h.cfg.Tenants.CreateTenant(r.Context(), tenant.Tenant{Name: req.Name, Policy: req.Policy, Limits: req.Limits, Disabled: req.Disabled}, hook)
	if err := after(err); err != nil {
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

// tenantPatch is PATCH /admin/v1/tenants/{name}'s body: only the fields
// present change; a list given as [] clears it.
type tenantPatch struct {
	Name   *string `json:"name"`
	Policy *struct {
		AllowedModels *[]string `json:"allowed_models"`
		Jurisdictions *[]string `json:"jurisdictions"`
		Home          *string   `json:"home"`
		Capture       *string   `json:"capture"`
		RetentionDays *int      `json:"retention_days"`
	} `json:"policy"`
	Limits *struct {
		RequestsPerMinute *int   `json:"requests_per_minute"`
		TokensPerMinute   *int   `json:"tokens_per_minute"`
		MonthlyTokens     *int64 `json:"monthly_tokens"`
	} `json:"limits"`
	Disabled *bool `json:"disabled"`
}

// apply changes t and returns the names of the fields it set.
func (p *tenantPatch) apply(t *tenant.Tenant) []string {
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

func (h *handler) patchTenant(w http.ResponseWriter, r *http.Request) error {
	var p tenantPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	if err := h.preflight("tenant.update"); err != nil {
		return err
	}
	var changed []string
	hook, after := h.audited(r, "tenant.update", func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID, "changed": strings.Join(changed, ",")}
	})
	t, err := h.cfg.Tenants.UpdateTenant(r.Context(), r.PathValue("name"), func(t *tenant.Tenant) error {
		changed = p.apply(t)
		return nil
	}, hook)
	if err := after(err); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (h *handler) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.cfg.Tenants.GetTenant(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := h.preflight("tenant.delete"); err != nil {
		return err
	}
	hook, after := h.audited(r, "tenant.delete", func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID, "keys_deleted": strconv.Itoa(c.KeysDeleted)}
	})
	n, err := h.cfg.Tenants.DeleteTenant(ctx, t.ID, hook)
	if err := after(err); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": t.ID, "name": t.Name, "object": "tenant", "deleted": true, "keys_deleted": n})
	return nil
}
