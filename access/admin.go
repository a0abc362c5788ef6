package access

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hearth-ai/hearth/tenant"
)

// Admin wraps the admin API: it authenticates the caller as Authenticate
// does and hands the principal to h, which requires the admin scope. In
// local mode (no tenants yet, loopback only) the local operator is an
// admin, so the first tenant can be created over HTTP too.
func (g *Gate) Admin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *tenant.Principal
		switch secret := bearer(r); {
		case g.localMode(r.Context()):
			p = &tenant.Principal{Tenant: tenant.Tenant{Name: LocalTenant}, Key: tenant.Key{Scopes: []tenant.Scope{tenant.ScopeAdmin}}}
		case secret == "":
			g.denied(r, errors.New("no API key"))
			writeAuthError(w, "no API key: send Authorization: Bearer <key> with an admin-scoped key")
			return
		default:
			var err error
			if p, err = g.cfg.Tenants.Authenticate(r.Context(), secret); err != nil {
				g.denied(r, err)
				// The caller hears the public message; the detail goes to the
				// node's log (and the audit record).
				g.log.Info("admin request refused", "path", clip(r.URL.Path, maxPathLen), "remote_addr", r.RemoteAddr, "detail", err.Error())
				writeAuthError(w, tenant.PublicMessage(err))
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(tenant.WithPrincipal(r.Context(), p)))
	})
}

func writeAuthError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"message": msg, "type": "authentication_error", "code": "invalid_api_key"}})
}
