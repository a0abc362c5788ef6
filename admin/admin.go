// Package admin is the HTTP API for managing tenants and their keys:
//
//	GET    /admin/v1/tenants              list tenants
//	POST   /admin/v1/tenants              create a tenant
//	GET    /admin/v1/tenants/{name}       show a tenant (by name or id)
//	PATCH  /admin/v1/tenants/{name}       change some of its fields
//	DELETE /admin/v1/tenants/{name}       delete it and its keys
//	GET    /admin/v1/tenants/{name}/keys  list its keys
//	POST   /admin/v1/tenants/{name}/keys  create a key; the only response holding its secret
//	GET    /admin/v1/keys/{id}            show a key
//	DELETE /admin/v1/keys/{id}            revoke a key, at once
//	POST   /admin/v1/tenants/{name}/erase erase captured data by response or end user, fleet-wide
//	GET    /admin/v1/rollouts             list rollouts (?tenant=NAME)
//	POST   /admin/v1/rollouts             start one: {"tenant", "model", "candidate", "share", "gates"}
//	GET    /admin/v1/rollouts/{id}        one, its gates evaluated now
//	POST   /admin/v1/rollouts/{id}/promote  {"share": N} sets the share; none makes the candidate the stable
//	POST   /admin/v1/rollouts/{id}/rollback {"reason"}
//	GET    /admin/v1/rollouts/{id}/history  its steps, as audited
//
// The server in front authenticates the caller and passes the principal
// in the request's context (tenant.WithPrincipal); every route requires
// the admin scope. Each change is made by Ops, which the command line
// uses too. Errors are JSON in OpenAI's shape,
// {"error": {"message", "type", "code"}}.
package admin

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// Config configures the handler.
type Config struct {
	Tenants *tenant.Store
	Logger  *slog.Logger // nil: discard
	// OnAction, if set, records every change in the audit log (see
	// Recorder; the caller is in ctx). It runs inside the change's
	// transaction, before it commits: when it fails the change is rolled
	// back and the client gets a 503 naming the audit log. (An erasure
	// cannot be rolled back: it is refused up front while Preflight fails,
	// and answered 503 if its record fails afterwards.) See Ops.
	OnAction Recorder
	// Preflight, if set, is asked before a change: an error (the audit
	// log is known to be failing) refuses it with a 503 before anything is
	// done.
	Preflight func() error
	// Now is the clock for expires_in (nil: time.Now).
	Now func() time.Time
	// Erase, if set, serves the erase route (nil: 501).
	Erase Eraser
	// Rollouts, if set, serves the rollout routes (nil: 501).
	Rollouts Rollouts
}

// maxBody bounds request bodies; a tenant's JSON is a few hundred bytes.
const maxBody = 1 << 20

type handler struct {
	cfg Config
	ops *Ops
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the admin API handler. Mount it at /admin/ (its routes
// carry the full path).
func New(cfg Config) http.Handler {
	h := &handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.cfg.Now == nil {
		h.cfg.Now = time.Now
	}
	h.ops = &Ops{Tenants: cfg.Tenants, Audit: cfg.OnAction, Preflight: cfg.Preflight, Eraser: cfg.Erase, Logger: h.log}
	// Patterns without methods: the handlers answer 405 themselves, in
	// JSON, which ServeMux's own 405 is not.
	h.mux.Handle("/admin/v1/tenants", h.route(methods{"GET": h.listTenants, "POST": h.createTenant}))
	h.mux.Handle("/admin/v1/tenants/{name}", h.route(methods{"GET": h.getTenant, "PATCH": h.patchTenant, "DELETE": h.deleteTenant}))
	h.mux.Handle("/admin/v1/tenants/{name}/keys", h.route(methods{"GET": h.listKeys, "POST": h.createKey}))
	h.mux.Handle("/admin/v1/keys/{id}", h.route(methods{"GET": h.getKey, "DELETE": h.revokeKey}))
	h.mux.Handle("/admin/v1/tenants/{name}/erase", h.route(methods{"POST": h.erase}))
	h.mux.Handle("/admin/v1/rollouts", h.route(methods{"GET": h.listRollouts, "POST": h.startRollout}))
	h.mux.Handle("/admin/v1/rollouts/{id}", h.route(methods{"GET": h.getRollout}))
	h.mux.Handle("/admin/v1/rollouts/{id}/promote", h.route(methods{"POST": h.promoteRollout}))
	h.mux.Handle("/admin/v1/rollouts/{id}/rollback", h.route(methods{"POST": h.rollbackRollout}))
	h.mux.Handle("/admin/v1/rollouts/{id}/history", h.route(methods{"GET": h.rolloutHistory}))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := tenant.PrincipalFrom(r.Context())
	switch {
	case !ok:
		h.fail(w, r, errUnauthenticated)
		return
	case !p.Has(tenant.ScopeAdmin):
		h.fail(w, r, errForbidden)
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.fail(w, r, &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "not_found",
			Message: "no admin route " + r.Method + " " + r.URL.Path})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	h.mux.ServeHTTP(w, r)
}

// methods maps request methods to a route's handlers, which return
// errors instead of writing them.
type methods map[string]func(http.ResponseWriter, *http.Request) error

// route dispatches on the request method and turns handler errors into
// responses.
func (h *handler) route(m methods) http.Handler {
	var allowed []string
	for _, meth := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if m[meth] != nil {
			allowed = append(allowed, meth)
		}
	}
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := m[r.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			h.fail(w, r, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest, Code: "method_not_allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + allow})
			return
		}
		if err := f(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}
