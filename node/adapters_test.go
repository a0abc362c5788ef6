package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// call sends a JSON request with a key and returns the status, the
// ModelHeader and the body.
func call(t *testing.T, key, method, url, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(api.ModelHeader), string(b)
}

func chatBody(model string, stream bool) string {
	b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "max_tokens": 8,
		"messages": []map[string]string{{"role": "user", "content": "Lily"}}})
	return string(b)
}

// TestServeTenantAdapters: over HTTP with API keys, a tenant is served
// its own registry adapters by name, under the resolved version, which
// the response header and the audit record name; another tenant's, a
// retired one and one for another base are refused with a 404 or a 400
// naming it; model lists show each tenant its own; only an admin key
// publishes adapters (vLLM's endpoints), which every tenant may then use.
func TestServeTenantAdapters(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n, err := New(Config{DataDir: dir, Listener: ln, Runner: runner.Config{Files: []string{stories}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	ctx := context.Background()
	key := func(name string, pol tenant.Policy, scopes ...tenant.Scope) (tenant.Tenant, string) {
		t.Helper()
		tn, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: name, Policy: pol})
		if err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
		if err != nil {
			tn, _ = n.tenants.GetTenant(ctx, name)
		}
		secret, _, err := n.tenants.CreateKey(ctx, name, tenant.KeyOptions{Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tn, secret
	}
	acme, acmeKey := key("acme", tenant.Policy{AllowedModels: []string{"stories260k"}})
	_, adminKey := key("acme", tenant.Policy{}, tenant.ScopeInference, tenant.ScopeAdmin)
	_, otherKey := key("other", tenant.Policy{})
	_, narrowKey := key("narrow", tenant.Policy{AllowedModels: []string{"tiny"}})

	base, err := registry.BaseOf("stories260k", stories)
	if err != nil {
		t.Fatal(err)
	}
	file := func(seed uint64) []byte {
		b, err := os.ReadFile(testfixture.AdapterFor(t, stories, seed, 4))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		base registry.Base
	}{
		{"support", base},
		{"elsewhere", registry.Base{Name: "big", Digest: strings.Repeat("ab", 32), Arch: "llama"}},
		{"old", base},
	} {
		if _, err := n.fw.Adapters.Create(ctx, acme, c.name, registry.Meta{Base: c.base}, file(7)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.fw.Adapters.Retire(ctx, acme.ID, "old", 1); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	chat := url + "/v1/chat/completions"

	for _, stream := range []bool{false, true} {
		code, served, body := call(t, acmeKey, "POST", chat, chatBody("stories260k:support", stream))
		if code != 200 || served != "stories260k:support@1" {
			t.Errorf("acme's adapter (stream %v): %d %q %s", stream, code, served, body)
		}
	}
	if code, served, body := call(t, acmeKey, "POST", url+"/api/chat", chatBody("stories260k:support@1", false)); code != 200 || served != "stories260k:support@1" {
		t.Errorf("acme's adapter on Ollama's API: %d %q %s", code, served, body)
	}
	if code, served, _ := call(t, acmeKey, "POST", chat, chatBody("stories260k", false)); code != 200 || served != "stories260k" {
		t.Errorf("the base: %d %q", code, served)
	}
	for _, c := range []struct {
		key, model string
		code       int
		says       string
	}{
		{otherKey, "stories260k:support", 404, "model_not_found"},
		{acmeKey, "stories260k:old", 404, "model_not_found"},
		{acmeKey, "stories260k:old@1", 404, "model_not_found"},
		{acmeKey, "stories260k:nope", 404, "model_not_found"},
		{acmeKey, "stories260k:elsewhere", 400, "elsewhere@1"},
		{narrowKey, "stories260k:support", 403, "stories260k"},
		{otherKey, strings.Repeat(":", 250), 404, "model_not_found"},
		{otherKey, "stories260k:" + strings.Repeat("@", 200), 404, "model_not_found"},
		{acmeKey, strings.Repeat(":", 250), 403, "may not use"},
	} {
		if code, _, body := call(t, c.key, "POST", chat, chatBody(c.model, false)); code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%.40s: %d %s, want %d naming %q", c.model, code, body, c.code, c.says)
		}
	}

	lists := func(key string) string {
		_, _, models := call(t, key, "GET", url+"/v1/models", "")
		_, _, tags := call(t, key, "GET", url+"/api/tags", "")
		return models + tags
	}
	if l := lists(acmeKey); !strings.Contains(l, `"id":"stories260k:support@1","object":"model","created"`) ||
		!strings.Contains(l, `"parent":"stories260k"`) || !strings.Contains(l, `"parent_model":"stories260k"`) || strings.Contains(l, "old@1") {
		t.Errorf("acme's lists: %s", l)
	}
	if l := lists(otherKey); strings.Contains(l, "support") {
		t.Errorf("another tenant's lists: %s", l)
	}

	// vLLM's endpoints: an admin's, for every tenant.
	path := testfixture.AdapterFor(t, stories, 8, 4)
	load := `{"lora_name":"shared","lora_path":"` + path + `"}`
	if code, _, body := call(t, acmeKey, "POST", url+"/v1/load_lora_adapter", load); code != 403 {
		t.Errorf("loading with an inference key: %d %s", code, body)
	}
	for _, bad := range []string{`{"lora_name":"x","lora_path":"/etc/passwd"}`, `{"lora_name":"x","lora_path":"` + stories + `"}`, `{"lora_name":"a:b","lora_path":"` + path + `"}`, `{"lora_name":"x"}`} {
		if code, _, body := call(t, adminKey, "POST", url+"/v1/load_lora_adapter", bad); code != 400 {
			t.Errorf("loading %s: %d %s", bad, code, body)
		}
	}
	if code, _, body := call(t, adminKey, "POST", url+"/v1/load_lora_adapter", load); code != 200 || !strings.Contains(body, "Success") {
		t.Fatalf("loading: %d %s", code, body)
	}
	for _, model := range []string{"shared", "stories260k:shared"} {
		if code, served, body := call(t, otherKey, "POST", chat, chatBody(model, false)); code != 200 || served != "stories260k:shared" {
			t.Errorf("a published adapter as %q: %d %q %s", model, code, served, body)
		}
	}
	if code, _, body := call(t, otherKey, "GET", url+"/lora-adapters", ""); code != 200 || body != "[]\n" && body != "[]" {
		t.Errorf("/lora-adapters: %d %q", code, body)
	}
	if code, _, _ := call(t, otherKey, "POST", url+"/lora-adapters", `[{"id":0,"scale":1}]`); code != 403 {
		t.Errorf("setting scales with an inference key: %d", code)
	}
	if code, _, body := call(t, adminKey, "POST", url+"/lora-adapters", `[{"id":0,"scale":1}]`); code != 400 || !strings.Contains(body, "id 0") {
		t.Errorf("setting the scale of no adapter: %d %s", code, body)
	}
	if code, _, body := call(t, adminKey, "POST", url+"/v1/unload_lora_adapter", `{"lora_name":"shared"}`); code != 200 {
		t.Errorf("unloading: %d %s", code, body)
	}
	if code, _, _ := call(t, otherKey, "POST", chat, chatBody("shared", false)); code != 404 {
		t.Errorf("an unloaded adapter: %d", code)
	}

	// When the node drops a fleet copy, the runner unloads it by the
	// version's key, which has the registry's form: here acme's support@1,
	// loaded since it served.
	drop := dropCopy(n.run, n.log)
	for _, c := range []struct {
		tenant string
		name   string
		ver    int
		loaded bool
	}{
		{acme.ID, "support", 10, true}, // support@1 is not support@10's prefix
		{"other", "support", 1, true},
		{acme.ID, "support", 1, false},
	} {
		drop(c.tenant, c.name, c.ver)
		if got := slices.Contains(n.run.LoadedAdapters(), "stories260k:support@1"); got != c.loaded {
			t.Errorf("after dropping %s's %s@%d: support@1 loaded %v, want %v", c.tenant, c.name, c.ver, got, c.loaded)
		}
	}
	if code, served, body := call(t, acmeKey, "POST", chat, chatBody("stories260k:support", false)); code != 200 || served != "stories260k:support@1" {
		t.Errorf("acme's adapter after its set was dropped: %d %q %s", code, served, body)
	}
	if code, _, _ := call(t, adminKey, "POST", url+"/v1/unload_lora_adapter", `{"lora_name":"shared"}`); code != 404 {
		t.Errorf("unloading twice: %d", code)
	}

	// The audit record names the served version.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var b bytes.Buffer
		if _, err := audit.Export(filepath.Join(dir, "audit"), &b, 0, 0); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), `"model":"stories260k:support@1"`) && strings.Contains(b.String(), `"reason":"lora.load"`) &&
			strings.Contains(b.String(), `"reason":"lora.unload"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record names stories260k:support@1, or the adapter's load and unload:\n%s", b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPublishedBesideOwnAdapters: an adapter the operator published
// (--lora) under a name a tenant's registry holds gives way, for that
// tenant, to its own, while a tenant without one is served the published
// file; GET /lora-adapters shows the file's path to an admin key only;
// Ollama's /api/show describes BASE:ADAPTER as /api/chat serves it.
func TestPublishedBesideOwnAdapters(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// The operator's path names a tenant, as a fine-tune's output does.
	pub := filepath.Join(dir, "finetune", "tnt_secret", "support.gguf")
	if err := os.MkdirAll(filepath.Dir(pub), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testfixture.AdapterFor(t, stories, 8, 4))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{DataDir: filepath.Join(dir, "node"), Listener: ln,
		Runner: runner.Config{Files: []string{stories}, LoRA: []runner.LoRAFile{{Path: pub, Scale: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	ctx := context.Background()
	acme, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	newKey := func(name string, scopes ...tenant.Scope) string {
		secret, _, err := n.tenants.CreateKey(ctx, name, tenant.KeyOptions{Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	acmeKey, otherKey, adminKey := newKey("acme"), newKey("other"), newKey("other", tenant.ScopeInference, tenant.ScopeAdmin)
	base, err := registry.BaseOf("stories260k", stories)
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(testfixture.AdapterFor(t, stories, 7, 4))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"support", "faq"} {
		if _, err := n.fw.Adapters.Create(ctx, acme, name, registry.Meta{Base: base}, own); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()

	for _, c := range []struct {
		key, model, served string
	}{
		{acmeKey, "stories260k:support", "stories260k:support@1"},
		{acmeKey, "stories260k:support@1", "stories260k:support@1"},
		{otherKey, "stories260k:support", "stories260k:support"}, // no registry adapter of the name: the published one
	} {
		if code, served, body := call(t, c.key, "POST", url+"/v1/chat/completions", chatBody(c.model, false)); code != 200 || served != c.served {
			t.Errorf("%s: %d served by %q, want %q: %s", c.model, code, served, c.served, body)
		}
	}
	_, _, acmeList := call(t, acmeKey, "GET", url+"/v1/models", "")
	if strings.Contains(acmeList, `"stories260k:support"`) || !strings.Contains(acmeList, `"stories260k:support@1"`) {
		t.Errorf("acme's list offers the published support, which it cannot reach: %s", acmeList)
	}
	if _, _, l := call(t, otherKey, "GET", url+"/v1/models", ""); !strings.Contains(l, `"stories260k:support"`) {
		t.Errorf("other's list lacks the published support: %s", l)
	}

	for _, c := range []struct {
		key, path string
	}{
		{otherKey, "support.gguf"},
		{acmeKey, "support.gguf"},
		{adminKey, pub},
	} {
		code, _, body := call(t, c.key, "GET", url+"/lora-adapters", "")
		var got []api.LoRAAdapter
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || len(got) != 1 || got[0].Path != c.path || got[0].ID != 0 || got[0].Scale != 1 {
			t.Errorf("/lora-adapters: %d %s, want the path %q", code, body, c.path)
		}
	}

	show := func(key, model string) (int, map[string]any) {
		t.Helper()
		code, _, body := call(t, key, "POST", url+"/api/show", `{"model":"`+model+`"}`)
		var out map[string]any
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("%s: %v: %s", model, err, body)
			}
		}
		return code, out
	}
	for _, c := range []struct {
		key, model, adapter string
	}{
		{acmeKey, "stories260k:support", "support@1"},
		{acmeKey, "stories260k:support@1", "support@1"},
		{acmeKey, "stories260k:faq", "faq@1"}, // listed only as faq@1
		{otherKey, "stories260k:support", "support"},
	} {
		code, out := show(c.key, c.model)
		details, _ := out["details"].(map[string]any)
		info, _ := out["model_info"].(map[string]any)
		mf, _ := out["modelfile"].(string)
		if code != 200 || details["parent_model"] != "stories260k" || info["adapter.name"] != c.adapter || info["general.architecture"] != "llama" ||
			!strings.Contains(mf, "FROM stories260k\nADAPTER "+c.adapter+"\n") {
			t.Errorf("/api/show %s: %d %v", c.model, code, out)
		}
	}
	for _, c := range []struct {
		key, model string
		code       int
	}{
		{otherKey, "stories260k:support@1", 404}, // acme's
		{acmeKey, "stories260k:nope", 404},
		{acmeKey, "stories260k", 200},
	} {
		if code, out := show(c.key, c.model); code != c.code {
			t.Errorf("/api/show %s: %d %v, want %d", c.model, code, out, c.code)
		}
	}
	for _, m := range []string{"support", "faq"} {
		if code, _, body := call(t, acmeKey, "GET", url+"/v1/models/stories260k:"+m, ""); code != 200 || !strings.Contains(body, `"id":"stories260k:`+m+`@1"`) {
			t.Errorf("/v1/models/stories260k:%s: %d %s", m, code, body)
		}
	}
}
