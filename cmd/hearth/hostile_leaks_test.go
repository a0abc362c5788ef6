package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
	"github.com/hearth-ai/hearth/tenantdoc"
)

// TestHostileLeaks: what a real node tells a client holding a key, or a
// revoked one, names no server path, key id, time or tenant; the node's
// log keeps the detail. The tenant name "local" cannot be taken.
func TestHostileLeaks(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "acme-confidential")
	good, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme-confidential")
	good = strings.TrimSpace(good)
	out, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme-confidential", "--json")
	var revoked struct {
		Secret string     `json:"secret"`
		Key    tenant.Key `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &revoked); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "keys", "revoke", revoked.Key.ID)
	n := startNode(t, "--data-dir", dir)
	c := loopbackOnly(n)
	do := func(key, path, body string) (int, string) {
		t.Helper()
		status, _, b := keyedRequest(t, c, "POST", n.url+path, key, body, "Content-Type", "application/json")
		return status, b
	}

	// /api/show: the model's name, not its file.
	abs, _ := filepath.Abs(models)
	status, body := do(good, "/api/show", `{"model":"stories260k"}`)
	if status != 200 || !strings.Contains(body, "FROM stories260k") {
		t.Errorf("/api/show: %d %s", status, body)
	}
	for _, s := range []string{abs, "testdata", ".gguf", dir} {
		if strings.Contains(body, s) {
			t.Errorf("/api/show tells a tenant %q: %s", s, body)
		}
	}

	// A revoked key, in both API shapes and on the admin API.
	for _, path := range []string{"/v1/chat/completions", "/api/chat", "/admin/v1/tenants"} {
		status, body := do(revoked.Secret, path, `{"model":"stories260k","messages":[{"role":"user","content":"hi"}]}`)
		if status != 401 || !strings.Contains(body, "API key revoked or expired") {
			t.Errorf("%s with a revoked key: %d %s; want 401 \"API key revoked or expired\"", path, status, body)
		}
		for _, s := range []string{revoked.Key.ID, revoked.Key.Prefix, "acme-confidential", "revoked at", "20"} {
			if strings.Contains(body, s) {
				t.Errorf("%s: the 401 tells the caller %q: %s", path, s, body)
			}
		}
	}
	if status, body := do("hk_"+strings.Repeat("a", 52), "/v1/chat/completions", `{}`); status != 401 || !strings.Contains(body, `"invalid API key"`) {
		t.Errorf("unknown key: %d %s", status, body)
	}
	waitFor(t, func() bool { return strings.Contains(n.stderr.String(), revoked.Key.ID) })
	if log := n.stderr.String(); !strings.Contains(log, "acme-confidential") || !strings.Contains(log, "revoked at") {
		t.Errorf("the node's log lacks the refusal's detail:\n%s", log)
	}
	stopNode(t, n)

	// "local" is reserved: locally and in an operator-signed document.
	if _, _, err := runTenants(t, dir, "tenants", "create", "local"); err == nil || !strings.Contains(err.Error(), `"local" is reserved`) {
		t.Errorf("tenants create local: %v; want a refusal naming the reserved name", err)
	}
	opKey := filepath.Join(t.TempDir(), "operator.key")
	if _, err := fabric.CreateOperatorKey(opKey); err != nil {
		t.Fatal(err)
	}
	priv, err := fabric.LoadOperatorKey(opKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runErr(t, "fleet", "tenant", "sign", "local", "--operator-key", opKey); err == nil || !strings.Contains(err.Error(), `"local" is reserved`) {
		t.Errorf("fleet tenant sign local: %v; want a refusal naming the reserved name", err)
	}
	if _, err := tenantdoc.Sign(priv, tenantdoc.Doc{Tenant: "local"}, time.Now()); err == nil {
		t.Error("tenantdoc.Sign accepted a document for tenant local")
	}
}
