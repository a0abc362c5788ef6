package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/tenant"
)

// caller returns a function that sends a JSON request to the node at url
// with key and returns the status, the headers and the body.
func caller(t *testing.T, url, key string) func(method, path, body string) (int, http.Header, string) {
	return func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
}

// rolloutNode is a node of cfg running its gate loop every 20ms, not yet
// started, with tenant acme and an inference and admin key of its; base
// is stories260K as the registry names it.
func rolloutNode(t *testing.T, cfg node.Config) (n *node.Node, acme tenant.Tenant, key string, base registry.Base) {
	t.Helper()
	cfg.RolloutInterval = 20 * time.Millisecond
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() { n.Shutdown(ctx) })
	if acme, err = n.Tenants().CreateTenant(ctx, tenant.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if key, _, err = n.Tenants().CreateKey(ctx, "acme", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference, tenant.ScopeAdmin}}); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(stories)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	return n, acme, key, registry.Base{Name: "stories260K", Digest: hex.EncodeToString(sum[:])}
}

// TestRolloutWiring: the node opens the rollouts, serves them under
// /admin/v1/rollouts (bad input refused with a 4xx and nothing changed),
// runs their gate loop, and a request for the deployment's name is served
// by its arm's version, with the rollout header, and counted for its arm.
func TestRolloutWiring(t *testing.T) {
	cfg := config(t, t.TempDir())
	n, acme, key, base := rolloutNode(t, cfg)
	ctx := context.Background()
	if _, err := n.Tenants().CreateTenant(ctx, tenant.Tenant{Name: "other", Policy: tenant.Policy{AllowedModels: []string{"llama"}}}); err != nil {
		t.Fatal(err)
	}
	lora, err := os.ReadFile(testfixture.AdapterFor(t, stories, 1, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flywheel().Adapters.Create(ctx, acme, "support", registry.Meta{Base: base}, lora); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flywheel().Adapters.Create(ctx, acme, "alien", registry.Meta{Base: registry.Base{Name: "stories260K",
		Digest: strings.Repeat("cd", 32)}}, testfixture.AdapterFile(t, "llama", 1)); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + cfg.Listener.Addr().String()
	do := caller(t, url, key)
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"tenant":"acme","model":"stories260K","candidate":"stories260K:nope"}`, 404, `no adapter`},
		{`{"tenant":"acme","model":"stories260K","candidate":"stories260K:alien"}`, 400, `base_mismatch`},
		{`{"tenant":"other","model":"stories260K","candidate":"stories260K:support"}`, 403, `may not use model`},
		{`{"tenant":"acme","model":"stories260K","candidate":"stories260K:support","share":101}`, 400, `share 101`},
		{`{"tenant":"acme","model":"stories260K","candidate":"stories260K:support","gates":{"steps":[50]}}`, 400, `gates.steps`},
		{`{"tenant":"acme","model":"stories260K","candidate":"stories260K:support","gates":{"stepz":[50]}}`, 400, `stepz`},
		{`{"tenant":"nobody","model":"stories260K","candidate":"stories260K:support"}`, 404, `nobody`},
	} {
		if status, _, body := do("POST", "/admin/v1/rollouts", tc.body); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.body, status, body, tc.status, tc.want)
		}
	}
	if _, _, body := do("GET", "/admin/v1/rollouts", ""); !strings.Contains(body, `"data":[]`) {
		t.Fatalf("refused starts left rollouts: %s", body)
	}
	// The eval gate skipped: the adapter was trained on no dataset (the
	// eval gate's real run is the command line's test).
	status, _, body := do("POST", "/admin/v1/rollouts",
		`{"tenant":"acme","model":"stories260K","candidate":"stories260K:support","gates":{"skip_eval":true,"step_sample":100000}}`)
	if status != 201 {
		t.Fatalf("start: %d %s", status, body)
	}
	var r rollout.Rollout
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Candidate != "stories260K:support@1" || r.Gates.MinRequests != 50 {
		t.Fatalf("%v %s", err, body)
	}
	if status, _, body := do("POST", "/admin/v1/rollouts", `{"tenant":"acme","model":"stories260k","candidate":"stories260K:support"}`); status != 409 {
		t.Fatalf("a second rollout: %d %s", status, body)
	}
	testfixture.WaitFor(t, "the gate loop to take the rollout live", func() bool {
		got, err := n.Rollouts().Get(ctx, r.ID)
		return err == nil && got.State == rollout.StateLive
	})
	// A user of each arm: the request for the deployment's name runs on
	// the arm's version, says so, and is counted for the arm.
	var stableUser, candUser string
	for i := 0; stableUser == "" || candUser == ""; i++ {
		u := fmt.Sprint("user-", i)
		if rollout.Bucket(r.ID, "user\x00"+u) < 10 {
			candUser = u
		} else {
			stableUser = u
		}
	}
	for _, tc := range []struct{ user, arm, model string }{{stableUser, "stable", "stories260K"}, {candUser, "candidate", "stories260K:support@1"}} {
		status, hdr, body := do("POST", "/v1/chat/completions",
			`{"model":"stories260K","user":"`+tc.user+`","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 || hdr.Get("X-Hearth-Rollout") != r.ID+" "+tc.arm || !strings.EqualFold(hdr.Get("X-Hearth-Model"), tc.model) {
			t.Fatalf("%s: %d %q %q %s", tc.arm, status, hdr.Get("X-Hearth-Rollout"), hdr.Get("X-Hearth-Model"), body)
		}
	}
	testfixture.WaitFor(t, "the requests to be counted for their arms", func() bool {
		_, checks, err := n.Rollouts().Status(ctx, r.ID)
		return err == nil && len(checks) == 4 && checks[2].StableN == 1 && checks[2].CandidateN == 1 // error_rate's samples
	})
	if status, _, body := do("POST", "/admin/v1/rollouts/"+r.ID+"/promote", `{"share":101}`); status != 400 {
		t.Fatalf("promote to 101: %d %s", status, body)
	}
	if status, _, body := do("POST", "/admin/v1/rollouts/"+r.ID+"/rollback", `{"reason":"enough"}`); status != 200 || !strings.Contains(body, `"rolled_back"`) {
		t.Fatalf("rollback: %d %s", status, body)
	}
	_, _, body = do("GET", "/admin/v1/rollouts/"+r.ID+"/history", "")
	for _, want := range []string{`"action":"start"`, `"action":"share"`, `"action":"rollback"`, `"actor":"key:`} {
		if !strings.Contains(body, want) {
			t.Errorf("history has no %s: %s", want, body)
		}
	}
	if status, hdr, _ := do("POST", "/v1/chat/completions", `{"model":"stories260K","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`); status != 200 ||
		hdr.Get("X-Hearth-Rollout") != "" {
		t.Fatalf("after the rollback: %d %q", status, hdr.Get("X-Hearth-Rollout"))
	}
}
