package access

import (
	"errors"
	"net/http"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

// Admin wraps the admin API: it authenticates the caller as Authenticate
// does and hands the principal to h, which requires the admin scope. A
// missing or refused key gets the admin API's own 401 (api.WriteError
// answers /admin/ paths in its shape), with only the key's public message. In
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
			api.WriteError(w, r, api.Refusal(api.ErrUnauthorized, "no API key: send Authorization: Bearer <key> with an admin-scoped key"))
			return
		default:
			var err error
			if p, err = g.cfg.Tenants.Authenticate(r.Context(), secret); err != nil {
				g.denied(r, err)
				// The caller hears the public message; the detail goes to the
				// node's log (and the audit record).
				g.log.Info("admin request refused", "path", clip(r.URL.Path, maxPathLen), "remote_addr", r.RemoteAddr, "detail", err.Error())
				api.WriteError(w, r, api.Refusal(api.ErrUnauthorized, tenant.PublicMessage(err)))
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(tenant.WithPrincipal(r.Context(), p)))
	})
}
