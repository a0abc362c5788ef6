package capture_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// node is an API server with the access gate and a capture store, as
// `hearth serve` wires them.
type node struct {
	url     string
	tenants *tenant.Store
	capture *capture.Store
	audit   *audit.Log
	env     *testfixture.Env // the stores above
	srv     *testfixture.Server
}

func newNode(t *testing.T, jurisdiction string) *node {
	t.Helper()
	e := testfixture.NewEnv(t, nil)
	n := &node{tenants: e.Tenants, audit: e.Audit, env: e}
	var err error
	if n.capture, err = capture.Open(context.Background(), e.DB, capture.Config{Jurisdiction: jurisdiction, Node: e.ID.ID, Audit: n.audit}); err != nil {
		t.Fatal(err)
	}
	run, err := runner.New(runner.Config{Files: []string{stories}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Shutdown(context.Background()) })
	gate, err := access.New(access.Config{Tenants: n.tenants, Meter: e.Meter, Audit: n.audit, Node: e.ID.ID, Jurisdiction: jurisdiction})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Backend: run, Gate: gate, Capture: capture.NewHook(n.capture)})
	if err != nil {
		t.Fatal(err)
	}
	// The client has its answer before the node's bookkeeping (metering,
	// audit, capture) is done; do waits for the handler to return.
	n.srv = testfixture.NewServer(t, srv)
	n.url = n.srv.URL
	return n
}

// tenant creates a tenant and a key with the given scopes; it returns the
// key and the tenant's id.
func (n *node) tenant(t *testing.T, name string, pol tenant.Policy, scopes ...tenant.Scope) (key, id string) {
	t.Helper()
	secret, tn := n.env.Tenant(t, tenant.Tenant{Name: name, Policy: pol}, tenant.KeyOptions{Scopes: scopes})
	return secret, tn.ID
}

type reply struct {
	status int
	id     string // X-Request-Id
	body   map[string]any
}

func (n *node) do(t *testing.T, path, key, body string, header ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", n.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, id: resp.Header.Get("X-Request-Id")}
	json.Unmarshal(b, &r.body)
	n.srv.Wait() // the capture is kept by the time the handler returns
	return r
}

const planted = "wanjiku.kamau@example.co.ke"

func chatBody(extra string) string {
	return `{"model":"stories260k","max_tokens":4,"temperature":0,"user":"end-user-42"` + extra +
		`,"messages":[{"role":"user","content":"Write to ` + planted + ` about the story"}]}`
}

func errCode(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestCaptureThroughAPI(t *testing.T) {
	n := newNode(t, "KE")
	ctx := context.Background()
	both := []tenant.Scope{tenant.ScopeInference, tenant.ScopeFeedback}
	alpha, alphaID := n.tenant(t, "alpha", tenant.Policy{Capture: tenant.CaptureOn, Home: "KE", RetentionDays: 30}, both...)
	beta, betaID := n.tenant(t, "beta", tenant.Policy{Capture: tenant.CaptureOptIn, Home: "KE", RetentionDays: 30}, both...)
	gamma, gammaID := n.tenant(t, "gamma", tenant.Policy{Capture: tenant.CaptureOff, Home: "KE", RetentionDays: 30}, both...)

	// alpha captures everything: the stored prompt holds the placeholder.
	r := n.do(t, "/v1/chat/completions", alpha, chatBody(""))
	if r.status != 200 {
		t.Fatalf("alpha chat: %d %v", r.status, r.body)
	}
	respID, _ := r.body["id"].(string)
	if respID == "" || respID != r.id {
		t.Fatalf("response id %q, X-Request-Id %q", respID, r.id)
	}
	rec, err := n.capture.Get(ctx, alphaID, respID)
	if err != nil {
		t.Fatalf("alpha's capture: %v", err)
	}
	if len(rec.Messages) != 1 || rec.Messages[0].Content != "Write to <EMAIL_1> about the story" {
		t.Errorf("captured messages %+v", rec.Messages)
	}
	choice := r.body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	if rec.Output != choice || rec.Model != "stories260k" || rec.EndUser != "end-user-42" || rec.Endpoint != "chat_completions" {
		t.Errorf("captured output %q model %q user %q endpoint %q; answered %q", rec.Output, rec.Model, rec.EndUser, rec.Endpoint, choice)
	}
	if rec.Params["max_tokens"] != float64(4) || rec.Params["temperature"] != float64(0) {
		t.Errorf("captured params %v", rec.Params)
	}

	// Streams are captured too, once they have ended: OpenAI's SSE and
	// Ollama's NDJSON (its default).
	for _, st := range []struct{ path, body string }{
		{"/v1/chat/completions", chatBody(`,"stream":true`)},
		{"/api/chat", `{"model":"stories260k","options":{"num_predict":3},"messages":[{"role":"user","content":"Write to ` + planted + `"}]}`},
	} {
		r := n.do(t, st.path, alpha, st.body)
		if r.status != 200 {
			t.Fatalf("alpha stream %s: %d", st.path, r.status)
		}
		rec, err := n.capture.Get(ctx, alphaID, r.id)
		if err != nil {
			t.Errorf("alpha stream %s not captured: %v", st.path, err)
		} else if !strings.Contains(rec.Messages[0].Content, "<EMAIL_1>") || rec.Output == "" {
			t.Errorf("alpha stream %s captured %+v", st.path, rec)
		}
	}

	// beta is opt-in: only the request with "store": true or the header
	// is kept; Ollama's endpoints opt in by header.
	optIns := []struct {
		path, body string
		header     []string
		want       bool
	}{
		{"/v1/chat/completions", chatBody(""), nil, false},
		{"/v1/chat/completions", chatBody(`,"store":true`), nil, true},
		{"/v1/chat/completions", chatBody(`,"store":false`), []string{"X-Hearth-Capture", "true"}, true},
		{"/v1/completions", `{"model":"stories260k","max_tokens":3,"prompt":"Once upon"}`, []string{"X-Hearth-Capture", "1"}, true},
		{"/api/chat", `{"model":"stories260k","stream":false,"options":{"num_predict":3},"messages":[{"role":"user","content":"call +254 712 345 678"}]}`, nil, false},
		{"/api/chat", `{"model":"stories260k","stream":false,"options":{"num_predict":3},"messages":[{"role":"user","content":"call +254 712 345 678"}]}`, []string{"X-Hearth-Capture", "true"}, true},
		{"/api/generate", `{"model":"stories260k","stream":false,"system":"be brief","prompt":"Once","options":{"num_predict":3}}`, []string{"X-Hearth-Capture", "true"}, true},
	}
	for i, o := range optIns {
		r := n.do(t, o.path, beta, o.body, o.header...)
		if r.status != 200 {
			t.Fatalf("beta request %d: %d %v", i, r.status, r.body)
		}
		rec, err := n.capture.Get(ctx, betaID, r.id)
		if got := err == nil; got != o.want {
			t.Errorf("beta request %d (%s %v): captured %v (%v), want %v", i, o.path, o.header, got, err, o.want)
		}
		if err == nil && strings.Contains(o.body, "+254") && !strings.Contains(rec.Messages[0].Content, "<PHONE_1>") {
			t.Errorf("beta request %d: captured %q, want the phone number scrubbed", i, rec.Messages[0].Content)
		}
		if err == nil && o.path == "/api/generate" && (len(rec.Messages) != 2 || rec.Messages[0].Role != "system" || rec.Messages[1].Content != "Once") {
			t.Errorf("captured generate messages %+v", rec.Messages)
		}
	}

	// gamma has capture off: nothing, even when asked.
	r = n.do(t, "/v1/chat/completions", gamma, chatBody(`,"store":true`), "X-Hearth-Capture", "true")
	if r.status != 200 {
		t.Fatalf("gamma chat: %d", r.status)
	}
	if recs, err := n.capture.List(ctx, gammaID, capture.Filter{}); len(recs) != 0 || (err != nil && !errors.Is(err, capture.ErrKeyDeleted)) {
		t.Errorf("gamma has %d captures (%v), want none", len(recs), err)
	}

	// Feedback: alpha may rate its response; beta and gamma get a 404 for
	// it, exactly as for an id that does not exist.
	fb := `{"response_id":"` + respID + `","rating":1,"correction":"Mail ` + planted + ` today","tags":["helpful"],"comment":"good"}`
	r = n.do(t, "/v1/feedback", alpha, fb)
	if r.status != 200 || r.body["status"] != "recorded" || !strings.HasPrefix(r.body["id"].(string), "fb_") {
		t.Fatalf("alpha's feedback: %d %v", r.status, r.body)
	}
	for _, key := range []string{beta, gamma} {
		if r := n.do(t, "/v1/feedback", key, fb); r.status != 404 || errCode(r) != "response_not_found" {
			t.Errorf("another tenant's feedback: %d %v, want 404", r.status, r.body)
		}
	}
	// Stars are kept apart from thumbs.
	for _, b := range []string{`{"response_id":"` + respID + `","rating":4}`, `{"response_id":"` + respID + `","rating":1,"scale":"stars"}`} {
		if r := n.do(t, "/v1/feedback", alpha, b); r.status != 200 {
			t.Errorf("feedback %s: %d %v", b, r.status, r.body)
		}
	}
	if r := n.do(t, "/v1/feedback", alpha, `{"response_id":"chatcmpl-nope","rating":1}`); r.status != 404 {
		t.Errorf("unknown id: %d %v, want 404", r.status, r.body)
	}
	rec, err = n.capture.Get(ctx, alphaID, respID)
	if err != nil || len(rec.Feedback) != 3 || rec.Feedback[1].Rating != 4 || rec.Feedback[2].Rating != 1 || rec.Feedback[2].Thumb != 0 {
		t.Fatalf("alpha's record after feedback: %v, %+v", err, rec.Feedback)
	}
	if got := rec.Feedback[0]; got.Thumb != 1 || got.Rating != 0 || got.Correction != "Mail <EMAIL_1> today" || got.Comment != "good" || len(got.Tags) != 1 {
		t.Errorf("stored feedback %+v", got)
	}

	// Bad input is a 400; a key without the feedback scope a 403.
	bad := []string{
		`{"response_id":"` + respID + `","rating":0}`,
		`{"response_id":"` + respID + `","rating":7}`,
		`{"response_id":"` + respID + `","rating":-3}`,
		`{"response_id":"` + respID + `"}`,
		`{"rating":1}`,
		`{"response_id":"` + respID + `","rating":"up"}`,
		`not json`,
	}
	for _, b := range bad {
		if r := n.do(t, "/v1/feedback", alpha, b); r.status != 400 {
			t.Errorf("feedback %s: %d %v, want 400", b, r.status, r.body)
		}
	}
	inferOnly, _, err := n.tenants.CreateKey(ctx, "alpha", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	if err != nil {
		t.Fatal(err)
	}
	if r := n.do(t, "/v1/feedback", inferOnly, fb); r.status != 403 {
		t.Errorf("feedback with an inference-only key: %d %v, want 403", r.status, r.body)
	}
	if r := n.do(t, "/v1/feedback", "hk_wrong", fb); r.status != 401 {
		t.Errorf("feedback without a valid key: %d, want 401", r.status)
	}
	_ = gammaID
}

// A node outside the tenant's home may serve it but keeps nothing.
func TestCaptureNotOnForeignNode(t *testing.T) {
	n := newNode(t, "NG")
	key, id := n.tenant(t, "alpha", tenant.Policy{Capture: tenant.CaptureOn, Jurisdictions: []string{"KE", "NG"}, Home: "KE", RetentionDays: 30},
		tenant.ScopeInference, tenant.ScopeFeedback)
	r := n.do(t, "/v1/chat/completions", key, chatBody(`,"store":true`))
	if r.status != 200 {
		t.Fatalf("chat on the NG node: %d %v", r.status, r.body)
	}
	if _, err := n.capture.Get(context.Background(), id, r.id); !errors.Is(err, capture.ErrNotFound) {
		t.Errorf("capture on a foreign node: %v, want ErrNotFound", err)
	}
	if c := n.capture.Counts(); c.Saved != 0 || c.Dropped != 1 {
		t.Errorf("counts %+v, want 0 saved, 1 dropped", c)
	}
	if r := n.do(t, "/v1/feedback", key, `{"response_id":"`+r.id+`","rating":1}`); r.status != 404 {
		t.Errorf("feedback on an uncaptured response: %d, want 404", r.status)
	}
}
