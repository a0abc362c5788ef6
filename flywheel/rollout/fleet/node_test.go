package fleet_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../../../shared/testdata/models/stories260K.gguf"

// member is one in-process node as `hearth serve` builds it, certified
// for its jurisdiction, with tenant acme and an API key of acme's.
type member struct {
	nd   *node.Node
	acme tenant.Tenant
	key  string
	url  string
}

// join starts a node in j joined to the cluster URL join ("" for the
// first); its rollouts tell the fleet only at changes, as interval is
// long.
func join(t *testing.T, op ed25519.PrivateKey, j, join string, pol tenant.Policy) *member {
	t.Helper()
	dir := t.TempDir()
	site := testfixture.Certify(t, op, dir, j)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := fabric.Config{Site: site, ClusterListen: "127.0.0.1:0", HeartbeatInterval: 100 * time.Millisecond}
	if join != "" {
		fc.Join = []string{join}
	}
	route := false // each node serves what it is asked: KE's requests run on KE
	nd, err := node.New(node.Config{DataDir: dir, Listener: ln, Jurisdiction: j, OperatorKey: op.Public().(ed25519.PublicKey),
		Route: &route, ClusterPlain: true, Runner: runner.Config{Files: []string{stories}}, Fabric: fc, Audit: audit.Options{NoSync: true},
		RolloutInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Shutdown(context.Background()) })
	ctx := context.Background()
	m := &member{nd: nd, url: "http://" + ln.Addr().String()}
	if m.acme, err = nd.Tenants().CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	if m.key, _, err = nd.Tenants().CreateKey(ctx, "acme", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference, tenant.ScopeFeedback}}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := nd.Start(sctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// post sends a JSON request with acme's key and returns the status, the
// response's headers and its body.
func (m *member) post(t *testing.T, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", m.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// registerSupport registers an adapter of stories260K as acme's
// "support" in m's registry.
func (m *member) registerSupport(t *testing.T) {
	t.Helper()
	base, err := os.ReadFile(stories)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(base)
	lora, err := os.ReadFile(testfixture.AdapterFor(t, stories, 1, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.nd.Flywheel().Adapters.Create(context.Background(), m.acme, "support", registry.Meta{Base: registry.Base{Name: "stories260K",
		Digest: hex.EncodeToString(sum[:])}}, lora); err != nil {
		t.Fatal(err)
	}
}

func (m *member) chat(t *testing.T, user string) (int, http.Header, string) {
	t.Helper()
	return m.post(t, "/v1/chat/completions", `{"model":"stories260K","user":"`+user+`","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`)
}

// TestRolloutAcrossTheFleet: a tenant at home in NG, permitted in NG and
// KE, rolls an adapter out at NG. KE, told by NG, serves a candidate
// user the candidate and any other user the stable, as NG would, and its
// outcomes and the feedback on its responses count at NG; a rollback at
// NG reaches KE at once, without waiting for the periodic state. A node
// in GH, where the tenant may not run, never learns of the rollout, and
// a start away from home is refused, naming it.
func TestRolloutAcrossTheFleet(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip(err)
	}
	_, op, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := tenant.Policy{Home: "NG", Jurisdictions: []string{"NG", "KE"}, Capture: tenant.CaptureOn, RetentionDays: 30}
	ng := join(t, op, "NG", "", pol)
	ke := join(t, op, "KE", ng.nd.Fabric().ClusterURL(), pol)
	gh := join(t, op, "GH", ng.nd.Fabric().ClusterURL(), pol)
	testfixture.WaitFor(t, "the nodes to certify each other", func() bool {
		for _, a := range []*member{ng, ke, gh} {
			for _, b := range []*member{ng, ke, gh} {
				if p, ok := a.nd.Fabric().Peer(b.nd.ID()); a != b && (!ok || !p.Certified) {
					return false
				}
			}
		}
		return true
	})
	ctx := context.Background()
	ng.registerSupport(t)
	g := rollout.DefaultGates()
	g.SkipEval, g.StepSample = true, 100_000 // stays at its first share
	req := rollout.StartRequest{Tenant: ke.acme, Model: "stories260K", Candidate: "stories260K:support", Share: 50, Gates: &g, Actor: "test"}
	if _, err := ke.nd.Rollouts().Start(ctx, req); !errors.Is(err, rollout.ErrForbidden) || !strings.Contains(err.Error(), "home is NG") {
		t.Fatalf("a start at KE: %v; want it refused, naming the home NG", err)
	}
	req.Tenant = ng.acme
	r, err := ng.nd.Rollouts().Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	testfixture.WaitFor(t, "the rollout to go live at NG", func() bool {
		got, err := ng.nd.Rollouts().Get(ctx, r.ID)
		return err == nil && got.State == rollout.StateLive
	})
	var stableUser, candUser string
	for i := 0; stableUser == "" || candUser == ""; i++ {
		u := fmt.Sprint("user-", i)
		if rollout.ArmOf(r.ID, rollout.StateLive, 50, u, "") == rollout.ArmCandidate {
			candUser = u
		} else {
			stableUser = u
		}
	}
	testfixture.WaitFor(t, "KE to hear of the rollout", func() bool {
		a, ok := ke.nd.RolloutFleet().Pick(ke.acme, "stories260K", candUser, "")
		return ok && a.Arm == rollout.ArmCandidate
	})
	// KE serves each user the arm NG would, and says so.
	ids := map[string]string{}
	for _, tc := range []struct{ user, arm, model string }{{stableUser, "stable", "stories260K"}, {candUser, "candidate", "stories260K:support@1"}} {
		status, hdr, body := ke.chat(t, tc.user)
		if status != 200 || hdr.Get("X-Hearth-Rollout") != r.ID+" "+tc.arm || !strings.EqualFold(hdr.Get("X-Hearth-Model"), tc.model) {
			t.Fatalf("KE, %s user: %d %q %q %s", tc.arm, status, hdr.Get("X-Hearth-Rollout"), hdr.Get("X-Hearth-Model"), body)
		}
		var resp struct{ ID string }
		if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.ID == "" {
			t.Fatalf("KE's answer has no id: %s", body)
		}
		ids[tc.arm] = resp.ID
	}
	testfixture.WaitFor(t, "KE's requests to count at NG", func() bool {
		got, _, err := ng.nd.Rollouts().Status(ctx, r.ID)
		return err == nil && got.StableCounts.Requests == 1 && got.CandidateCounts.Requests == 1
	})
	// Feedback given at KE travels home with the capture, and counts for
	// the arm that served the response on KE.
	testfixture.WaitFor(t, "KE's feedback to be recorded at home", func() bool {
		status, _, _ := ke.post(t, "/v1/feedback", `{"response_id":"`+ids["candidate"]+`","rating":1}`)
		return status == 200
	})
	testfixture.WaitFor(t, "the feedback to count for the candidate at NG", func() bool {
		got, _, err := ng.nd.Rollouts().Status(ctx, r.ID)
		return err == nil && got.CandidateCounts.Feedback == 1 && got.CandidateCounts.Up == 1 && got.StableCounts.Feedback == 0
	})
	// GH, where acme may not run, is told nothing.
	if a, ok := gh.nd.RolloutFleet().Pick(gh.acme, "stories260K", candUser, ""); ok {
		t.Fatalf("GH learnt of the rollout: %+v", a)
	}
	// A rollback at NG: KE serves the candidate's user the stable at once
	// (the periodic state is a minute away).
	if _, err := ng.nd.Rollouts().Rollback(ctx, r.ID, "test", "enough"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, hdr, body := ke.chat(t, candUser)
		if status != 200 {
			t.Fatalf("KE after the rollback: %d %s", status, body)
		}
		if hdr.Get("X-Hearth-Rollout") == "" && strings.EqualFold(hdr.Get("X-Hearth-Model"), "stories260K") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("KE still serves %q (%q) 5s after the rollback", hdr.Get("X-Hearth-Model"), hdr.Get("X-Hearth-Rollout"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a, ok := gh.nd.RolloutFleet().Pick(gh.acme, "stories260K", candUser, ""); ok {
		t.Fatalf("GH learnt of the rollback: %+v", a)
	}
	if n := ke.nd.RolloutFleet().Dropped(); n != 0 {
		t.Errorf("KE dropped %d observations", n)
	}
}

// TestRetiredAcrossTheFleet: a tenant at home in NG deploys an adapter,
// which KE serves from its copy; once NG retires it, NG and KE both
// serve the deployment from the base, with 200s, at once.
func TestRetiredAcrossTheFleet(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip(err)
	}
	_, op, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := tenant.Policy{Home: "NG", Jurisdictions: []string{"NG", "KE"}}
	ng := join(t, op, "NG", "", pol)
	ke := join(t, op, "KE", ng.nd.Fabric().ClusterURL(), pol)
	testfixture.WaitFor(t, "the nodes to certify each other", func() bool {
		p, ok := ng.nd.Fabric().Peer(ke.nd.ID())
		q, ok2 := ke.nd.Fabric().Peer(ng.nd.ID())
		return ok && ok2 && p.Certified && q.Certified
	})
	ctx := context.Background()
	ng.registerSupport(t)
	g := rollout.DefaultGates()
	g.SkipEval = true
	r, err := ng.nd.Rollouts().Start(ctx, rollout.StartRequest{Tenant: ng.acme, Model: "stories260K", Candidate: "stories260K:support",
		Gates: &g, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ng.nd.Rollouts().Promote(ctx, r.ID, 100, "test"); err != nil {
		t.Fatal(err)
	}
	// served waits until m serves the deployment as want, every answer a
	// 200 on the way.
	served := func(m *member, where, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, hdr, body := m.chat(t, "u1")
			if status != 200 {
				t.Fatalf("%s: %d %s", where, status, body)
			}
			if strings.EqualFold(hdr.Get("X-Hearth-Model"), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves %q, not %s", where, hdr.Get("X-Hearth-Model"), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	served(ng, "NG, deployed", "stories260K:support@1")
	served(ke, "KE, deployed", "stories260K:support@1")
	if err := ng.nd.Flywheel().Adapters.Retire(ctx, ng.acme.ID, "support", 1); err != nil {
		t.Fatal(err)
	}
	served(ng, "NG, retired", "stories260K")
	served(ke, "KE, retired", "stories260K")
}
