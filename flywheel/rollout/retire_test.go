package rollout

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// promoted makes cand the stable of the env's deployment.
func (e *env) promoted(t *testing.T, cand string) *Rollout {
	t.Helper()
	r := e.start(t, cand, &Gates{SkipEval: true, EvalMargin: 0.02, Confidence: 0.95, MinFeedback: 20, MinRequests: 50, MaxLatencyRatio: 1.5,
		StepSample: 50, Steps: []int{10, 25, 50, 100}})
	if _, err := e.s.Promote(context.Background(), r.ID, 100, "test"); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRetired(t *testing.T) {
	const base = "stories260k"
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, e *env) (live *Rollout) // the rollout under way, if any
		tenant  string                                     // "" means the env's
		adapter string
		version int
		// served is what Pick serves a user of the deployment afterwards
		// ("" for nothing: the base, served as named); reason is the
		// rollout under way's reason ("" for still live); fellBack says a
		// "stable_retired" step was taken.
		served, reason string
		fellBack       bool
	}{
		{name: "the deployment's stable", adapter: "good", version: 2, served: base, fellBack: true,
			setup: func(t *testing.T, e *env) *Rollout { e.promoted(t, "stories260k:good@2"); return nil }},
		{name: "every version of the stable's adapter", adapter: "good", served: base, fellBack: true,
			setup: func(t *testing.T, e *env) *Rollout { e.promoted(t, "stories260k:good@2"); return nil }},
		{name: "another version of the stable's adapter", adapter: "good", version: 1, served: "stories260k:good@2",
			setup: func(t *testing.T, e *env) *Rollout { e.promoted(t, "stories260k:good@2"); return nil }},
		{name: "another adapter", adapter: "bad", version: 2, served: "stories260k:good@2",
			setup: func(t *testing.T, e *env) *Rollout { e.promoted(t, "stories260k:good@2"); return nil }},
		{name: "another tenant's adapter of the same name", tenant: "t_other", adapter: "good", version: 2, served: "stories260k:good@2",
			setup: func(t *testing.T, e *env) *Rollout { e.promoted(t, "stories260k:good@2"); return nil }},
		{name: "a live rollout's candidate", adapter: "good", version: 2, reason: ReasonCandidateRetired,
			setup: func(t *testing.T, e *env) *Rollout {
				return e.live(t, func(g *Gates) { g.Steps = []int{100} }) // everyone gets the candidate
			}},
		{name: "an evaluating rollout's candidate", adapter: "good", version: 2, reason: ReasonCandidateRetired,
			setup: func(t *testing.T, e *env) *Rollout { return e.start(t, "stories260k:good", nil) }},
		{name: "a live rollout's stable", adapter: "good", version: 2, served: base, reason: ReasonStableRetired, fellBack: true,
			setup: func(t *testing.T, e *env) *Rollout {
				e.promoted(t, "stories260k:good@2")
				r := e.start(t, "stories260k:bad@2", &Gates{SkipEval: true, EvalMargin: 0.02, Confidence: 0.95, MinFeedback: 20,
					MinRequests: 50, MaxLatencyRatio: 1.5, StepSample: 50, Steps: []int{100}})
				e.tick(t)
				return r
			}},
		{name: "neither arm of a live rollout", adapter: "bad", version: 1, served: "stories260k:good@2",
			setup: func(t *testing.T, e *env) *Rollout {
				return e.live(t, func(g *Gates) { g.Steps = []int{100} })
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			live := tc.setup(t, e)
			e.audit.Take()
			tenantID := tc.tenant
			if tenantID == "" {
				tenantID = e.ten.ID
			}
			if err := e.s.Retired(ctx, tenantID, tc.adapter, tc.version); err != nil {
				t.Fatal(err)
			}
			a, ok := e.s.Pick(e.ten.ID, base, "u1", "k1")
			if got := map[bool]string{true: a.Model}[ok]; got != tc.served {
				t.Errorf("served %q, want %q", got, tc.served)
			}
			if live != nil {
				r := e.get(t, live.ID)
				switch {
				case tc.reason == "" && !r.Live():
					t.Errorf("rollout %s, %q: want it under way", r.State, r.Reason)
				case tc.reason != "" && (r.State != StateRolledBack || r.Reason != tc.reason):
					t.Errorf("rollout %s, %q: want rolled back, %q", r.State, r.Reason, tc.reason)
				}
			}
			var reasons []string
			for _, rec := range e.audit.Take() {
				reasons = append(reasons, rec.Reason+" "+rec.Detail["reason"]+" "+rec.Detail["retired"])
			}
			var want []string
			if tc.fellBack {
				want = append(want, "rollout.stable_retired stable retired stories260k:good@2")
			}
			if tc.reason != "" {
				want = append(want, "rollout.rollback "+tc.reason+" stories260k:"+tc.adapter+"@2")
			}
			if !slices.Equal(reasons, want) {
				t.Errorf("audited %q, want %q", reasons, want)
			}
			if tc.fellBack {
				// The fleet hears of it as the deployment's latest rollout:
				// the base, promoted.
				ds, err := e.s.Deployments(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) != 1 || ds[0].State != StatePromoted || ds[0].Candidate != base || ds[0].Stable != "stories260k:good@2" {
					t.Fatalf("deployments %+v", ds)
				}
				hist, err := e.s.History(ctx, ds[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(hist) != 1 || hist[0].Action != "stable_retired" || hist[0].Actor != "registry" || hist[0].Detail["fallback"] != base {
					t.Fatalf("history %+v", hist)
				}
			}
			// Once is enough: again, nothing more happens.
			if err := e.s.Retired(ctx, tenantID, tc.adapter, tc.version); err != nil {
				t.Fatal(err)
			}
			if recs := e.audit.Take(); len(recs) != 0 {
				t.Errorf("retired again: %d more records", len(recs))
			}
			if tc.fellBack {
				// A new rollout starts against the base.
				if r := e.start(t, "stories260k:good@1", nil); r.Stable != base {
					t.Fatalf("a new rollout's stable is %s", r.Stable)
				}
			}
		})
	}
}

func TestServesAdapter(t *testing.T) {
	for _, tc := range []struct {
		served, name string
		version      int
		want         bool
	}{
		{"stories260k:good@2", "good", 2, true},
		{"stories260k:good@2", "good", 0, true},
		{"stories260k:good@2", "good", 1, false},
		{"stories260k:good@2", "goo", 2, false},
		{"qwen2.5-0.5b:q4_k_m:good@3", "good", 3, true},
		{"qwen2.5-0.5b:q4_k_m", "q4_k_m", 0, false}, // a base's tag is no adapter
		{"stories260k", "stories260k", 0, false},
		{"stories260k:good", "good", 0, false}, // a file adapter's name has no version
		{"stories260k:good@x", "good", 0, false},
	} {
		if got := servesAdapter(tc.served, tc.name, tc.version); got != tc.want {
			t.Errorf("servesAdapter(%q, %q, %d) = %v, want %v", tc.served, tc.name, tc.version, got, tc.want)
		}
	}
}

// TestRetiredDurableAndShared: with no audit log to record it nothing
// changes, and retiring again applies it; a change made by another Store
// on the database (the command line) is served by the node's after its
// next Tick.
func TestRetiredDurableAndShared(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.promoted(t, "stories260k:good@2")
	cli := e.open(t)
	e.audit.Fail(errors.New("disk full"))
	if err := cli.Retired(ctx, e.ten.ID, "good", 2); err == nil {
		t.Fatal("fell back without an audit record")
	}
	e.tick(t)
	if a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k"); a.Model != "stories260k:good@2" {
		t.Fatalf("changed without a record: %+v", a)
	}
	e.audit.Fail(nil)
	if err := cli.Retired(ctx, e.ten.ID, "good", 2); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k"); a.Model != "stories260k:good@2" {
		t.Fatalf("the node changed before its tick: %+v", a) // it reads the database on Tick
	}
	e.tick(t)
	if a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k"); a.Model != "stories260k" {
		t.Fatalf("the node did not see the fallback: %+v", a)
	}
	if err := e.s.Retired(ctx, "", "good", 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no tenant: %v", err)
	}
}
