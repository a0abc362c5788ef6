package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/tenant"
)

// TestChangeRolledBackWhenAuditFails: an admin change whose audit record
// cannot be written is not made: the client gets a 503 with Retry-After
// naming the audit log, and the tenant or key is as it was.
func TestChangeRolledBackWhenAuditFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		unchanged    func(t *testing.T, f *fixture, victimKey string)
	}{
		{"create key", "POST", "/admin/v1/tenants/beta/keys", `{"name":"ci"}`, func(t *testing.T, f *fixture, _ string) {
			keys, err := f.store.ListKeys(ctx, "beta")
			if err != nil || len(keys) != 1 { // the victim's only
				t.Errorf("beta has %d keys (%v); want the one it had", len(keys), err)
			}
		}},
		{"create tenant", "POST", "/admin/v1/tenants", `{"name":"gamma"}`, func(t *testing.T, f *fixture, _ string) {
			if _, err := f.store.GetTenant(ctx, "gamma"); !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("tenant gamma: %v; want not found", err)
			}
		}},
		{"update tenant", "PATCH", "/admin/v1/tenants/beta", `{"disabled":true}`, func(t *testing.T, f *fixture, _ string) {
			if tn, err := f.store.GetTenant(ctx, "beta"); err != nil || tn.Disabled {
				t.Errorf("beta after the refused update: %+v, %v", tn, err)
			}
		}},
		{"delete tenant", "DELETE", "/admin/v1/tenants/beta", ``, func(t *testing.T, f *fixture, _ string) {
			if _, err := f.store.GetTenant(ctx, "beta"); err != nil {
				t.Errorf("beta after the refused delete: %v", err)
			}
		}},
		{"revoke key", "DELETE", "/admin/v1/keys/{victim}", ``, func(t *testing.T, f *fixture, id string) {
			if k, err := f.store.GetKey(ctx, id); err != nil || !k.Revoked.IsZero() {
				t.Errorf("key after the refused revocation: %+v, %v", k, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			admin, _ := f.key(t, "ops", tenant.ScopeAdmin)
			_, victim := f.key(t, "beta")
			f.failing = errors.New("audit log /data/audit: the audit log cannot make records durable")
			var body errorBody
			status, hdr := f.do(t, admin, tc.method, strings.ReplaceAll(tc.path, "{victim}", victim.ID), tc.body, &body)
			if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", status, hdr.Get("Retry-After"))
			}
			if body.Error == nil || !strings.Contains(body.Error.Message, "audit") || !strings.Contains(body.Error.Message, "nothing was changed") {
				t.Errorf("error %+v; want one naming the audit log", body.Error)
			}
			tc.unchanged(t, f, victim.ID)
			// Once the log records again, the same request goes through.
			f.failing = nil
			if status, _ := f.do(t, admin, tc.method, strings.ReplaceAll(tc.path, "{victim}", victim.ID), tc.body, nil); status >= 300 {
				t.Errorf("after recovery: status %d", status)
			}
			if len(f.actions) != 1 {
				t.Errorf("actions recorded %+v; want the one that succeeded", f.actions)
			}
		})
	}
}

// TestPreflightRefusesErase: an erasure, which cannot be rolled back, is
// refused before anything is erased while the audit log is failing.
func TestPreflightRefusesErase(t *testing.T) {
	f, admin, erased := eraseFixture(t, Config{Preflight: func() error { return errors.New("audit log failing") }}, EraseReport{Done: true})
	status, hdr := f.do(t, admin, "POST", "/admin/v1/tenants/beta/erase", `{"user":"u1"}`, nil)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || *erased != 0 {
		t.Errorf("status %d, Retry-After %q, erasures %d; want 503, Retry-After, none", status, hdr.Get("Retry-After"), *erased)
	}
}

// TestEraseUnrecordedIsAnError: an erasure is done once its Eraser has
// run, but when its audit record then cannot be written the caller gets a
// 503 saying what was erased and that the record is missing, not the
// report as if all were well.
func TestEraseUnrecordedIsAnError(t *testing.T) {
	f, admin, erased := eraseFixture(t, Config{OnAction: func(context.Context, string, map[string]string) error { return errors.New("audit log closed") }},
		EraseReport{Erased: 3, Done: true, Nodes: []NodeErase{{Node: "n1", Erased: 3}}})
	var body errorBody
	status, hdr := f.do(t, admin, "POST", "/admin/v1/tenants/beta/erase", `{"user":"u1"}`, &body)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || *erased != 1 {
		t.Errorf("status %d, Retry-After %q, erasures %d; want 503, Retry-After, one", status, hdr.Get("Retry-After"), *erased)
	}
	if body.Error == nil || body.Error.Code != "audit_unavailable" || !strings.Contains(body.Error.Message, "erased 3 interactions") ||
		!strings.Contains(body.Error.Message, "audit record could not be written") {
		t.Errorf("error %+v; want audit_unavailable saying 3 were erased and the record is missing", body.Error)
	}
}

// eraseFixture serves cfg with an Eraser that answers rep and counts its
// calls, for an admin key ("ops") erasing tenant beta's data.
func eraseFixture(t *testing.T, cfg Config, rep EraseReport) (f *fixture, adminKey string, erased *int) {
	t.Helper()
	f = newFixture(t)
	adminKey, _ = f.key(t, "ops", tenant.ScopeAdmin)
	f.key(t, "beta")
	erased = new(int)
	cfg.Tenants = f.store
	cfg.Erase = func(ctx context.Context, tn tenant.Tenant, req EraseRequest) (EraseReport, error) {
		*erased++
		return rep, nil
	}
	f.srv.Config.Handler = New(cfg).(*handler).withAuth(f.store)
	return f, adminKey, erased
}
