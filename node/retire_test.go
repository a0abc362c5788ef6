package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestRetiredDeployment: a deployment whose stable adapter is retired
// falls back to its base, and a rollout whose candidate is deleted rolls
// back at once: the next request for the deployment's name is served by
// the base with 200, and the history and the audit log say why.
func TestRetiredDeployment(t *testing.T) {
	dir := t.TempDir()
	cfg := config(t, dir)
	n, acme, key, base := rolloutNode(t, cfg)
	ctx := context.Background()
	meta := registry.Meta{Base: base}
	for seed := range 2 {
		lora, err := os.ReadFile(testfixture.AdapterFor(t, stories, uint64(seed+1), 4))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Flywheel().Adapters.Create(ctx, acme, "support", meta, lora); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + cfg.Listener.Addr().String()
	call := caller(t, url, key)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		status, _, b := call(method, path, body)
		return status, b
	}
	// served asks for the deployment and returns the served model.
	served := func(what string) string {
		t.Helper()
		status, hdr, body := call("POST", "/v1/chat/completions",
			`{"model":"stories260K","user":"u1","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 {
			t.Fatalf("%s: %d %s", what, status, body)
		}
		return strings.ToLower(hdr.Get("X-Hearth-Model"))
	}
	start := func(cand string) rollout.Rollout {
		t.Helper()
		status, body := do("POST", "/admin/v1/rollouts", `{"tenant":"acme","model":"stories260K","candidate":"`+cand+
			`","gates":{"skip_eval":true,"steps":[100],"step_sample":100000}}`)
		var r rollout.Rollout
		if status != 201 || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("start %s: %d %s", cand, status, body)
		}
		return r
	}

	live := func(id string) {
		t.Helper()
		testfixture.WaitFor(t, "the gate loop to take the rollout live", func() bool {
			got, err := n.Rollouts().Get(ctx, id)
			return err == nil && got.State == rollout.StateLive
		})
	}
	// support@1 deployed.
	r1 := start("stories260K:support@1")
	live(r1.ID) // else the gate loop's step and the promotion race
	if status, body := do("POST", "/admin/v1/rollouts/"+r1.ID+"/promote", `{"share":100}`); status != 200 {
		t.Fatalf("promote: %d %s", status, body)
	}
	if got := served("deployed"); got != "stories260k:support@1" {
		t.Fatalf("deployed: served %q", got)
	}
	// Retired: the base serves, at once.
	if err := n.Flywheel().Adapters.Retire(ctx, acme.ID, "support", 1); err != nil {
		t.Fatal(err)
	}
	if got := served("after the retirement"); got != "stories260k" {
		t.Fatalf("after the retirement: served %q, want the base", got)
	}
	var list struct{ Data []rollout.Rollout }
	_, body := do("GET", "/admin/v1/rollouts", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 2 {
		t.Fatalf("%v %s", err, body)
	}
	fb := list.Data[0] // newest first
	if fb.State != rollout.StatePromoted || fb.Reason != rollout.ReasonStableRetired || fb.Stable != "stories260K:support@1" ||
		fb.Candidate != "stories260K" {
		t.Fatalf("the fallback: %+v", fb)
	}
	if _, body := do("GET", "/admin/v1/rollouts/"+fb.ID+"/history", ""); !strings.Contains(body, `"action":"stable_retired"`) ||
		!strings.Contains(body, `"retired":"stories260K:support@1"`) {
		t.Fatalf("the fallback's history: %s", body)
	}

	// support@2 rolled out to everyone, then deleted: rolled back at once.
	r2 := start("stories260K:support@2")
	if r2.Stable != "stories260K" {
		t.Fatalf("a rollout after the fallback has stable %s", r2.Stable)
	}
	live(r2.ID)
	if got := served("the candidate"); got != "stories260k:support@2" {
		t.Fatalf("the candidate at 100%%: served %q", got)
	}
	if err := n.Flywheel().Adapters.Delete(ctx, acme.ID, "support", 2); err != nil {
		t.Fatal(err)
	}
	if got := served("after the deletion"); got != "stories260k" {
		t.Fatalf("after the deletion: served %q, want the base", got)
	}
	if got, err := n.Rollouts().Get(ctx, r2.ID); err != nil || got.State != rollout.StateRolledBack || got.Reason != rollout.ReasonCandidateRetired {
		t.Fatalf("the rollout after its candidate's deletion: %+v, %v", got, err)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		var b bytes.Buffer
		if _, err := audit.Export(filepath.Join(dir, "audit"), &b, 0, 0); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), `"reason":"rollout.stable_retired"`) && strings.Contains(b.String(), `"reason":"candidate retired"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log does not say why:\n%s", b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
