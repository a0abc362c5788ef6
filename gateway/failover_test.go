package gateway_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// TestStreamSurvivesNodeDeath: a stream served by one NG node goes on
// from another NG node when the first leaves mid-stream. The client sees
// one response (one id, one role chunk, [DONE]) whose text is exactly
// what an uninterrupted run gives (greedy, or sampled with a seed), and
// the node that finished it records the response in its own audit log.
func TestStreamSurvivesNodeDeath(t *testing.T) {
	for name, sampling := range map[string]string{"greedy": `"temperature":0`, "sampled": `"temperature":0.9,"top_p":0.95,"seed":11`} {
		t.Run(name, func(t *testing.T) { testStreamSurvives(t, sampling) })
	}
}

func testStreamSurvives(t *testing.T, sampling string) {
	ke, ngs := slowFleet(t, 15*time.Millisecond, 2)
	ng1, ng2 := ngs[0], ngs[1]
	byID := map[string]*node{ng1.id.ID: ng1, ng2.id.ID: ng2}
	ctx := context.Background()
	for _, n := range []*node{ke, ng1, ng2} {
		if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}, Home: "NG"}}); err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := ke.tenants.CreateKey(ctx, "ng-health", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	if err != nil {
		t.Fatal(err)
	}
	chat := `{"model":"stories260k","max_tokens":48,` + sampling + `,"messages":[{"role":"user","content":"Tell me about a little bird"}]`

	// What an uninterrupted run says.
	resp, body := post(t, ke.url+"/v1/chat/completions", key, chat+`}`, nil)
	var whole struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &whole) != nil || whole.Choices[0].Message.Content == "" {
		t.Fatalf("reference run: %d %s", resp.StatusCode, body)
	}
	want := whole.Choices[0].Message.Content

	req, _ := http.NewRequest("POST", ke.url+"/v1/chat/completions", strings.NewReader(chat+`,"stream":true,"stream_options":{"include_usage":true}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := byID[resp.Header.Get("X-Hearth-Node")]
	if resp.StatusCode != 200 || first == nil {
		t.Fatalf("stream: status %d from node %q", resp.StatusCode, resp.Header.Get("X-Hearth-Node"))
	}
	other := ng1
	if first == ng1 {
		other = ng2
	}
	var text strings.Builder
	ids := map[string]bool{}
	roles, chunks, done := 0, 0, false
	var usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var c struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta struct{ Role, Content string } `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error any `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil || c.Error != nil {
			t.Fatalf("event %s (%v)", data, err)
		}
		ids[c.ID] = true
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				roles++
			}
			if ch.Delta.Content != "" {
				text.WriteString(ch.Delta.Content)
				chunks++
				if chunks == 8 {
					// The serving node leaves mid-stream.
					first.fab.Shutdown(context.Background())
				}
			}
		}
	}
	if chunks <= 8 {
		t.Fatalf("the stream ended after %d chunks, before the node could leave", chunks)
	}
	if !done || len(ids) != 1 || roles != 1 {
		t.Errorf("stream: [DONE] %v, ids %v, %d role chunks; want one response", done, ids, roles)
	}
	if text.String() != want {
		t.Errorf("stream text after failover:\n%q\nuninterrupted:\n%q", text.String(), want)
	}
	if got := metricValue(t, ke.reg, "hearth_route_retries_total", "stage", "mid_stream"); got != 1 {
		t.Errorf("hearth_route_retries_total{stage=mid_stream} = %v, want 1", got)
	}
	if usage == nil || usage.CompletionTokens == 0 {
		t.Errorf("usage %+v", usage)
	}
	var id string
	for k := range ids {
		id = k
	}
	// The node that took over served the continuation under the same
	// response id, and says so in its own audit log.
	waitFor(t, "the other node's audit record", func() bool {
		return hasRecord(readAudit(t, other), func(r audit.Record) bool {
			return r.Kind == audit.KindRequest && r.Decision == "allow" && r.ResponseID == id && r.Jurisdiction == "NG"
		})
	})
	// The gateway records its decisions once the response is out.
	waitFor(t, "the gateway's record of the continuation on "+other.id.ID, func() bool {
		return hasRecord(readAudit(t, ke), func(r audit.Record) bool {
			return r.Kind == audit.KindRoute && r.Detail["resume"] == "true" && r.Detail["node"] == other.id.ID
		})
	})
}

// TestClientGoneCancelsRemote: a client that hangs up mid-stream stops
// the generation on the node serving it, across the fabric.
func TestClientGoneCancelsRemote(t *testing.T) {
	ke, ngs := slowFleet(t, 20*time.Millisecond, 1)
	ng := ngs[0]
	key := ngTenant(t, ke, ng)
	// 400 tokens at 20 ms a step: 8 s if nobody stops it.
	req, _ := http.NewRequest("POST", ke.url+"/v1/chat/completions", strings.NewReader(
		`{"model":"stories260k","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"Tell me a long story"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Hearth-Node") != ng.id.ID {
		t.Fatalf("served by %q, want the NG node", resp.Header.Get("X-Hearth-Node"))
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 6 && sc.Scan(); i++ {
	}
	if _, busy, _, _, _ := ng.run.Load(); busy != 1 {
		t.Fatalf("NG node runs %d sequences mid-stream, want 1", busy)
	}
	resp.Body.Close()
	start := time.Now()
	waitFor(t, "the NG node to stop generating", func() bool {
		_, busy, _, _, _ := ng.run.Load()
		return busy == 0
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the remote generation ran on for %v after the client left", d)
	}
}

// TestTriesNodesThatCanServe: a node that does not know the tenant (an
// operator forgot to create it there) or has no room is passed over
// before anything is answered; with no other node, the client gets the
// full node's own 503 and Retry-After.
func TestTriesNodesThatCanServe(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(t, "KE", opPriv, opPub, nil)
	full := runner.Config{Sched: sched.Config{MaxSeqs: 1, MaxQueue: 1, StepDelay: 30 * time.Millisecond}}
	ngA := startNodeWith(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()}, full)
	ngB := startNode(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()})
	waitMesh(t, ke, ngA, ngB)
	ctx := context.Background()
	create := func(name string, nodes ...*node) string {
		for _, n := range nodes {
			if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: name, Policy: tenant.Policy{Jurisdictions: []string{"NG"}}}); err != nil {
				t.Fatal(err)
			}
		}
		k, _, err := ke.tenants.CreateKey(ctx, name, tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// Known on NG-b only: every request lands there.
	onlyB := create("only-b", ke, ngB)
	chat := `{"model":"stories260k","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}`
	for i := range 8 {
		resp, body := post(t, ke.url+"/v1/chat/completions", onlyB, chat, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != ngB.id.ID {
			t.Fatalf("request %d: %d from %q: %s", i, resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
		}
	}

	// Known on the full NG-a only: with it saturated, the client gets
	// its 503 and Retry-After, not a policy error.
	onlyA := create("only-a", ke, ngA)
	long := `{"model":"stories260k","max_tokens":100,"messages":[{"role":"user","content":"Tell me a story"}]}`
	type answer struct {
		code  int
		retry string
		node  string
	}
	answers := make(chan answer, 6)
	for range 6 {
		go func() {
			req, _ := http.NewRequest("POST", ke.url+"/v1/chat/completions", strings.NewReader(long))
			req.Header.Set("Authorization", "Bearer "+onlyA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{}
				return
			}
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Hearth-Node")}
		}()
	}
	busy := 0
	for range 6 {
		a := <-answers
		switch {
		case a.code == 503 && a.retry != "" && a.node == ngA.id.ID:
			busy++
		case a.code != 200:
			t.Errorf("answer %+v: want 200, or NG-a's own 503 with Retry-After", a)
		}
	}
	if busy == 0 {
		t.Errorf("six long requests to a node with one slot and a queue of one: none was refused")
	}
}
