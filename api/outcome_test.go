package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// recordingGate lets every request through and keeps the outcomes.
type recordingGate struct {
	mu  sync.Mutex
	out []Outcome
}

func (g *recordingGate) Authenticate(*http.Request) (Caller, error)  { return g, nil }
func (g *recordingGate) Sees(string) bool                            { return true }
func (g *recordingGate) Context(ctx context.Context) context.Context { return ctx }
func (g *recordingGate) Use(context.Context, string, string) error   { return nil }
func (g *recordingGate) Admit(context.Context, Admission) (Pass, error) {
	return g, nil
}
func (g *recordingGate) Done(o Outcome) {
	g.mu.Lock()
	g.out = append(g.out, o)
	g.mu.Unlock()
}

// TestOutcomeDurationIsTheModels: the compute time metered for a request
// is the model's own (prompt and generation), not the wall time of the
// handler, which also holds the wait for a client that reads slowly.
func TestOutcomeDurationIsTheModels(t *testing.T) {
	g := &recordingGate{}
	h := newHarness(t, func(c *Config) { c.Gate = g })
	for _, body := range []string{
		`{"model":"fake","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"fake","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	} {
		if rec := h.do("POST", "/v1/chat/completions", body); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.out) != 2 {
		t.Fatalf("%d outcomes, want 2", len(g.out))
	}
	for _, o := range g.out {
		// The fake model reports 3 ms of prompt and 7 ms of generation.
		if o.Duration != 10*time.Millisecond {
			t.Errorf("outcome duration %v, want the model's 10ms", o.Duration)
		}
	}
}
