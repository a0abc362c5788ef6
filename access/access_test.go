package access_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// node is an API server with the whole access stack, on httptest.
type node struct {
	url     string
	tenants *tenant.Store
	meter   *metering.Meter
	audit   *audit.Log
	id      *identity.Identity
	dir     string
	clock   *testclock.Clock
	env     *testfixture.Env // the stores above
	srv     *testfixture.Server
}

func newNode(t *testing.T, jurisdiction string, allowLocal bool) *node {
	t.Helper()
	n := &node{clock: testclock.New(time.Now())}
	n.env = testfixture.NewEnv(t, n.clock.Now)
	n.dir, n.tenants, n.meter, n.id, n.audit = n.env.Dir, n.env.Tenants, n.env.Meter, n.env.ID, n.env.Audit
	other := filepath.Join(n.dir, "other.gguf")
	if err := synth.Write(other, synth.Spec{}); err != nil {
		t.Fatal(err)
	}
	run, err := runner.New(runner.Config{Files: []string{stories, other}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Shutdown(context.Background()) })
	gate, err := access.New(access.Config{Tenants: n.tenants, Meter: n.meter, Audit: n.audit, Node: n.id.ID,
		Jurisdiction: jurisdiction, AllowLocal: allowLocal, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Backend: run, Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", gate.Admin(admin.New(admin.Config{Tenants: n.tenants, OnAction: gate.AdminAction})))
	mux.Handle("/", srv)
	n.srv = testfixture.NewServer(t, mux)
	n.url = n.srv.URL
	return n
}

func (n *node) tenant(t *testing.T, name string, pol tenant.Policy, lim tenant.Limits, scopes ...tenant.Scope) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []tenant.Scope{tenant.ScopeInference}
	}
	secret, _ := n.env.Tenant(t, tenant.Tenant{Name: name, Policy: pol, Limits: lim}, tenant.KeyOptions{Scopes: scopes})
	return secret
}

type reply struct {
	status     int
	retryAfter string
	body       map[string]any
	completion int
}

func (n *node) do(t *testing.T, method, path, key, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	json.Unmarshal(b, &r.body)
	if u, ok := r.body["usage"].(map[string]any); ok {
		r.completion = int(u["completion_tokens"].(float64))
	}
	n.srv.Wait() // metering and audit are done by the time the handler returns
	return r
}

func chat(model string, maxTokens int) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"temperature":0,"messages":[{"role":"user","content":"Tell me a story"}]}`, model, maxTokens)
}

func errCode(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestTenantIsolation(t *testing.T) {
	n := newNode(t, "KE", true)
	a := n.tenant(t, "alpha", tenant.Policy{AllowedModels: []string{"stories260k"}}, tenant.Limits{})
	b := n.tenant(t, "beta", tenant.Policy{AllowedModels: []string{"other"}}, tenant.Limits{})

	if r := n.do(t, "POST", "/v1/chat/completions", a, chat("stories260k", 5)); r.status != 200 || r.completion != 5 {
		t.Fatalf("alpha on its model: %d %v", r.status, r.body)
	}
	// beta may not use alpha's model, and does not see it listed.
	if r := n.do(t, "POST", "/v1/chat/completions", b, chat("stories260k", 5)); r.status != 403 {
		t.Errorf("beta on alpha's model: %d %v", r.status, r.body)
	}
	r := n.do(t, "GET", "/v1/models", b, "")
	if data, _ := r.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != "other" {
		t.Errorf("beta's model list: %v", r.body)
	}
	// Ollama's endpoints apply the same policy.
	if r := n.do(t, "POST", "/api/generate", b, `{"model":"stories260k","prompt":"hi","stream":false}`); r.status != 403 {
		t.Errorf("beta through /api/generate: %d %v", r.status, r.body)
	}
	// No key, a malformed key, a made-up key: 401, in the API's shape.
	for _, key := range []string{"", "not-a-key", "hk_" + strings.Repeat("a", 52)} {
		r := n.do(t, "POST", "/v1/chat/completions", key, chat("stories260k", 5))
		if r.status != 401 || errCode(r) != "invalid_api_key" {
			t.Errorf("key %q: %d %v", key, r.status, r.body)
		}
	}
}

func TestRevokedAndExpiredKeys(t *testing.T) {
	n := newNode(t, "", true)
	n.tenant(t, "alpha", tenant.Policy{}, tenant.Limits{})
	ctx := context.Background()
	secret, k, err := n.tenants.CreateKey(ctx, "alpha", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}, Expires: n.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if r := n.do(t, "POST", "/v1/chat/completions", secret, chat("stories260k", 2)); r.status != 200 {
		t.Fatalf("fresh key: %d %v", r.status, r.body)
	}
	n.clock.Add(2 * time.Hour)
	if r := n.do(t, "POST", "/v1/chat/completions", secret, chat("stories260k", 2)); r.status != 401 {
		t.Errorf("expired key: %d %v", r.status, r.body)
	}
	secret2, k2, _ := n.tenants.CreateKey(ctx, "alpha", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	if r := n.do(t, "POST", "/v1/chat/completions", secret2, chat("stories260k", 2)); r.status != 200 {
		t.Fatalf("second key: %d", r.status)
	}
	if _, err := n.tenants.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	if r := n.do(t, "POST", "/v1/chat/completions", secret2, chat("stories260k", 2)); r.status != 401 {
		t.Errorf("revoked key, the very next request: %d %v", r.status, r.body)
	}
	_ = k
	// A key without the inference scope is refused.
	s3, _, _ := n.tenants.CreateKey(ctx, "alpha", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeFeedback}})
	if r := n.do(t, "POST", "/v1/chat/completions", s3, chat("stories260k", 2)); r.status != 403 {
		t.Errorf("feedback-only key: %d %v", r.status, r.body)
	}
}

func TestLocalModeEndsWithFirstTenant(t *testing.T) {
	n := newNode(t, "", true)
	if r := n.do(t, "POST", "/v1/chat/completions", "", chat("stories260k", 2)); r.status != 200 {
		t.Fatalf("local mode: %d %v", r.status, r.body)
	}
	// The local operator creates the first tenant over the admin API.
	r := n.do(t, "POST", "/admin/v1/tenants", "", `{"name":"alpha"}`)
	if r.status != 201 && r.status != 200 {
		t.Fatalf("create tenant in local mode: %d %v", r.status, r.body)
	}
	n.clock.Add(2 * time.Second) // past the cached "no tenants" answer
	if r := n.do(t, "POST", "/v1/chat/completions", "", chat("stories260k", 2)); r.status != 401 {
		t.Errorf("after the first tenant, no key: %d", r.status)
	}
	if r := n.do(t, "GET", "/admin/v1/tenants", "", ""); r.status != 401 {
		t.Errorf("admin without a key after the first tenant: %d", r.status)
	}
	// A node that may not run locally refuses keyless requests from the start.
	n2 := newNode(t, "", false)
	if r := n2.do(t, "POST", "/v1/chat/completions", "", chat("stories260k", 2)); r.status != 401 {
		t.Errorf("AllowLocal false, no tenants, no key: %d", r.status)
	}
}

func TestJurisdictionFailsClosed(t *testing.T) {
	n := newNode(t, "NG", true)
	ke := n.tenant(t, "kenya-health", tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"}, tenant.Limits{})
	r := n.do(t, "POST", "/v1/chat/completions", ke, chat("stories260k", 2))
	if r.status != 403 || !strings.Contains(fmt.Sprint(r.body), "KE") {
		t.Errorf("KE-only tenant on an NG node: %d %v", r.status, r.body)
	}
	ng := n.tenant(t, "nigeria", tenant.Policy{Jurisdictions: []string{"NG", "GH"}, Home: "NG"}, tenant.Limits{})
	if r := n.do(t, "POST", "/v1/chat/completions", ng, chat("stories260k", 2)); r.status != 200 {
		t.Errorf("NG tenant on an NG node: %d %v", r.status, r.body)
	}
}

func TestRateLimit(t *testing.T) {
	n := newNode(t, "", true)
	key := n.tenant(t, "alpha", tenant.Policy{}, tenant.Limits{RequestsPerMinute: 3})
	for i := 0; i < 3; i++ {
		if r := n.do(t, "POST", "/v1/chat/completions", key, chat("stories260k", 2)); r.status != 200 {
			t.Fatalf("request %d: %d %v", i, r.status, r.body)
		}
	}
	r := n.do(t, "POST", "/v1/chat/completions", key, chat("stories260k", 2))
	if r.status != 429 || r.retryAfter == "" || errCode(r) != "rate_limit_exceeded" {
		t.Errorf("4th request in a minute: %d Retry-After %q %v", r.status, r.retryAfter, r.body)
	}
	n.clock.Add(61 * time.Second)
	if r := n.do(t, "POST", "/v1/chat/completions", key, chat("stories260k", 2)); r.status != 200 {
		t.Errorf("a minute later: %d", r.status)
	}
}

// TestLimitsUnderLoad sends many concurrent requests against a tokens per
// minute limit and a monthly quota and checks that what was admitted never
// passes a limit by more than one request's tokens, and that the usage the
// meter recorded equals what the responses reported.
func TestLimitsUnderLoad(t *testing.T) {
	n := newNode(t, "", true)
	const perReq = 30 // max_tokens; the prompt adds its tokens to the reservation
	key := n.tenant(t, "alpha", tenant.Policy{}, tenant.Limits{TokensPerMinute: 2000})
	alpha, err := n.tenants.GetTenant(context.Background(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	var ok, limited atomic.Int64
	var reported atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := n.do(t, "POST", "/v1/chat/completions", key, chat("stories260k", perReq))
			switch r.status {
			case 200:
				ok.Add(1)
				u := r.body["usage"].(map[string]any)
				reported.Add(int64(u["total_tokens"].(float64)))
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d %v", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if limited.Load() == 0 {
		t.Fatalf("no request was limited (%d served): the test does not exercise the limit", ok.Load())
	}
	// The gate meters a request just after its response is delivered:
	// give the last ones a moment.
	var recorded, requests int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rows, err := n.meter.Query(context.Background(), metering.Query{Tenant: alpha.ID})
		if err != nil {
			t.Fatal(err)
		}
		recorded, requests = 0, 0
		for _, row := range rows {
			recorded += row.Tokens()
			requests += row.Requests
		}
		if requests == ok.Load() || time.Now().After(deadline) {
			break
		}
	}
	if recorded != reported.Load() || requests != ok.Load() {
		t.Errorf("meter recorded %d tokens in %d requests; responses reported %d in %d", recorded, requests, reported.Load(), ok.Load())
	}
	// The prompt is ~45 tokens: one request reserves under 100.
	if recorded > 2000+100 {
		t.Errorf("%d tokens admitted in a minute against a limit of 2000", recorded)
	}
	t.Logf("%d served (%d tokens), %d limited", ok.Load(), recorded, limited.Load())
}

// TestAuditTrail checks that every decision, allowed or denied, and every
// admin action lands in the audit log with hashes but never text, and that
// the log verifies.
func TestAuditTrail(t *testing.T) {
	n := newNode(t, "KE", true)
	a := n.tenant(t, "alpha", tenant.Policy{AllowedModels: []string{"stories260k"}}, tenant.Limits{RequestsPerMinute: 1})
	n.do(t, "POST", "/v1/chat/completions", a, chat("stories260k", 4)) // served
	n.do(t, "POST", "/v1/chat/completions", a, chat("stories260k", 4)) // rate limited
	n.do(t, "POST", "/v1/chat/completions", a, chat("other", 4))       // model not allowed
	adminKey, _, _ := n.tenants.CreateKey(context.Background(), "alpha", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeAdmin}})
	if r := n.do(t, "POST", "/admin/v1/tenants", adminKey, `{"name":"gamma"}`); r.status != 201 && r.status != 200 {
		t.Fatalf("admin create: %d %v", r.status, r.body)
	}
	// The served request's record follows its response: wait for all four.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if seq, _ := n.audit.Head(); seq >= 4 || time.Now().After(deadline) {
			break
		}
	}
	if err := n.audit.Close(); err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	dir := filepath.Join(n.dir, "audit")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".jsonl") && !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		f, _ := os.Open(filepath.Join(dir, e.Name()))
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r audit.Record
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Kind != "" {
				recs = append(recs, r)
			}
		}
		f.Close()
	}
	var served, denied, admins int
	for _, r := range recs {
		switch {
		case r.Kind == audit.KindRequest && r.Decision == "allow":
			served++
			if r.Tenant != "alpha" || r.Model != "stories260k" || r.CompletionTokens != 4 || len(r.PromptHash) != 64 || len(r.OutputHash) != 64 || r.ResponseID == "" || r.Node != n.id.ID || r.Jurisdiction != "KE" {
				t.Errorf("served record: %+v", r)
			}
		case r.Kind == audit.KindRequest && r.Decision == "deny":
			denied++
		case r.Kind == audit.KindAdmin:
			admins++
		}
	}
	if served != 1 || denied != 2 || admins != 1 {
		t.Errorf("audit: %d served, %d denied, %d admin records; want 1, 2, 1 (%d records in all)", served, denied, admins, len(recs))
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ents[0].Name()))
	if strings.Contains(string(raw), "Tell me a story") {
		t.Error("the audit log holds prompt text")
	}
	rep, err := audit.Verify(dir, n.id.Public, 0)
	if err != nil || rep.Problem != nil {
		t.Errorf("verify: %v %+v", err, rep)
	}
}
