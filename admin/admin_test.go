package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type action struct {
	caller string // key id
	name   string
	detail map[string]string
}

type fixture struct {
	store   *tenant.Store
	srv     *httptest.Server
	mu      sync.Mutex
	actions []action
	failing error // OnAction fails with it (an audit log that cannot record)
}

// newFixture serves the admin API behind withAuth, a stand-in for the
// server's authentication.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), db.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := tenant.Open(context.Background(), d, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s}
	h := New(Config{Tenants: s, Now: func() time.Time { return now },
		OnAction: func(ctx context.Context, name string, detail map[string]string) error {
			p, _ := tenant.PrincipalFrom(ctx)
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.failing != nil {
				return f.failing
			}
			f.actions = append(f.actions, action{p.Key.ID, name, detail})
			return nil
		}})
	f.srv = httptest.NewServer(h.(*handler).withAuth(s))
	t.Cleanup(f.srv.Close)
	return f
}

// withAuth is a stand-in for the server's authentication around h: the
// bearer token is authenticated against s and the principal passed on with
// tenant.WithPrincipal; no token, no principal.
func (h *handler) withAuth(s *tenant.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			p, err := s.Authenticate(r.Context(), tok)
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			r = r.WithContext(tenant.WithPrincipal(r.Context(), p))
		}
		h.ServeHTTP(w, r)
	})
}

// key makes a tenant (if needed) and a key with scopes in it.
func (f *fixture) key(t *testing.T, tn string, scopes ...tenant.Scope) (string, tenant.Key) {
	t.Helper()
	if _, err := f.store.GetTenant(context.Background(), tn); errors.Is(err, tenant.ErrNotFound) {
		if _, err := f.store.CreateTenant(context.Background(), tenant.Tenant{Name: tn}); err != nil {
			t.Fatal(err)
		}
	}
	secret, k, err := f.store.CreateKey(context.Background(), tn, tenant.KeyOptions{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return secret, k
}

type errorBody struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

// do sends a request and decodes the JSON response into out (if not nil).
func (f *fixture) do(t *testing.T, token, method, path, body string, out any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content type %q, body %s", method, path, ct, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// wantError checks an error response's status and shape.
func (f *fixture) wantError(t *testing.T, token, method, path, body string, status int, typ, code, msg string) {
	t.Helper()
	var e errorBody
	got, _ := f.do(t, token, method, path, body, &e)
	if got != status {
		t.Errorf("%s %s: status %d; want %d", method, path, got, status)
	}
	if e.Error == nil || e.Error.Type != typ || e.Error.Code != code || !strings.Contains(e.Error.Message, msg) {
		t.Errorf("%s %s: error %+v; want type %q code %q message with %q", method, path, e.Error, typ, code, msg)
	}
}

// wantUnchanged checks that the requests just made, all of them refused
// or failed (how says which), recorded no admin action and left the
// fixture's one tenant alone.
func (f *fixture) wantUnchanged(t *testing.T, how string) {
	t.Helper()
	if len(f.actions) != 0 {
		t.Errorf("%s requests recorded actions: %v", how, f.actions)
	}
	if n, _ := f.store.CountTenants(context.Background()); n != 1 {
		t.Errorf("%d tenants after %s requests; want 1", n, how)
	}
}

var routes = []struct{ method, path, body string }{
	{"GET", "/admin/v1/tenants", ""},
	{"POST", "/admin/v1/tenants", `{"name":"x"}`},
	{"GET", "/admin/v1/tenants/ops", ""},
	{"PATCH", "/admin/v1/tenants/ops", `{"disabled":true}`},
	{"DELETE", "/admin/v1/tenants/ops", ""},
	{"GET", "/admin/v1/tenants/ops/keys", ""},
	{"POST", "/admin/v1/tenants/ops/keys", `{}`},
	{"GET", "/admin/v1/keys/key_x", ""},
	{"DELETE", "/admin/v1/keys/key_x", ""},
	{"GET", "/admin/v1/nothing", ""},
}

func TestScopes(t *testing.T) {
	f := newFixture(t)
	user, _ := f.key(t, "ops", tenant.ScopeInference, tenant.ScopeFeedback)
	for _, r := range routes {
		f.wantError(t, "", r.method, r.path, r.body, 401, "authentication_error", "unauthenticated", "admin scope")
		f.wantError(t, user, r.method, r.path, r.body, 403, "permission_error", "insufficient_scope", "lacks the admin scope")
	}
	f.wantUnchanged(t, "refused")
}

func TestRoutes(t *testing.T) {
	f := newFixture(t)
	admin, adminKey := f.key(t, "ops", tenant.ScopeAdmin)

	// Create.
	var tn tenant.Tenant
	status, _ := f.do(t, admin, "POST", "/admin/v1/tenants",
		`{"name":"kra","policy":{"allowed_models":["llama3"],"jurisdictions":["KE","KE-NBO"],"home":"KE","capture":"opt-in","retention_days":30},
		  "limits":{"requests_per_minute":60,"tokens_per_minute":1000,"monthly_tokens":5000000}}`, &tn)
	if status != 201 || tn.Name != "kra" || !strings.HasPrefix(tn.ID, "tnt_") || tn.Policy.Home != "KE" ||
		tn.Policy.Capture != "opt-in" || tn.Limits.MonthlyTokens != 5000000 || !tn.Created.Equal(now) {
		t.Fatalf("create: %d %+v", status, tn)
	}
	// Show, by name and id.
	for _, key := range []string{"kra", tn.ID} {
		var got tenant.Tenant
		if status, _ := f.do(t, admin, "GET", "/admin/v1/tenants/"+key, "", &got); status != 200 || got.ID != tn.ID {
			t.Errorf("get %s: %d %+v", key, status, got)
		}
	}
	// List.
	var ts struct {
		Object string          `json:"object"`
		Data   []tenant.Tenant `json:"data"`
	}
	if status, _ := f.do(t, admin, "GET", "/admin/v1/tenants", "", &ts); status != 200 || ts.Object != "list" ||
		len(ts.Data) != 2 || ts.Data[0].Name != "kra" || ts.Data[1].Name != "ops" {
		t.Errorf("list: %d %+v", status, ts)
	}
	// Patch some fields; the rest stays.
	var up tenant.Tenant
	status, _ = f.do(t, admin, "PATCH", "/admin/v1/tenants/kra", `{"policy":{"capture":"on","allowed_models":[]},"limits":{"tokens_per_minute":2000}}`, &up)
	if status != 200 || up.Policy.Capture != "on" || len(up.Policy.AllowedModels) != 0 || up.Policy.Home != "KE" ||
		up.Limits.TokensPerMinute != 2000 || up.Limits.RequestsPerMinute != 60 {
		t.Errorf("patch: %d %+v", status, up)
	}

	// Keys: create, list, show.
	var created struct {
		Secret  string     `json:"secret"`
		Key     tenant.Key `json:"key"`
		Warning string     `json:"warning"`
	}
	status, hdr := f.do(t, admin, "POST", "/admin/v1/tenants/kra/keys", `{"name":"ci","scopes":["inference"],"expires_in":3600,"limits":{"requests_per_minute":5}}`, &created)
	if status != 201 || !strings.HasPrefix(created.Secret, "hk_") || created.Key.TenantID != tn.ID || created.Key.Name != "ci" ||
		!created.Key.Expires.Equal(now.Add(time.Hour)) || created.Key.Limits.RequestsPerMinute != 5 || created.Warning == "" {
		t.Fatalf("create key: %d %+v", status, created)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q on the secret's response; want no-store", hdr.Get("Cache-Control"))
	}
	p, err := f.store.Authenticate(context.Background(), created.Secret)
	if err != nil || p.Tenant.Name != "kra" || !p.Has(tenant.ScopeInference) || p.Has(tenant.ScopeAdmin) {
		t.Errorf("the new key authenticates as %+v, %v", p, err)
	}
	var keys struct {
		Data []json.RawMessage `json:"data"`
	}
	if status, _ := f.do(t, admin, "GET", "/admin/v1/tenants/kra/keys", "", &keys); status != 200 || len(keys.Data) != 1 {
		t.Errorf("list keys: %d %s", status, keys.Data)
	}
	var k tenant.Key
	if status, _ := f.do(t, admin, "GET", "/admin/v1/keys/"+created.Key.ID, "", &k); status != 200 || k.Prefix != created.Key.Prefix {
		t.Errorf("get key: %d %+v", status, k)
	}
	for _, raw := range keys.Data {
		if strings.Contains(string(raw), created.Secret[3+len(k.Prefix):]) {
			t.Error("the key list shows the secret")
		}
	}
	// Revoke: refused at once.
	if status, _ := f.do(t, admin, "DELETE", "/admin/v1/keys/"+created.Key.ID, "", &k); status != 200 || !k.Revoked.Equal(now) {
		t.Errorf("revoke: %d %+v", status, k)
	}
	if _, err := f.store.Authenticate(context.Background(), created.Secret); !errors.Is(err, tenant.ErrRevoked) {
		t.Errorf("after revoke: %v", err)
	}
	f.do(t, admin, "DELETE", "/admin/v1/keys/"+created.Key.ID, "", &k) // again: same answer, no new action

	// Delete the tenant.
	var del map[string]any
	if status, _ := f.do(t, admin, "DELETE", "/admin/v1/tenants/kra", "", &del); status != 200 || del["deleted"] != true || del["keys_deleted"] != 1.0 {
		t.Errorf("delete: %d %v", status, del)
	}
	f.wantError(t, admin, "GET", "/admin/v1/tenants/kra", "", 404, "not_found_error", "not_found", `no tenant "kra"`)

	// Every change, and only changes, went to OnAction, by the admin key.
	want := []struct{ name, field, value string }{
		{"tenant.create", "tenant", "kra"},
		{"tenant.update", "changed", "policy.allowed_models,policy.capture,limits.tokens_per_minute"},
		{"key.create", "key_id", created.Key.ID},
		{"key.revoke", "key_id", created.Key.ID},
		{"tenant.delete", "keys_deleted", "1"},
	}
	if len(f.actions) != len(want) {
		t.Fatalf("actions %v; want %d", f.actions, len(want))
	}
	for i, w := range want {
		a := f.actions[i]
		if a.name != w.name || a.detail[w.field] != w.value || a.caller != adminKey.ID {
			t.Errorf("action %d = %+v; want %s with %s=%s by %s", i, a, w.name, w.field, w.value, adminKey.ID)
		}
		for _, v := range a.detail {
			if strings.Contains(v, created.Secret) {
				t.Errorf("action %d detail holds the secret", i)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	admin, _ := f.key(t, "ops", tenant.ScopeAdmin)
	tests := []struct {
		method, path, body string
		status             int
		typ, code, msg     string
	}{
		{"POST", "/admin/v1/tenants", `{"name":"Bad Name"}`, 400, "invalid_request_error", "invalid_value", `tenant name "Bad Name"`},
		{"POST", "/admin/v1/tenants", `{"name":"x","policy":{"capture":"always"}}`, 400, "invalid_request_error", "invalid_value", `capture "always"`},
		{"POST", "/admin/v1/tenants", `{"name":"x","policy":{"jurisdictions":["ke"]}}`, 400, "invalid_request_error", "invalid_value", "upper case"},
		{"POST", "/admin/v1/tenants", `{"name":"x","limits":{"monthly_tokens":-1}}`, 400, "invalid_request_error", "invalid_value", "monthly tokens -1"},
		{"POST", "/admin/v1/tenants", `{"name":"x","polcy":{}}`, 400, "invalid_request_error", "invalid_request", `unknown field "polcy"`},
		{"POST", "/admin/v1/tenants", `{"name":`, 400, "invalid_request_error", "invalid_request", "invalid JSON"},
		{"POST", "/admin/v1/tenants", `{"name":"x"} {}`, 400, "invalid_request_error", "invalid_request", "data after the object"},
		{"POST", "/admin/v1/tenants", `{"name":"x","pad":"` + strings.Repeat("a", maxBody) + `"}`, 413, "invalid_request_error", "request_too_large", "exceeds"},
		{"POST", "/admin/v1/tenants", `{"name":"ops"}`, 409, "invalid_request_error", "already_exists", `tenant "ops"`},
		{"PATCH", "/admin/v1/tenants/ops", `{"policy":{"retention_days":-3}}`, 400, "invalid_request_error", "invalid_value", "retention days -3"},
		{"PATCH", "/admin/v1/tenants/nobody", `{}`, 404, "not_found_error", "not_found", `no tenant "nobody"`},
		{"DELETE", "/admin/v1/tenants/nobody", ``, 404, "not_found_error", "not_found", `no tenant "nobody"`},
		{"GET", "/admin/v1/tenants/nobody/keys", ``, 404, "not_found_error", "not_found", `no tenant "nobody"`},
		{"POST", "/admin/v1/tenants/nobody/keys", `{}`, 404, "not_found_error", "not_found", `no tenant "nobody"`},
		{"POST", "/admin/v1/tenants/ops/keys", `{"scopes":["root"]}`, 400, "invalid_request_error", "invalid_value", `scope "root"`},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires":"2020-01-01T00:00:00Z"}`, 400, "invalid_request_error", "invalid_value", "not in the future"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires_in":-5}`, 400, "invalid_request_error", "invalid_request", "expires_in must be a positive"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires_in":5,"expires":"2030-01-01T00:00:00Z"}`, 400, "invalid_request_error", "invalid_request", "not both"},
		{"DELETE", "/admin/v1/keys/key_nothere", ``, 404, "not_found_error", "not_found", `no key "key_nothere"`},
		{"GET", "/admin/v1/keys/key_nothere", ``, 404, "not_found_error", "not_found", `no key`},
		{"GET", "/admin/v1/nothing", ``, 404, "not_found_error", "not_found", "no admin route GET /admin/v1/nothing"},
		{"GET", "/admin/v1/tenants/ops/keys/extra", ``, 404, "not_found_error", "not_found", "no admin route"},
		{"PUT", "/admin/v1/tenants", `{}`, 405, "invalid_request_error", "method_not_allowed", "allowed: GET, POST"},
		{"POST", "/admin/v1/keys/key_x", `{}`, 405, "invalid_request_error", "method_not_allowed", "allowed: GET, DELETE"},
	}
	for _, tc := range tests {
		f.wantError(t, admin, tc.method, tc.path, tc.body, tc.status, tc.typ, tc.code, tc.msg)
	}
	_, hdr := f.do(t, admin, "PUT", "/admin/v1/tenants/ops", `{}`, nil)
	if got := hdr.Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q; want GET, PATCH, DELETE", got)
	}
	f.wantUnchanged(t, "failed")
}

// An admin key of one tenant revoked through the API stops working for
// the very next admin request.
func TestRevokeOwnAdminKey(t *testing.T) {
	f := newFixture(t)
	admin, k := f.key(t, "ops", tenant.ScopeAdmin)
	if status, _ := f.do(t, admin, "DELETE", "/admin/v1/keys/"+k.ID, "", nil); status != 200 {
		t.Fatalf("revoke own key: %d", status)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/admin/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("revoked admin key: status %d; want 401", resp.StatusCode)
	}
}
