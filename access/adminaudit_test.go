package access_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// TestAdminChangeRolledBackWhenAuditUnwritable: over HTTP, through the
// gate, the admin API and the tenant store as a node wires them, an admin
// change whose audit record the log cannot take (here the log is closed
// under the node: Preflight still passes, the append fails inside the
// change's transaction) is rolled back and answered 503 with Retry-After,
// in the admin API's error shape, saying nothing was changed; the store is
// as it was and the log holds no record of the change.
func TestAdminChangeRolledBackWhenAuditUnwritable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, action string
		method, path string
		body         string
		unchanged    func(t *testing.T, n *node, victim tenant.Key)
	}{
		{"tenant create", "tenant.create", "POST", "/admin/v1/tenants", `{"name":"gamma"}`, func(t *testing.T, n *node, _ tenant.Key) {
			if _, err := n.tenants.GetTenant(ctx, "gamma"); !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("tenant gamma: %v; want not found", err)
			}
		}},
		{"key create", "key.create", "POST", "/admin/v1/tenants/beta/keys", `{"name":"ci"}`, func(t *testing.T, n *node, _ tenant.Key) {
			if keys, err := n.tenants.ListKeys(ctx, "beta"); err != nil || len(keys) != 1 {
				t.Errorf("beta has %d keys (%v); want only the one it had", len(keys), err)
			}
		}},
		{"tenant update", "tenant.update", "PATCH", "/admin/v1/tenants/beta", `{"disabled":true,"limits":{"requests_per_minute":5}}`, func(t *testing.T, n *node, _ tenant.Key) {
			if tn, err := n.tenants.GetTenant(ctx, "beta"); err != nil || tn.Disabled || tn.Limits.RequestsPerMinute != 0 {
				t.Errorf("beta after the refused update: %+v, %v", tn, err)
			}
		}},
		{"key revoke", "key.revoke", "DELETE", "/admin/v1/keys/{victim}", ``, func(t *testing.T, n *node, victim tenant.Key) {
			if k, err := n.tenants.GetKey(ctx, victim.ID); err != nil || !k.Revoked.IsZero() {
				t.Errorf("key after the refused revocation: %+v, %v", k, err)
			}
		}},
		{"tenant delete", "tenant.delete", "DELETE", "/admin/v1/tenants/beta", ``, func(t *testing.T, n *node, _ tenant.Key) {
			if _, err := n.tenants.GetTenant(ctx, "beta"); err != nil {
				t.Errorf("beta after the refused delete: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "KE", false)
			admin := n.tenant(t, "ops", tenant.Policy{}, tenant.Limits{}, tenant.ScopeAdmin)
			n.tenant(t, "beta", tenant.Policy{}, tenant.Limits{})
			keys, err := n.tenants.ListKeys(ctx, "beta")
			if err != nil || len(keys) != 1 {
				t.Fatalf("beta's keys: %v %v", keys, err)
			}
			victim := keys[0]
			if err := n.audit.Close(); err != nil { // appends now fail with ErrClosed
				t.Fatal(err)
			}
			r := n.do(t, tc.method, strings.ReplaceAll(tc.path, "{victim}", victim.ID), admin, tc.body)
			e, _ := r.body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if r.status != 503 || r.retryAfter == "" || e["type"] != "server_error" || errCode(r) != "audit_unavailable" {
				t.Errorf("status %d, Retry-After %q, error %v; want 503 audit_unavailable with Retry-After", r.status, r.retryAfter, r.body)
			}
			if !strings.Contains(msg, tc.action) || !strings.Contains(msg, "nothing was changed") || !strings.Contains(msg, "audit record") {
				t.Errorf("message %q; want it to name %s, the audit record and that nothing was changed", msg, tc.action)
			}
			tc.unchanged(t, n, victim)
			var b bytes.Buffer
			if _, err := audit.Export(filepath.Join(n.dir, "audit"), &b, 0, 0); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), `"`+tc.action+`"`) {
				t.Errorf("the log records %s, which was not made:\n%s", tc.action, b.String())
			}
		})
	}
}
