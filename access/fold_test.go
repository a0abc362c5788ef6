package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// limitedMeter refuses every request with a rate limit.
type limitedMeter struct{}

func (limitedMeter) Admit(context.Context, *tenant.Principal, int) (*metering.Ticket, error) {
	return nil, &metering.LimitError{Scope: "key", Limit: "requests_per_minute", Max: 1, Wait: time.Second}
}

func principal(name, keyID string, scopes ...tenant.Scope) *tenant.Principal {
	return &tenant.Principal{Tenant: tenant.Tenant{ID: "tnt_" + name, Name: name, Policy: tenant.Policy{AllowedModels: []string{"stories260k"}}},
		Key: tenant.Key{ID: keyID, Scopes: scopes}}
}

// TestRefusalsFoldedPerKey: a key refused again and again (a model its
// tenant may not use, a scope it lacks, a rate limit) costs the log one
// record at once and one per window after, carrying the count, per key
// and kind of refusal, as refused keys are folded per address.
func TestRefusalsFoldedPerKey(t *testing.T) {
	g, a, clk := newDenialGate(t)
	g.cfg.Meter = limitedMeter{}
	ctx := context.Background()
	alice := &caller{g: g, p: principal("acme", "key_alice", tenant.ScopeInference)}
	bob := &caller{g: g, p: principal("acme", "key_bob", tenant.ScopeFeedback)}

	for i := range 2000 {
		if err := alice.Use(ctx, "chat_completions", fmt.Sprintf("other-%d", i%10)); !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("Use: %v", err)
		}
	}
	recs := a.Take()
	if len(recs) != 1 || recs[0].Decision != "deny" || recs[0].Tenant != "acme" || recs[0].KeyID != "key_alice" ||
		recs[0].Detail["denials"] != "1" || !strings.HasPrefix(recs[0].Reason, "model: ") || recs[0].Model != "other-0" {
		t.Fatalf("2000 refused models: %+v; want one record at once", recs)
	}
	// Other kinds and other keys are recorded at once, each on its own.
	if _, err := alice.Admit(ctx, api.Admission{Endpoint: "chat_completions", Model: "stories260k"}); !errors.Is(err, api.ErrRateLimited) {
		t.Fatalf("Admit under a limit: %v", err)
	}
	for range 300 {
		bob.Admit(ctx, api.Admission{Endpoint: "ollama_chat", Model: "stories260k"})
	}
	alice.Admit(ctx, api.Admission{Endpoint: "chat_completions", Model: "stories260k"})
	recs = a.Take()
	if len(recs) != 2 || !strings.HasPrefix(recs[0].Reason, "limit: ") || recs[1].KeyID != "key_bob" || !strings.HasPrefix(recs[1].Reason, "scope: ") {
		t.Fatalf("records %+v; want alice's first limit and bob's first scope refusal", recs)
	}

	clk.Add(DenialWindow)
	g.FlushDenials()
	got := map[string]audit.Record{}
	for _, r := range a.Take() {
		kind, _, _ := strings.Cut(r.Reason, ":")
		got[r.KeyID+" "+kind] = r
	}
	for _, want := range []struct{ key, denials string }{{"key_alice model", "1999"}, {"key_bob scope", "299"}, {"key_alice limit", "1"}} {
		r, ok := got[want.key]
		if !ok || r.Detail["denials"] != want.denials || r.Detail["since"] == "" {
			t.Errorf("%s: %+v; want a record of %s refusals", want.key, r, want.denials)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d folded records; want 3", len(got))
	}
	if m := strings.Split(got["key_alice model"].Detail["models"], ","); len(m) != maxCollected {
		t.Errorf("folded record lists models %q; want the first %d distinct", m, maxCollected)
	}
}

// TestRefusalRecordsBounded: a refusal's record repeats at most a few
// hundred bytes of what the client sent, however much it was; it used to
// hold a refused model name twice (Model and Reason).
func TestRefusalRecordsBounded(t *testing.T) {
	g, a, _ := newDenialGate(t)
	c := &caller{g: g, p: principal("acme", "key_alice", tenant.ScopeInference)}
	huge := strings.Repeat("x", 1<<20)
	c.Use(context.Background(), "chat_completions", huge)
	c.Admit(context.Background(), api.Admission{Endpoint: "ollama_chat", Model: huge + "é"}) // the same kind: folded
	recs := a.Take()
	for _, r := range recs {
		if b, _ := json.Marshal(r); len(b) > 2048 || !strings.HasPrefix(r.Model, "xxxx") {
			t.Errorf("a %d-byte record for a refused 1 MB model name: %.300s", len(b), b)
		}
	}
	if len(recs) != 1 {
		t.Errorf("%d records; want 1 (the second is folded)", len(recs))
	}
	(&pass{c: c, a: api.Admission{}}).Done(api.Outcome{Model: "m", Err: errors.New(huge)})
	if recs := a.Take(); len(recs) != 1 || len(recs[0].Detail["error"]) > maxRecordDetail+len("…") {
		t.Errorf("a failed request's record holds a %d-byte error", len(recs[0].Detail["error"]))
	}
}
