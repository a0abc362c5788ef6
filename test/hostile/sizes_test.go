package hostile

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/test/fleet"
)

// sizeAttacks are requests whose numbers, unchecked, size an allocation
// or overflow an estimate. Each must get a clear answer and leave the
// node running. want is the status; says, a part of the answer.
var sizeAttacks = []struct {
	name, path, body string
	want             int
	says             string
}{
	{"chat max_tokens 1e12", "/v1/chat/completions", `{"model":"stories260k","max_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`, 400, "max_tokens"},
	{"chat max_tokens MaxInt64", "/v1/chat/completions", `{"model":"stories260k","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"hi"}]}`, 400, "max_tokens"},
	{"chat max_completion_tokens 1e12, streamed", "/v1/chat/completions", `{"model":"stories260k","stream":true,"max_completion_tokens":1000000000000,"messages":[{"role":"user","content":"hi"}]}`, 400, "max_completion_tokens"},
	{"completions max_tokens 1e12", "/v1/completions", `{"model":"stories260k","max_tokens":1000000000000,"prompt":"Once"}`, 400, "max_tokens"},
	{"ollama num_predict 1e12 (lowered to the context)", "/api/generate", `{"model":"stories260k","prompt":"Once","stream":false,"options":{"num_predict":1000000000000,"temperature":0}}`, 200, `"done":true`},
	{"ollama chat num_predict MaxInt64", "/api/chat", `{"model":"stories260k","stream":false,"messages":[{"role":"user","content":"hi"}],"options":{"num_predict":9223372036854775807}}`, 200, `"done":true`},
	{"ollama num_ctx 1e12 (the node's context stands)", "/api/generate", `{"model":"stories260k","prompt":"Once","stream":false,"options":{"num_ctx":1000000000000,"num_predict":4}}`, 200, `"done":true`},
	{"n 1e9", "/v1/chat/completions", `{"model":"stories260k","n":1000000000,"messages":[{"role":"user","content":"hi"}]}`, 400, "'n'"},
	{"top_logprobs 1e9", "/v1/chat/completions", `{"model":"stories260k","logprobs":true,"top_logprobs":1000000000,"messages":[{"role":"user","content":"hi"}]}`, 400, "top_logprobs"},
	{"logit_bias", "/v1/chat/completions", `{"model":"stories260k","logit_bias":{"1":100,"2":100},"messages":[{"role":"user","content":"hi"}]}`, 400, "logit_bias"},
	{"a stop of 100 kB", "/v1/completions", `{"model":"stories260k","prompt":"Once","stop":"` + strings.Repeat("s", 100_000) + `"}`, 400, "stop"},
	{"1000 Ollama stops", "/api/generate", `{"model":"stories260k","prompt":"Once","stream":false,"options":{"stop":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 1000), ",") + `]}}`, 400, "stop"},
	{"embedding dimensions 1e12", "/v1/embeddings", `{"model":"stories260k","input":"hi","dimensions":1000000000000}`, 400, "dimensions"},
	{"10000 embedding inputs", "/api/embed", `{"model":"stories260k","input":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 10000), ",") + `]}`, 400, "input"},
	{"token ids out of range", "/v1/completions", `{"model":"stories260k","prompt":[1,2,2147483647]}`, 400, "vocabulary"},
}

// TestHostileSizes: every absurd size a client can send, on both API
// shapes, against a real node with a tenant (so that limits and metering
// are in the path): a 400 naming the field, or a clamped answer, and the
// node lives. `max_tokens: 1e12` used to end the process ("fatal error:
// runtime: out of memory"), and MaxInt64 gave a 500 from metering.
func TestHostileSizes(t *testing.T) {
	dir := t.TempDir()
	key := Tenant(t, dir, "acme", "--monthly-tokens", "100000000")
	n := Start(t, dir, "--max-tokens", "100")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, a := range sizeAttacks {
		status, body, err := n.Post(ctx, a.path, a.body, "Authorization", "Bearer "+key)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		if status != a.want || !strings.Contains(body, a.says) {
			t.Errorf("%s: %d %.300s; want %d saying %q", a.name, status, body, a.want, a.says)
		}
		n.MustBeAlive()
	}
	// The node still serves, and every request was recorded.
	status, body, err := n.Post(ctx, "/v1/chat/completions", `{"model":"stories260k","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+key)
	if err != nil || status != 200 {
		t.Fatalf("after the attacks: %d %v %s", status, err, body)
	}
}

// TestHostileMaxTokensLimit: serve --max-tokens-limit caps what one
// request may generate (--max-tokens only sets a default).
func TestHostileMaxTokensLimit(t *testing.T) {
	n := Start(t, "", "--max-tokens-limit", "20")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, body, _ := n.Post(ctx, "/v1/chat/completions", `{"model":"stories260k","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`)
	if status != 400 || !strings.Contains(body, "at most 20") {
		t.Errorf("max_tokens 200 over a limit of 20: %d %s", status, body)
	}
	status, body, _ = n.Post(ctx, "/api/generate", `{"model":"stories260k","prompt":"Once","stream":false,"options":{"num_predict":200,"temperature":0}}`)
	if status != 200 || !strings.Contains(body, `"eval_count":20`) && !strings.Contains(body, `"done_reason":"stop"`) {
		t.Errorf("num_predict 200 over a limit of 20: %d %s; want at most 20 tokens", status, body)
	}
}

// TestHostileSizesThroughFleet: the same requests sent to a routing node
// for a tenant served only in another jurisdiction reach the remote node,
// which answers them; neither node dies. (The fatal request used to kill
// the remote node, and the gateway's retries the next one.)
func TestHostileSizesThroughFleet(t *testing.T) {
	f := fleet.New(t, 250*time.Millisecond)
	ke := f.Add(fleet.Spec{Name: "ke", Jurisdiction: "KE"})
	ng := f.Add(fleet.Spec{Name: "ng", Jurisdiction: "NG"})
	f.CreateTenant("ng-health", []string{"NG"}, "NG")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, ke); err != nil {
		t.Fatal(err)
	}
	key := ke.Key("ng-health")
	for _, a := range sizeAttacks {
		if a.path == "/v1/embeddings" || a.path == "/api/embed" {
			continue // embeddings are routed too, but their answers are not the point here
		}
		status, body, node := post(ctx, t, ke.URL+a.path, key, a.body)
		if status != a.want || !strings.Contains(body, a.says) || node != ng.ID {
			t.Errorf("%s: %d from node %q: %.300s; want %d saying %q from the NG node %s", a.name, status, node, body, a.want, a.says, ng.ID)
		}
		if !ke.Alive() || !ng.Alive() {
			t.Fatalf("%s: a node died (KE alive %v, NG alive %v):\n%s", a.name, ke.Alive(), ng.Alive(), tail(ng.Log(), 30))
		}
	}
}

// post sends body to url with an API key and returns the status, the
// body and the node that answered (X-Hearth-Node).
func post(ctx context.Context, t *testing.T, url, key, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(data), resp.Header.Get("X-Hearth-Node")
}
