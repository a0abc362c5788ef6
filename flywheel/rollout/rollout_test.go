package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

// versions knows the adapters "good" and "bad" (versions 1 and 2) of base
// "stories260k", and "alien", trained on another base.
type versions struct{}

func (versions) Resolve(_ context.Context, _, model, name string) (string, error) {
	if name == model {
		return model, nil
	}
	i := strings.LastIndexByte(name, ':')
	if i < 0 || name[:i] != model {
		return "", fmt.Errorf("%w: %s is not an adapter of %s", ErrInvalid, name, model)
	}
	ref := name[i+1:]
	n, v, err := registry.ParseRef(ref)
	if err != nil {
		return "", err
	}
	switch n {
	case "good", "bad":
	case "alien":
		return "", fmt.Errorf("%w: alien@1 was trained on another base", registry.ErrBaseMismatch)
	default:
		return "", fmt.Errorf("%w: no adapter %q", registry.ErrNotFound, n)
	}
	if v == 0 {
		v = 2
	}
	return fmt.Sprintf("%s:%s@%d", model, n, v), nil
}

// evaluator scores "bad" adapters worse than the base, anything else
// better.
type evaluator struct{ calls int }

func (e *evaluator) Compare(_ context.Context, in EvalInput) (EvalResult, error) {
	e.calls++
	r := EvalResult{Dataset: "ds@1", Examples: 4, StableLoss: 2.0, CandidateLoss: 1.5}
	if strings.Contains(in.Candidate, ":bad") {
		r.CandidateLoss = 2.5
	}
	return r, nil
}

type env struct {
	dir   string
	d     *db.DB
	clock *testclock.Clock
	audit *testfixture.Audit
	eval  *evaluator
	s     *Store
	ten   tenant.Tenant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), clock: testclock.New(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)), audit: &testfixture.Audit{},
		eval: &evaluator{}, ten: tenant.Tenant{ID: "t_acme", Name: "acme", Policy: tenant.Policy{AllowedModels: []string{"stories260k"}}}}
	var err error
	if e.d, err = db.OpenDir(e.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.d.Close() })
	e.s = e.open(t)
	return e
}

func (e *env) open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), e.d, Config{Versions: versions{}, Evaluator: e.eval, Audit: e.audit, Node: "n1",
		Now: e.clock.Now, MaxResponses: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) start(t *testing.T, cand string, g *Gates) *Rollout {
	t.Helper()
	r, err := e.s.Start(context.Background(), StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: cand, Gates: g, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// live starts a rollout of stories260k:good with the default gates as
// edit changes them, and ticks it past its eval gate.
func (e *env) live(t *testing.T, edit func(*Gates)) *Rollout {
	t.Helper()
	g := DefaultGates()
	if edit != nil {
		edit(&g)
	}
	r := e.start(t, "stories260k:good", &g)
	e.tick(t)
	return r
}

func (e *env) tick(t *testing.T) {
	t.Helper()
	if err := e.s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, id string) *Rollout {
	t.Helper()
	r, err := e.s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStartRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.ten
	other.Policy.AllowedModels = []string{"llama"}
	for _, tc := range []struct {
		name string
		req  StartRequest
		want error
		text string
	}{
		{"unknown adapter", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:nosuch"}, registry.ErrNotFound, "nosuch"},
		{"other base", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:alien"}, registry.ErrBaseMismatch, "another base"},
		{"model not allowed", StartRequest{Tenant: other, Model: "stories260k", Candidate: "stories260k:good"}, ErrForbidden, "may not use model"},
		{"share over 100", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good", Share: 101}, ErrInvalid, "share 101"},
		{"share below 0", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good", Share: -1}, ErrInvalid, "share -1"},
		{"candidate is the base", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k"}, ErrInvalid, "stable version already"},
		{"no candidate", StartRequest{Tenant: e.ten, Model: "stories260k"}, ErrInvalid, "candidate"},
		{"bad gates", StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good", Gates: &Gates{}}, ErrInvalid, "gates."},
		{"long name", StartRequest{Tenant: e.ten, Model: strings.Repeat("m", 300), Candidate: "x:y"}, ErrInvalid, "at most 256"},
	} {
		_, err := e.s.Start(ctx, StartRequest(tc.req))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %v naming %q", tc.name, err, tc.want, tc.text)
		}
	}
	if rs, _ := e.s.List(ctx, ""); len(rs) != 0 || len(e.audit.Records()) != 0 {
		t.Fatalf("refused starts changed something: %v, %v", rs, e.audit.Reasons())
	}
	r := e.start(t, "stories260k:good", nil)
	_, err := e.s.Start(ctx, StartRequest{Tenant: e.ten, Model: "Stories260K:latest", Candidate: "stories260k:good@1"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), r.ID) {
		t.Fatalf("second rollout of the model: %v, want ErrConflict naming %s", err, r.ID)
	}
	if rs, _ := e.s.List(ctx, e.ten.ID); len(rs) != 1 {
		t.Fatalf("%d rollouts after the refused second", len(rs))
	}
	if _, err := e.s.Promote(ctx, r.ID, 101, "test"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("promote to 101: %v", err)
	}
	if _, err := e.s.Get(ctx, "ro_nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestBucketSticky(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, "stories260k:good", nil)
	e.tick(t) // eval passes: live at 10%
	if got := e.get(t, r.ID); got.State != StateLive || got.Share != 10 || got.Eval == nil || got.Eval.Verdict != Pass {
		t.Fatalf("after the eval gate: %+v", got)
	}
	arms := func() map[string]string {
		m := map[string]string{}
		for i := range 1000 {
			a, ok := e.s.Pick(e.ten.ID, "stories260k", fmt.Sprintf("user-%d", i), "key1")
			if !ok {
				t.Fatal("no pick for the deployment")
			}
			m[fmt.Sprint(i)] = a.Arm
			if want := map[string]string{ArmStable: "stories260k", ArmCandidate: "stories260k:good@2"}[a.Arm]; a.Model != want {
				t.Fatalf("arm %s serves %s", a.Arm, a.Model)
			}
		}
		return m
	}
	at10 := arms()
	n := 0
	for _, arm := range at10 {
		if arm == ArmCandidate {
			n++
		}
	}
	if n < 60 || n > 140 { // 10% of 1,000, give or take
		t.Fatalf("%d of 1000 users on the candidate at 10%%", n)
	}
	if _, err := e.s.Promote(context.Background(), r.ID, 50, "test"); err != nil {
		t.Fatal(err)
	}
	at50 := arms()
	for u, arm := range at10 {
		if arm == ArmCandidate && at50[u] != ArmCandidate {
			t.Fatalf("user %s moved back to the stable as the share rose", u)
		}
	}
	// Without a user, the key decides, as stably.
	a1, _ := e.s.Pick(e.ten.ID, "stories260k", "", "keyA")
	a2, _ := e.s.Pick(e.ten.ID, "stories260k", "", "keyA")
	if a1.Arm != a2.Arm {
		t.Fatal("one key, two arms")
	}
	if _, ok := e.s.Pick(e.ten.ID, "stories260k:good@1", "u", "k"); ok {
		t.Fatal("an explicit version was picked for")
	}
	if _, ok := e.s.Pick("t_other", "stories260k", "u", "k"); ok {
		t.Fatal("another tenant's request was picked for")
	}
	if a, ok := e.s.Pick(e.ten.ID, "STORIES260K:latest", "user-1", "k"); !ok || a.Rollout != r.ID {
		t.Fatal("another spelling of the deployment's name was not picked for")
	}
}

// serve simulates n requests by distinct users, each rated by rate(arm).
func (e *env) serve(t *testing.T, from, n int, failed func(arm string) bool, thumb func(arm string, i int) int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		a, ok := e.s.Pick(e.ten.ID, "stories260k", fmt.Sprintf("u%d", i), "k")
		if !ok {
			t.Fatal("no pick")
		}
		id := fmt.Sprintf("resp-%d", i)
		e.s.Observe(a, e.ten.ID, Observation{ResponseID: id, Failed: failed != nil && failed(a.Arm), Duration: 100 * time.Millisecond})
		if thumb != nil {
			if th := thumb(a.Arm, i); th != 0 {
				e.s.ObserveFeedback(e.ten.ID, id, Feedback{Thumb: th})
			}
		}
	}
}

func TestPromotedThroughTheSteps(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) {
		g.MinFeedback, g.MinRequests, g.StepSample = 10, 20, 20
	})
	// Users like the candidate: every candidate answer up, stable 60%.
	thumb := func(arm string, i int) int {
		if arm == ArmCandidate || i%5 < 3 {
			return 1
		}
		return -1
	}
	var shares []int
	for i := 0; i < 40 && e.get(t, r.ID).State == StateLive; i++ {
		e.serve(t, i*400, 400, nil, thumb)
		e.tick(t)
		shares = append(shares, e.get(t, r.ID).Share)
	}
	got := e.get(t, r.ID)
	if got.State != StatePromoted {
		t.Fatalf("not promoted: %+v (shares %v)", got, shares)
	}
	if fmt.Sprint(shares[:3]) != "[25 50 100]" {
		t.Errorf("shares %v, want 25, 50, 100 and then promotion", shares)
	}
	// The deployment's stable is the candidate now, for every user.
	for i := range 50 {
		a, ok := e.s.Pick(e.ten.ID, "stories260k", fmt.Sprint(i), "k")
		if !ok || a.Model != "stories260k:good@2" || a.Arm != ArmStable || a.Rollout != r.ID {
			t.Fatalf("after promotion: %+v", a)
		}
	}
	// The history tells the story, and the audit log holds it.
	hist, err := e.s.History(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range hist {
		actions = append(actions, ev.Action)
	}
	want := "start eval gate share gate share gate share gate promote"
	if strings.Join(actions, " ") != want {
		t.Errorf("history %v, want %s", actions, want)
	}
	reasons := strings.Join(e.audit.Reasons(), " ")
	if reasons != "rollout.start rollout.eval rollout.gate rollout.share rollout.gate rollout.share rollout.gate rollout.share rollout.gate rollout.promote" {
		t.Errorf("audit %s", reasons)
	}
	for _, rec := range e.audit.Records() {
		if rec.Kind != KindRollout || rec.Tenant != e.ten.ID || rec.Detail["rollout"] != r.ID {
			t.Errorf("audit record %+v", rec)
		}
		if rec.Reason == "rollout.gate" && !strings.Contains(rec.Detail["checks"], `"thumbs_up_rate"`) {
			t.Errorf("a gate record without its numbers: %v", rec.Detail)
		}
		if rec.Reason == "rollout.eval" && !strings.Contains(rec.Detail["eval"], `"candidate_loss":1.5`) {
			t.Errorf("the eval record without its numbers: %v", rec.Detail)
		}
	}
	// A second rollout starts from the promoted stable, and may take the
	// deployment back to the base.
	if _, err := e.s.Start(context.Background(), StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the stable as the candidate: %v", err)
	}
	r2 := e.start(t, "stories260k", nil)
	if r2.Stable != "stories260k:good@2" || r2.Candidate != "stories260k" {
		t.Fatalf("second rollout %+v", r2)
	}
}

func TestRolledBackByFeedback(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) {
		g.MinFeedback, g.MinRequests, g.StepSample = 20, 20, 1000
	})
	e.clock.Add(time.Minute)
	// Users dislike the candidate: 10% up against the stable's 90%.
	thumb := func(arm string, i int) int {
		if (arm == ArmCandidate) == (i%10 == 0) {
			return 1
		}
		return -1
	}
	e.serve(t, 0, 400, nil, thumb)
	e.tick(t)
	got := e.get(t, r.ID)
	if got.State != StateRolledBack || got.Share != 0 || !strings.Contains(got.Reason, "thumbs_up_rate") {
		t.Fatalf("not rolled back by its feedback: %+v", got)
	}
	if _, ok := e.s.Pick(e.ten.ID, "stories260k", "u1", "k"); ok {
		t.Fatal("a rolled back rollout with no promoted stable still picks")
	}
	rec := e.audit.Records()
	last := rec[len(rec)-1]
	if last.Reason != "rollout.rollback" || last.Detail["actor"] != "gate" || !strings.Contains(last.Detail["checks"], `"verdict":"fail"`) {
		t.Fatalf("rollback record %+v", last)
	}
}

func TestRolledBackByErrors(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) {
		g.MinRequests, g.StepSample, g.Steps = 30, 100000, []int{50, 100}
	})
	e.serve(t, 0, 200, func(arm string) bool { return arm == ArmCandidate }, nil)
	e.tick(t)
	if got := e.get(t, r.ID); got.State != StateRolledBack || !strings.Contains(got.Reason, "error_rate") {
		t.Fatalf("%+v", got)
	}
}

func TestEvalGateFails(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, "stories260k:bad", nil)
	if a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k"); a.Arm != ArmStable {
		t.Fatal("traffic to a candidate before its eval gate")
	}
	e.tick(t)
	got := e.get(t, r.ID)
	if got.State != StateRolledBack || got.Eval == nil || got.Eval.Verdict != Fail || got.Eval.CandidateLoss != 2.5 {
		t.Fatalf("%+v", got)
	}
	if !strings.Contains(got.Reason, "2.5000 is above 1.9600") {
		t.Errorf("reason %q", got.Reason)
	}
}

func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) {
		g.StepSample = 1_000_000
	})
	e.serve(t, 0, 300, nil, func(string, int) int { return 1 })
	if err := e.s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := e.get(t, r.ID)
	arms := map[string]string{}
	for i := range 200 {
		a, _ := e.s.Pick(e.ten.ID, "stories260k", fmt.Sprint(i), "k")
		arms[fmt.Sprint(i)] = a.Arm
	}
	// A new process on the same database.
	e.s = e.open(t)
	after := e.get(t, r.ID)
	if after.State != StateLive || after.Share != before.Share || after.CandidateCounts.Requests != before.CandidateCounts.Requests ||
		after.StableCounts.Requests+after.CandidateCounts.Requests != 300 || after.StableCounts.Up+after.CandidateCounts.Up != 300 {
		t.Fatalf("after a restart %+v, before %+v", after, before)
	}
	for u, arm := range arms {
		if a, _ := e.s.Pick(e.ten.ID, "stories260k", u, "k"); a.Arm != arm {
			t.Fatalf("user %s changed arm over a restart", u)
		}
	}
}

func TestManualAndConcurrentChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.start(t, "stories260k:good", nil)
	other := e.open(t) // the command line, beside the node
	if _, err := other.Rollback(ctx, r.ID, "cli", ""); err != nil {
		t.Fatal(err)
	}
	e.tick(t) // the node's loop sees the rollback, and evaluates nothing
	if got := e.get(t, r.ID); got.State != StateRolledBack || e.eval.calls != 0 {
		t.Fatalf("%+v, %d evaluations", got, e.eval.calls)
	}
	if _, err := e.s.Rollback(ctx, r.ID, "cli", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("rolling back twice: %v", err)
	}
	r2 := e.start(t, "stories260k:good", nil)
	if _, err := other.Promote(ctx, r2.ID, 0, "cli"); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k"); a.Model != "stories260k:good@2" {
		t.Fatalf("the node did not see the promotion: %+v", a)
	}
	hist, _ := e.s.History(ctx, r2.ID)
	if last := hist[len(hist)-1]; last.Action != "promote" || last.Actor != "cli" || last.Detail["eval"] != "skipped by the operator" {
		t.Fatalf("%+v", last)
	}
}

func TestAuditFailureChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.audit.Fail(errors.New("disk full"))
	if _, err := e.s.Start(context.Background(), StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good"}); err == nil {
		t.Fatal("started without an audit record")
	}
	if rs, _ := e.s.List(context.Background(), ""); len(rs) != 0 {
		t.Fatalf("%d rollouts", len(rs))
	}
}

func TestFeedbackTable(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) {
		g.StepSample = 1_000_000
	})
	a, _ := e.s.Pick(e.ten.ID, "stories260k", "u", "k")
	e.s.Observe(a, e.ten.ID, Observation{ResponseID: "r1"})
	if e.s.ObserveFeedback("t_other", "r1", Feedback{Thumb: 1}) {
		t.Fatal("another tenant's feedback counted")
	}
	if e.s.ObserveFeedback(e.ten.ID, "nosuch", Feedback{Thumb: 1}) {
		t.Fatal("feedback on an unknown response counted")
	}
	if !e.s.ObserveFeedback(e.ten.ID, "r1", Feedback{Rating: 2, Corrected: true}) {
		t.Fatal("feedback not counted")
	}
	if e.s.ObserveFeedback(e.ten.ID, "r1", Feedback{Thumb: 1}) {
		t.Fatal("a second rating of one response counted")
	}
	e.clock.Add(25 * time.Hour)
	if e.s.ObserveFeedback(e.ten.ID, "r1", Feedback{Thumb: 1}) {
		t.Fatal("feedback on an expired response counted")
	}
	for i := range 5000 {
		e.s.Observe(a, e.ten.ID, Observation{ResponseID: fmt.Sprint(i)})
	}
	if n := e.s.served.len(); n > 1000 {
		t.Fatalf("%d responses remembered, bound 1000", n)
	}
	if !e.s.ObserveFeedback(e.ten.ID, "4999", Feedback{Thumb: -1}) || e.s.ObserveFeedback(e.ten.ID, "0", Feedback{Thumb: -1}) {
		t.Fatal("the table kept the wrong responses")
	}
	e.tick(t)
	c := e.get(t, r.ID).StableCounts
	if a.Arm == ArmCandidate {
		c = e.get(t, r.ID).CandidateCounts
	}
	if c.Feedback != 2 || c.Down != 2 || c.Corrections != 1 || c.Requests != 5001 || len(c.Latencies) != maxLatencies {
		t.Fatalf("counts %+v", c)
	}
}

func TestDwell(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) { g.StepSample, g.DwellSeconds = 10, 600 })
	e.serve(t, 0, 500, nil, nil)
	e.tick(t)
	if got := e.get(t, r.ID); got.Share != 10 {
		t.Fatalf("the share rose to %d before its dwell", got.Share)
	}
	e.clock.Add(10 * time.Minute)
	e.tick(t)
	if got := e.get(t, r.ID); got.Share != 25 || !got.StepStarted.Equal(e.clock.Now()) {
		t.Fatalf("after the dwell: share %d, step started %v", got.Share, got.StepStarted)
	}
	if got := e.get(t, r.ID); got.CandidateCounts.StepRequests != 0 || got.CandidateCounts.Requests == 0 {
		t.Fatalf("the new share's sample did not start again: %+v", got.CandidateCounts)
	}
}

// TestConcurrent: requests picked, observed and rated from many
// goroutines while the gate loop ticks are all counted once.
func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	r := e.live(t, func(g *Gates) { g.StepSample = 1_000_000 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := e.s.Tick(ctx); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("w%d-%d", w, i)
				a, _ := e.s.Pick(e.ten.ID, "stories260k", id, "k")
				e.s.Observe(a, e.ten.ID, Observation{ResponseID: id, Duration: time.Millisecond})
				e.s.ObserveFeedback(e.ten.ID, id, Feedback{Thumb: 1})
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	e.tick(t)
	got := e.get(t, r.ID)
	if n := got.StableCounts.Requests + got.CandidateCounts.Requests; n != 1600 {
		t.Fatalf("%d requests counted, want 1600", n)
	}
	if n := got.StableCounts.Up + got.CandidateCounts.Up; n != 1600 {
		t.Fatalf("%d thumbs up counted, want 1600", n)
	}
}

// TestConcurrentStarts: of 16 starts of the same deployment at once, one
// wins and the others are told it is under way (ErrConflict). Two of
// them used to fail with SQLITE_BUSY, a 500: the transaction read before
// it wrote, so it could not take the write lock another had taken since.
func TestConcurrentStarts(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.s.Start(context.Background(), StartRequest{Tenant: e.ten, Model: "stories260k", Candidate: "stories260k:good", Actor: "test"})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Errorf("a concurrent start: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d starts won, want 1", won)
	}
}
