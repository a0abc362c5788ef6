package access_test

import (
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/tenant"
)

// TestAdminRefusalsReadAlike checks that the admin API's refusals have one
// shape whoever makes them: the gate (no key, a bad key) and the admin API
// (a key without the admin scope) both answer {"error": {"message",
// "type", "code"}}, with no param, and name the refusal as the admin API
// does.
func TestAdminRefusalsReadAlike(t *testing.T) {
	n := newNode(t, "", false)
	user := n.tenant(t, "alpha", tenant.Policy{}, tenant.Limits{}, tenant.ScopeInference)
	for _, tc := range []struct {
		name, key  string
		status     int
		typ, code  string
		msgContain string
	}{
		{"no key", "", 401, "authentication_error", "unauthenticated", "no API key"},
		{"made-up key", "hk_" + strings.Repeat("a", 52), 401, "authentication_error", "unauthenticated", "invalid API key"},
		{"inference key", user, 403, "permission_error", "insufficient_scope", "lacks the admin scope"},
	} {
		r := n.do(t, "GET", "/admin/v1/tenants", tc.key, "")
		e, _ := r.body["error"].(map[string]any)
		if r.status != tc.status || e["type"] != tc.typ || e["code"] != tc.code {
			t.Errorf("%s: %d %v; want %d, type %s, code %s", tc.name, r.status, r.body, tc.status, tc.typ, tc.code)
		}
		if msg, _ := e["message"].(string); !strings.Contains(msg, tc.msgContain) || strings.HasPrefix(msg, "unauthorized") || strings.HasPrefix(msg, "forbidden") {
			t.Errorf("%s: message %q; want one with %q and no sentinel prefix", tc.name, msg, tc.msgContain)
		}
		if _, ok := e["param"]; ok || len(e) != 3 {
			t.Errorf("%s: error object %v; want exactly message, type and code", tc.name, e)
		}
	}
}
