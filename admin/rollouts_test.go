package admin

import (
	"net/http"
	"testing"

	"github.com/hearth-ai/hearth/tenant"
)

// TestRolloutRoutesWithoutStore: a node that keeps no rollouts says so
// with a 501 on every rollout route, and a key without the admin scope is
// refused before that. (The routes over a real store are node's test.)
func TestRolloutRoutesWithoutStore(t *testing.T) {
	f := newFixture(t)
	admin, _ := f.key(t, "ops", tenant.ScopeAdmin)
	user, _ := f.key(t, "acme")
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/admin/v1/rollouts", ""},
		{"POST", "/admin/v1/rollouts", `{"tenant":"acme","model":"m","candidate":"m:a"}`},
		{"GET", "/admin/v1/rollouts/ro_1", ""},
		{"POST", "/admin/v1/rollouts/ro_1/promote", `{"share":50}`},
		{"POST", "/admin/v1/rollouts/ro_1/rollback", ""},
		{"GET", "/admin/v1/rollouts/ro_1/history", ""},
	} {
		f.wantError(t, admin, r.method, r.path, r.body, http.StatusNotImplemented, typeServer, "not_implemented", "no rollouts")
		f.wantError(t, user, r.method, r.path, r.body, http.StatusForbidden, "permission_error", "insufficient_scope", "admin scope")
	}
	f.wantError(t, admin, "DELETE", "/admin/v1/rollouts/ro_1", "", http.StatusMethodNotAllowed, typeInvalidRequest, "method_not_allowed", "GET")
}
