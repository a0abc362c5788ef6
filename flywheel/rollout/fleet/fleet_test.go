package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// versions takes any BASE:ADAPTER of the model, as version 1.
type versions struct{}

func (versions) Resolve(_ context.Context, _, model, name string) (string, error) {
	if name == model {
		return model, nil
	}
	if !strings.HasPrefix(name, model+":") {
		return "", fmt.Errorf("%s is not an adapter of %s", name, model)
	}
	if !strings.Contains(name, "@") {
		name += "@1"
	}
	return name, nil
}

// unit is one node's Fleet over a real rollout store and tenant store,
// its fabric node never started (so every delivery it sends fails), and
// tenant acme of policy pol.
type unit struct {
	f       *Fleet
	store   *rollout.Store
	tenants *tenant.Store
	acme    tenant.Tenant
	clock   *testclock.Clock
}

func newUnit(t *testing.T, j string, pol tenant.Policy) *unit {
	t.Helper()
	dir := t.TempDir()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	u := &unit{clock: testclock.New(time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC))}
	if u.tenants, err = tenant.Open(ctx, d, u.clock.Now); err != nil {
		t.Fatal(err)
	}
	if u.acme, err = u.tenants.CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	if u.store, err = rollout.Open(ctx, d, rollout.Config{Versions: versions{}, Jurisdiction: j, Now: u.clock.Now}); err != nil {
		t.Fatal(err)
	}
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fab, err := fabric.New(fabric.Config{Identity: id, Site: "site-" + strings.ToLower(j), Jurisdiction: j})
	if err != nil {
		t.Fatal(err)
	}
	if u.f, err = New(Config{Node: fab, Rollouts: u.store, Tenants: u.tenants, Interval: time.Second, GiveUp: time.Minute, MaxQueue: 3 * MaxBatch,
		Now: u.clock.Now}); err != nil {
		t.Fatal(err)
	}
	return u
}

func peerIn(j string) fabric.Peer {
	return fabric.Peer{ID: "n_" + strings.ToLower(j), Jurisdiction: j, Certified: true}
}

func frame(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// code is a handler's answer's error code; a handler error, or an
// answer that does not decode, is a code no answer has.
func code(reply []byte, err error) string {
	if err != nil {
		return "handler error: " + err.Error()
	}
	var a answer
	if err := json.Unmarshal(reply, &a); err != nil {
		return "torn answer: " + err.Error()
	}
	return a.Error
}

var ngPolicy = tenant.Policy{Home: "NG", Jurisdictions: []string{"NG", "KE"}}

// TestTakeState: a node keeps a tenant's states only from a node of the
// tenant's home, for a tenant it serves where the sender is permitted,
// and only whole, valid deliveries; a later number replaces an earlier
// one, never the other way round.
func TestTakeState(t *testing.T) {
	ke := newUnit(t, "KE", ngPolicy)
	ctx := context.Background()
	live := State{ID: "ro_1", Model: "stories260k", Stable: "stories260k", Candidate: "stories260k:a@1", State: rollout.StateLive, Share: 50, Seq: 5}
	bad := live
	bad.Share = 101
	many := make([]State, MaxStates+1)
	for i := range many {
		many[i] = live
	}
	for _, tt := range []struct {
		name    string
		from    fabric.Peer
		payload []byte
		want    string
	}{
		{"unknown tenant", peerIn("NG"), frame(t, stateMsg{Tenant: "other", States: []State{live}}), codeNoTenant},
		{"a tenant's id, not its name", peerIn("NG"), frame(t, stateMsg{Tenant: ke.acme.ID, States: []State{live}}), codeNoTenant},
		{"from outside the home", peerIn("KE"), frame(t, stateMsg{Tenant: "acme", States: []State{live}}), codeNotHome},
		{"from where the tenant may not run", peerIn("GH"), frame(t, stateMsg{Tenant: "acme", States: []State{live}}), codeNotPermitted},
		{"a share out of bounds", peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{live, bad}}), codeInvalid},
		{"too many", peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: many}), codeInvalid},
		{"torn", peerIn("NG"), []byte(`{"tenant":"acme","states":[`), codeInvalid},
	} {
		reply, err := ke.f.takeState(ctx, tt.from, tt.payload)
		if got := code(reply, err); got != tt.want {
			t.Errorf("%s: answer %s; want code %s", tt.name, reply, tt.want)
		}
		if _, ok := ke.f.Pick(ke.acme, "stories260k", "u", "k"); ok {
			t.Fatalf("%s: refused, and kept", tt.name)
		}
	}
	if c := code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{live}}))); c != "" {
		t.Fatalf("from the home: %s", c)
	}
	if a, ok := ke.f.Pick(ke.acme, "Stories260K", "u", "k"); !ok || a.Rollout != "ro_1" {
		t.Fatalf("kept: Pick = %+v, %v", a, ok)
	}
	// An earlier number arriving late changes nothing; a later one does.
	old := live
	old.Seq, old.State = 4, rollout.StateEvaluating
	code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{old}})))
	back := live
	back.Seq, back.State, back.Share = 6, rollout.StateRolledBack, 0
	for user := range 50 {
		if a, _ := ke.f.Pick(ke.acme, "stories260k", fmt.Sprint(user), ""); a.Arm == rollout.ArmCandidate {
			break // still live at 50%
		} else if user == 49 {
			t.Fatal("an earlier state replaced a later one: no user gets the candidate")
		}
	}
	code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{back}})))
	for user := range 50 {
		if a, ok := ke.f.Pick(ke.acme, "stories260k", fmt.Sprint(user), ""); ok {
			t.Fatalf("rolled back to the model itself: user %d gets %+v; want it served as named", user, a)
		}
	}
	// Rolled back to an adapter a rollout promoted before: its stable.
	back.Stable, back.Seq = "stories260k:b@2", 7
	code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{back}})))
	if a, ok := ke.f.Pick(ke.acme, "stories260k", "u", ""); !ok || a.Model != "stories260k:b@2" || a.Arm != rollout.ArmStable || a.counted {
		t.Fatalf("rolled back to an adapter: %+v, %v", a, ok)
	}
	// A disabled tenant's states are refused.
	if _, err := ke.tenants.UpdateTenant(ctx, "acme", func(tn *tenant.Tenant) error { tn.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if c := code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{live}}))); c != codeNotPermitted {
		t.Errorf("disabled tenant: code %q", c)
	}
}

// TestPickAsHome: away from home, a live rollout's users get the arm the
// home's own pick gives them (rollout.ArmOf), counted; a promoted one's
// everyone gets the candidate, and a node that has not heard from the
// home for StaleAfter serves the stable, uncounted, until it hears again.
func TestPickAsHome(t *testing.T) {
	ke := newUnit(t, "KE", ngPolicy)
	ctx := context.Background()
	live := State{ID: "ro_9", Model: "stories260k", Stable: "stories260k", Candidate: "stories260k:a@1", State: rollout.StateLive, Share: 25, Seq: 9}
	tell := func(s State) {
		t.Helper()
		if c := code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: []State{s}}))); c != "" {
			t.Fatal(c)
		}
	}
	tell(live)
	cand := 0
	for i := range 400 {
		user, key := fmt.Sprintf("user-%d", i), ""
		if i%2 == 1 {
			user, key = "", fmt.Sprintf("key-%d", i) // no "user": the key decides
		}
		a, ok := ke.f.Pick(ke.acme, "stories260k", user, key)
		want := rollout.ArmOf(live.ID, live.State, live.Share, user, key)
		if !ok || a.Arm != want || !a.counted || (a.Arm == rollout.ArmCandidate) != (a.Model == live.Candidate) {
			t.Fatalf("user %q key %q: %+v; want arm %s", user, key, a, want)
		}
		if a.Arm == rollout.ArmCandidate {
			cand++
		}
	}
	if cand < 60 || cand > 140 {
		t.Errorf("%d of 400 users on the candidate at 25%%", cand)
	}
	ke.clock.Add(ke.f.cfg.StaleAfter + time.Second)
	for i := range 100 {
		if a, _ := ke.f.Pick(ke.acme, "stories260k", fmt.Sprint(i), ""); a.Arm != rollout.ArmStable || a.counted {
			t.Fatalf("stale: user %d gets %+v; want the stable, uncounted", i, a)
		}
	}
	tell(live) // heard again
	if a, _ := ke.f.Pick(ke.acme, "stories260k", "user-0", ""); !a.counted {
		t.Errorf("heard again: %+v still stale", a)
	}
	promoted := live
	promoted.State, promoted.Share, promoted.Seq = rollout.StatePromoted, 100, 12
	tell(promoted)
	ke.clock.Add(time.Hour) // a promoted stable is the stable: it serves however long the home is silent
	if a, _ := ke.f.Pick(ke.acme, "stories260k", "x", ""); a.Model != live.Candidate || a.Arm != rollout.ArmStable || a.counted {
		t.Errorf("promoted: %+v; want the candidate as the stable", a)
	}
	if _, ok := ke.f.Pick(ke.acme, "smollm", "x", ""); ok {
		t.Error("a model no home told of is a deployment")
	}
}

// TestObservationsQueue: while the home does not take them, observations
// wait, at most MaxQueue of them (the oldest pushed out), and after
// GiveUp they are dropped; each one dropped is counted.
func TestObservationsQueue(t *testing.T) {
	ke := newUnit(t, "KE", ngPolicy)
	ctx := context.Background()
	a := Assignment{Rollout: "ro_1", Arm: rollout.ArmCandidate, Model: "m:a@1", home: "n_ng", tenant: "acme", share: 10, counted: true}
	ke.f.Observe(Assignment{Rollout: "ro_1", home: "n_ng"}, rollout.Observation{}) // uncounted: not queued
	for range 10 {
		ke.f.Observe(a, rollout.Observation{Duration: time.Second})
	}
	ke.f.flush(ctx) // the home is unreachable: kept
	if n, d := len(ke.f.queue), ke.f.Dropped(); n != 10 || d != 0 {
		t.Fatalf("after a failed flush: %d waiting, %d dropped; want 10, 0", n, d)
	}
	for range ke.f.cfg.MaxQueue {
		ke.f.Observe(a, rollout.Observation{})
	}
	if n, d := len(ke.f.queue), ke.f.Dropped(); n != ke.f.cfg.MaxQueue || d != 10 {
		t.Fatalf("over the bound: %d waiting, %d dropped; want %d, 10", n, d, ke.f.cfg.MaxQueue)
	}
	ke.clock.Add(ke.f.cfg.GiveUp + time.Second)
	ke.f.flush(ctx)
	if n, d := len(ke.f.queue), ke.f.Dropped(); n != 0 || d != int64(10+ke.f.cfg.MaxQueue) {
		t.Fatalf("after GiveUp: %d waiting, %d dropped", n, d)
	}
}

// TestTakeObservations: at the home, another node's observations count
// for the tenant's live rollout as local ones do, and their responses
// take feedback; refused from where the tenant may not run, at a node
// that is not its home, and when any is out of bounds.
func TestTakeObservations(t *testing.T) {
	ng := newUnit(t, "NG", ngPolicy)
	ctx := context.Background()
	g := rollout.DefaultGates()
	g.SkipEval = true
	r, err := ng.store.Start(ctx, rollout.StartRequest{Tenant: ng.acme, Model: "stories260k", Candidate: "stories260k:a", Gates: &g})
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.store.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	obs := []Observation{
		{Rollout: r.ID, Arm: rollout.ArmCandidate, Share: 10, Seconds: 0.2, ResponseID: "chatcmpl-ke1"},
		{Rollout: r.ID, Arm: rollout.ArmStable, Share: 10, Failed: true, Seconds: 0.4, ResponseID: "chatcmpl-ke2"},
		{Rollout: "ro_gone", Arm: rollout.ArmStable, Share: 10, Seconds: 0.1}, // not counted
	}
	bad := append([]Observation{}, obs...)
	bad[1].Arm = "both"
	for _, tt := range []struct {
		name    string
		from    fabric.Peer
		payload []byte
		want    string
	}{
		{"from where the tenant may not run", peerIn("GH"), frame(t, observeMsg{Tenant: "acme", Observations: obs}), codeNotPermitted},
		{"unknown tenant", peerIn("KE"), frame(t, observeMsg{Tenant: "other", Observations: obs}), codeNoTenant},
		{"an arm out of bounds", peerIn("KE"), frame(t, observeMsg{Tenant: "acme", Observations: bad}), codeInvalid},
		{"too many", peerIn("KE"), frame(t, observeMsg{Tenant: "acme", Observations: make([]Observation, MaxBatch+1)}), codeInvalid},
	} {
		reply, err := ng.f.takeObservations(ctx, tt.from, tt.payload)
		if got := code(reply, err); got != tt.want {
			t.Errorf("%s: answer %s; want code %s", tt.name, reply, tt.want)
		}
	}
	reply, err := ng.f.takeObservations(ctx, peerIn("KE"), frame(t, observeMsg{Tenant: "acme", Observations: obs}))
	var a answer
	if code(reply, err) != "" || json.Unmarshal(reply, &a) != nil || a.Counted != 2 {
		t.Fatalf("answer %s; want 2 counted", reply)
	}
	if !ng.store.ObserveFeedback(ng.acme.ID, "chatcmpl-ke1", rollout.Feedback{Thumb: 1}) {
		t.Error("feedback on a response served on KE not counted at home")
	}
	got, _, err := ng.store.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c, s := got.CandidateCounts, got.StableCounts; c.Requests != 1 || c.Up != 1 || s.Requests != 1 || s.Errors != 1 {
		t.Errorf("counts: candidate %+v, stable %+v", c, s)
	}
	// A node away from home counts nothing.
	ke := newUnit(t, "KE", ngPolicy)
	if c := code(ke.f.takeObservations(ctx, peerIn("KE"), frame(t, observeMsg{Tenant: "acme", Observations: obs}))); c != codeNotHome {
		t.Errorf("away from home: code %q", c)
	}
}

// TestRetiredAtHome: when the home falls a deployment back to its base
// because its stable adapter was retired (rollout.Store.Retired), the
// nodes it tells serve the base too.
func TestRetiredAtHome(t *testing.T) {
	ng, ke := newUnit(t, "NG", ngPolicy), newUnit(t, "KE", ngPolicy)
	ctx := context.Background()
	tellKE := func() {
		t.Helper()
		deps, err := ng.store.Deployments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var states []State
		for _, d := range deps {
			states = append(states, State{ID: d.ID, Model: d.Model, Stable: d.Stable, Candidate: d.Candidate, State: d.State, Share: d.Share, Seq: d.Seq})
		}
		if c := code(ke.f.takeState(ctx, peerIn("NG"), frame(t, stateMsg{Tenant: "acme", States: states}))); c != "" {
			t.Fatal(c)
		}
	}
	g := rollout.DefaultGates()
	g.SkipEval = true
	r, err := ng.store.Start(ctx, rollout.StartRequest{Tenant: ng.acme, Model: "stories260k", Candidate: "stories260k:a", Gates: &g})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ng.store.Promote(ctx, r.ID, 100, "test"); err != nil {
		t.Fatal(err)
	}
	tellKE()
	if a, ok := ke.f.Pick(ke.acme, "stories260k", "u", ""); !ok || a.Model != "stories260k:a@1" {
		t.Fatalf("promoted: %+v, %v", a, ok)
	}
	if err := ng.store.Retired(ctx, ng.acme.ID, "a", 1); err != nil {
		t.Fatal(err)
	}
	tellKE()
	if a, ok := ke.f.Pick(ke.acme, "stories260k", "u", ""); !ok || a.Model != "stories260k" || a.counted {
		t.Fatalf("after the retirement: %+v, %v; want the base", a, ok)
	}
}
