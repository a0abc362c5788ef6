package api

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// fakeDeployments serves the deployment "assistant" with "fake" (the
// stable) and "long" (the candidate, for the end user "canary").
type fakeDeployments struct {
	mu       sync.Mutex
	picked   []string // model, user
	observed []Outcome
	handles  []any
	feedback []FeedbackInput
}

func (d *fakeDeployments) Pick(_ context.Context, model, user string) (Pick, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.picked = append(d.picked, model+"|"+user)
	if model != "assistant" {
		return Pick{}, nil
	}
	if user == "canary" {
		return Pick{Model: "long", Rollout: "ro_1", Arm: "candidate", Handle: 2}, nil
	}
	return Pick{Model: "fake", Rollout: "ro_1", Arm: "stable", Handle: 1}, nil
}

func (d *fakeDeployments) Observe(_ context.Context, p Pick, o Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observed = append(d.observed, o)
	d.handles = append(d.handles, p.Handle)
}

func (d *fakeDeployments) Feedback(_ context.Context, fb FeedbackInput) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.feedback = append(d.feedback, fb)
}

func TestDeploymentsPick(t *testing.T) {
	dep := &fakeDeployments{}
	capt := &recordingCapturer{}
	h := newHarness(t, func(c *Config) { c.Deployments, c.Gate, c.Capture = dep, testGate{}, capt })
	for _, tc := range []struct {
		name, path, body string
		served, header   string // the backend model that ran; the rollout header
		picked           string
	}{
		{"chat, candidate's user", "/v1/chat/completions", `{"model":"assistant","user":"canary","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			"long", "ro_1 candidate", "assistant|canary"},
		{"chat, another user", "/v1/chat/completions", `{"model":"assistant","user":"u2","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			"fake", "ro_1 stable", "assistant|u2"},
		{"streamed completion", "/v1/completions", `{"model":"assistant","user":"canary","max_tokens":2,"stream":true,"prompt":"once"}`,
			"long", "ro_1 candidate", "assistant|canary"},
		{"ollama has no user", "/api/generate", `{"model":"assistant","stream":false,"prompt":"p","options":{"num_predict":2}}`,
			"fake", "ro_1 stable", "assistant|"},
		{"an explicit version bypasses", "/v1/chat/completions", `{"model":"long","user":"canary","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			"long", "", "long|canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.backend.models[tc.served].generations()
			n := len(dep.observed)
			rec := h.do("POST", tc.path, tc.body)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if got := h.backend.models[tc.served].generations(); got != before+1 {
				t.Fatalf("the backend's %q ran %d times, want 1", tc.served, got-before)
			}
			if got := rec.Header().Get(RolloutHeader); got != tc.header {
				t.Errorf("%s = %q, want %q", RolloutHeader, got, tc.header)
			}
			if last := dep.picked[len(dep.picked)-1]; last != tc.picked {
				t.Errorf("picked %q, want %q", last, tc.picked)
			}
			if tc.header == "" {
				if len(dep.observed) != n {
					t.Errorf("an unpicked request was observed")
				}
				return
			}
			if len(dep.observed) != n+1 {
				t.Fatalf("observed %d outcomes, want 1", len(dep.observed)-n)
			}
			o := dep.observed[n]
			if o.Model != tc.served || o.ResponseID != rec.Header().Get("X-Request-Id") || o.Err != nil || o.CompletionTokens == 0 {
				t.Errorf("outcome %+v", o)
			}
			if want := map[string]int{"long": 2, "fake": 1}[tc.served]; dep.handles[n] != want {
				t.Errorf("handle %v, want %v", dep.handles[n], want)
			}
		})
	}
	// A "lora" field names the adapters outright: no deployment picks
	// for it, so its refusal (this backend has no adapters) counts against
	// no arm.
	picked, observed := len(dep.picked), len(dep.observed)
	lr := h.do("POST", "/v1/chat/completions", `{"model":"assistant","user":"canary","lora":[{"id":0}],"max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`)
	if lr.Code != 400 || lr.Header().Get(RolloutHeader) != "" || len(dep.picked) != picked || len(dep.observed) != observed {
		t.Errorf("a request with a lora field: %d %s, %s %q, %d picks and %d outcomes", lr.Code, lr.Body, RolloutHeader,
			lr.Header().Get(RolloutHeader), len(dep.picked)-picked, len(dep.observed)-observed)
	}
	// Feedback the capturer accepted reaches the deployments.
	rec := h.do("POST", "/v1/feedback", `{"response_id":"chatcmpl-1","rating":1}`)
	if rec.Code != 200 || len(dep.feedback) != 1 || dep.feedback[0].ResponseID != "chatcmpl-1" || dep.feedback[0].Thumb != 1 {
		t.Fatalf("%d %s %+v", rec.Code, rec.Body, dep.feedback)
	}
	capt.fbErr = ErrResponseNotFound
	if rec := h.do("POST", "/v1/feedback", `{"response_id":"nosuch","rating":1}`); rec.Code != 404 || len(dep.feedback) != 1 {
		t.Fatalf("refused feedback: %d, %d reached the deployments", rec.Code, len(dep.feedback))
	}
	// A deployment whose version the backend lacks is a 404 naming it,
	// and an error of that version's.
	dep2 := &fakeDeployments{}
	h2 := newHarness(t, func(c *Config) { c.Deployments = &missingDeployments{dep2} })
	rec = h2.do("POST", "/v1/chat/completions", `{"model":"assistant","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "assistant:gone@3") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(dep2.observed) != 1 || dep2.observed[0].Err == nil || dep2.observed[0].Model != "assistant:gone@3" {
		t.Fatalf("the failed pick was observed as %+v", dep2.observed)
	}
}

type missingDeployments struct{ *fakeDeployments }

func (missingDeployments) Pick(context.Context, string, string) (Pick, error) {
	return Pick{Model: "assistant:gone@3", Rollout: "ro_2", Arm: "candidate"}, nil
}
