package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// TestDeploymentsForTheFleet: Deployments lists each deployment's latest
// rollout with a number that grows with every step, and across rollouts.
func TestDeploymentsForTheFleet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if ds, err := e.s.Deployments(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("no rollouts: Deployments = %v, %v", ds, err)
	}
	r := e.live(t, nil)
	ds, err := e.s.Deployments(ctx)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deployments = %v, %v; want one", ds, err)
	}
	d := ds[0]
	if d.ID != r.ID || d.TenantID != "t_acme" || d.State != StateLive || d.Share != 10 || d.Candidate != "stories260k:good@2" || d.Seq <= 0 {
		t.Fatalf("live: %+v", d)
	}
	if _, err := e.s.Rollback(ctx, r.ID, "test", "no"); err != nil {
		t.Fatal(err)
	}
	ds, _ = e.s.Deployments(ctx)
	if len(ds) != 1 || ds[0].State != StateRolledBack || ds[0].Seq <= d.Seq {
		t.Fatalf("rolled back: %+v; want rolled_back with seq above %d", ds, d.Seq)
	}
	prev := ds[0].Seq
	r2 := e.live(t, nil)
	ds, _ = e.s.Deployments(ctx)
	if len(ds) != 1 || ds[0].ID != r2.ID || ds[0].Seq <= prev {
		t.Fatalf("a second rollout: %+v; want only %s, seq above %d", ds, r2.ID, prev)
	}
}

// TestAssignForAnotherNode: an assignment another node made counts as a
// local one's, for the tenant's live rollouts only, and its response
// takes feedback.
func TestAssignForAnotherNode(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, nil)
	for _, tt := range []struct {
		name, tenant, id, arm string
		share                 int
	}{
		{"another tenant's", "t_other", r.ID, ArmCandidate, 10},
		{"no such rollout", "t_acme", "ro_nope", ArmCandidate, 10},
		{"no such arm", "t_acme", r.ID, "both", 10},
		{"share over 100", "t_acme", r.ID, ArmStable, 101},
		{"share below 0", "t_acme", r.ID, ArmStable, -1},
	} {
		if _, ok := e.s.Assign(tt.tenant, tt.id, tt.arm, tt.share); ok {
			t.Errorf("%s: assigned", tt.name)
		}
	}
	a, ok := e.s.Assign("t_acme", r.ID, ArmCandidate, 10)
	if !ok || a.Model != "stories260k:good@2" {
		t.Fatalf("Assign = %+v, %v", a, ok)
	}
	e.s.Observe(a, "t_acme", Observation{ResponseID: "chatcmpl-ke1", Duration: 100 * time.Millisecond})
	if !e.s.ObserveFeedback("t_acme", "chatcmpl-ke1", Feedback{Thumb: 1}) {
		t.Fatal("feedback on a response served elsewhere not counted")
	}
	e.tick(t)
	got := e.get(t, r.ID)
	if c := got.CandidateCounts; c.Requests != 1 || c.StepRequests != 1 || c.Feedback != 1 || c.Up != 1 {
		t.Errorf("candidate counts %+v; want the one request and its thumb up", c)
	}
	if _, err := e.s.Rollback(context.Background(), r.ID, "test", "done"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.s.Assign("t_acme", r.ID, ArmCandidate, 10); ok {
		t.Error("assigned for a rollout rolled back")
	}
}

// TestStartAwayFromHome: a node outside the tenant's home refuses to
// start its rollouts, naming the home; one in it, or with no
// jurisdiction of its own, starts them; so does any node for a tenant
// with no home.
func TestStartAwayFromHome(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	open := func(j string) *Store {
		s, err := Open(ctx, e.d, Config{Versions: versions{}, Evaluator: e.eval, Node: "n-" + j, Jurisdiction: j, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ng := tenant.Tenant{ID: "t_ng", Name: "ng-health", Policy: tenant.Policy{Home: "NG", Jurisdictions: []string{"NG", "KE"}}}
	req := StartRequest{Tenant: ng, Model: "stories260k", Candidate: "stories260k:good", Actor: "test"}
	_, err := open("KE").Start(ctx, req)
	if !errors.Is(err, ErrNotHome) || !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "home is NG") || !strings.Contains(err.Error(), "KE") {
		t.Fatalf("start in KE: %v; want ErrNotHome naming the home NG and this node's KE", err)
	}
	if ds, _ := e.s.Deployments(ctx); len(ds) != 0 {
		t.Fatalf("a refused start left %v", ds)
	}
	if _, err := open("NG").Start(ctx, req); err != nil {
		t.Fatalf("start at home: %v", err)
	}
	free := tenant.Tenant{ID: "t_free", Name: "free"}
	if _, err := open("KE").Start(ctx, StartRequest{Tenant: free, Model: "stories260k", Candidate: "stories260k:good"}); err != nil {
		t.Fatalf("a tenant with no home: %v", err)
	}
}
