package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/gateway"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testfixture"
	hearthnode "github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// node is one whole Hearth node in-process: API, access gate, runner,
// fabric and router.
type node struct {
	url     string
	fab     *fabric.Node
	tenants *tenant.Store
	audit   *audit.Log
	id      *identity.Identity
	dir     string
	run     *runner.Runner
	reg     *prometheus.Registry // the node's metrics, the router's among them
}

func startNode(t testing.TB, jur string, opPriv ed25519.PrivateKey, opPub ed25519.PublicKey, join []string) *node {
	t.Helper()
	return startNodeWith(t, jur, opPriv, opPub, join, runner.Config{})
}

// startNodeWith starts a node whose runner is configured by rc (Files is
// set here); its heartbeats announce models (default: stories260k).
func startNodeWith(t testing.TB, jur string, opPriv ed25519.PrivateKey, opPub ed25519.PublicKey, join []string, rc runner.Config, models ...string) *node {
	t.Helper()
	if len(models) == 0 {
		models = []string{"stories260k"}
	}
	return startNodeLoad(t, jur, opPriv, opPub, join, rc, fabric.Load{Models: models, Slots: 4})
}

// startNodeLoad starts a node whose heartbeats announce load.
func startNodeLoad(t testing.TB, jur string, opPriv ed25519.PrivateKey, opPub ed25519.PublicKey, join []string, rc runner.Config, load fabric.Load) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{dir: t.TempDir()}
	var err error
	if n.id, err = identity.LoadOrCreate(n.dir); err != nil {
		t.Fatal(err)
	}
	cert, err := fabric.Certify(opPriv, n.id.Public, "site-"+strings.ToLower(jur), jur, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := fabric.WriteCert(fabric.CertPath(n.dir), cert); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.Files = []string{stories}
	nd, err := hearthnode.New(hearthnode.Config{DataDir: n.dir, Listener: ln, Jurisdiction: jur, OperatorKey: opPub, ClusterPlain: true,
		Runner: rc, Audit: audit.Options{NoSync: true},
		Fabric: fabric.Config{Site: "site-" + strings.ToLower(jur), ClusterListen: "127.0.0.1:0", Join: join, HeartbeatInterval: 100 * time.Millisecond,
			Status: func() fabric.Load { return load }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n.fab, n.tenants, n.audit, n.run, n.reg = nd.Fabric(), nd.Tenants(), nd.Audit(), nd.Runner(), nd.Registry()
	n.url = "http://" + ln.Addr().String()
	t.Cleanup(func() { nd.Shutdown(context.Background()) })
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitMesh waits until every node holds every other certified.
func waitMesh(t testing.TB, nodes ...*node) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok := true
		for _, a := range nodes {
			for _, b := range nodes {
				if p, found := a.fab.Peer(b.id.ID); a != b && (!found || !p.Certified) {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d nodes to certify each other", len(nodes))
		}
	}
}

func post(t *testing.T, url, key, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestRoutesWithinPolicy runs a two-node fleet (KE, NG). A tenant allowed
// only in NG sends its request to the KE node: it runs on the NG node,
// which records it in its own audit log, and the KE node records the
// routing decision. A tenant allowed only in BR, where no node is, gets a
// 503 naming its policy; a narrowing header outside the policy is a 400.
func TestRoutesWithinPolicy(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(t, "KE", opPriv, opPub, nil)
	ng := startNode(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()})
	waitMesh(t, ke, ng)
	ctx := context.Background()
	// The same tenants on both nodes (tenant state is per node for now).
	var keys []string
	for _, n := range []*node{ke, ng} {
		for _, tn := range []tenant.Tenant{
			{Name: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}, Home: "NG"}},
			{Name: "br-bank", Policy: tenant.Policy{Jurisdictions: []string{"BR"}, Home: "BR"}},
			{Name: "pan-africa", Policy: tenant.Policy{Jurisdictions: []string{"KE", "NG"}, Home: "KE"}},
		} {
			if _, err := n.tenants.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"ng-health", "br-bank", "pan-africa"} {
		k, _, err := ke.tenants.CreateKey(ctx, name, tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	chat := `{"model":"stories260k","max_tokens":6,"temperature":0,"messages":[{"role":"user","content":"Once upon a time"}]}`

	resp, body := post(t, ke.url+"/v1/chat/completions", keys[0], chat, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != ng.id.ID {
		t.Fatalf("NG-only tenant at the KE node: %d, node %q: %s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}
	var out struct {
		ID    string `json:"id"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal([]byte(body), &out)
	if out.Usage.CompletionTokens != 6 {
		t.Errorf("forwarded answer: %s", body)
	}
	// Streaming works across nodes too.
	resp, body = post(t, ke.url+"/v1/chat/completions", keys[0], strings.Replace(chat, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "data: [DONE]") {
		t.Errorf("forwarded stream: %d %s", resp.StatusCode, body)
	}

	// Ollama's clients name models with the default tag.
	resp, body = post(t, ke.url+"/api/chat", keys[0], `{"model":"stories260k:latest","stream":false,"options":{"num_predict":3},"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != ng.id.ID || !strings.Contains(body, `"done":true`) {
		t.Errorf("Ollama chat for stories260k:latest: %d from %q: %s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}

	// Embeddings travel too.
	resp, body = post(t, ke.url+"/v1/embeddings", keys[0], `{"model":"stories260k","input":"Once upon a time"}`, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != ng.id.ID || !strings.Contains(body, `"embedding"`) {
		t.Errorf("embeddings for an NG-only tenant at KE: %d from %q: %.200s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}

	// Each node's own audit log says where the request ran.
	waitFor(t, "the serving node's audit record", func() bool { seq, _ := ng.audit.Head(); return seq >= 4 })
	waitFor(t, "the gateway's route records", func() bool { seq, _ := ke.audit.Head(); return seq >= 4 })
	ke.audit.Close()
	ng.audit.Close()
	if recs := readAudit(t, ng); !hasRecord(recs, func(r audit.Record) bool {
		return r.Kind == audit.KindRequest && r.Decision == "allow" && r.Tenant == "ng-health" && r.Jurisdiction == "NG" && r.ResponseID == out.ID
	}) {
		t.Errorf("NG's audit log has no record of the request it served: %+v", recs)
	}
	if recs := readAudit(t, ke); !hasRecord(recs, func(r audit.Record) bool {
		return r.Kind == audit.KindRoute && r.Tenant == "ng-health" && r.Detail["node"] == ng.id.ID
	}) || hasRecord(recs, func(r audit.Record) bool { return r.Kind == audit.KindRequest && r.Decision == "allow" }) {
		t.Errorf("KE's audit log: want a route record and no served request: %+v", recs)
	}

	// No node in BR: fail closed, naming the policy.
	resp, body = post(t, ke.url+"/v1/chat/completions", keys[1], chat, nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "BR") {
		t.Errorf("BR-only tenant: %d %s", resp.StatusCode, body)
	}
	// Narrowing inside the policy picks that jurisdiction; outside it, 400.
	resp, body = post(t, ke.url+"/v1/chat/completions", keys[2], chat, map[string]string{gateway.JurisdictionHeader: "NG"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != ng.id.ID {
		t.Errorf("pan-africa narrowed to NG: %d node %q %s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}
	resp, body = post(t, ke.url+"/v1/chat/completions", keys[2], chat, map[string]string{gateway.JurisdictionHeader: "KE"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != "" {
		t.Errorf("pan-africa narrowed to KE (this node): %d node %q %s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}
	resp, _ = post(t, ke.url+"/v1/chat/completions", keys[2], chat, map[string]string{gateway.JurisdictionHeader: "BR"})
	if resp.StatusCode != 400 {
		t.Errorf("narrowing outside the policy: %d", resp.StatusCode)
	}
}

func readAudit(t *testing.T, n *node) []audit.Record {
	t.Helper()
	return testfixture.AuditRecords(t, filepath.Join(n.dir, "audit"))
}

func hasRecord(recs []audit.Record, f func(audit.Record) bool) bool {
	for _, r := range recs {
		if f(r) {
			return true
		}
	}
	return false
}

// TestFailClosedIsAudited: the refusal of a request no permitted node can
// serve is a routing decision like any other, in the gateway's audit log
// with the policy it applied.
func TestFailClosedIsAudited(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(t, "KE", opPriv, opPub, nil)
	ctx := context.Background()
	if _, err := ke.tenants.CreateTenant(ctx, tenant.Tenant{Name: "br-bank", Policy: tenant.Policy{Jurisdictions: []string{"BR"}}}); err != nil {
		t.Fatal(err)
	}
	key, _, _ := ke.tenants.CreateKey(ctx, "br-bank", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	resp, body := post(t, ke.url+"/v1/chat/completions", key, `{"model":"stories260k","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("BR-only tenant on a KE-only fleet: %d %s", resp.StatusCode, body)
	}
	if got := metricValue(t, ke.reg, "hearth_route_decisions_total", "outcome", "deny"); got != 1 {
		t.Errorf("hearth_route_decisions_total{outcome=deny} = %v, want 1", got)
	}
	if got := metricValue(t, ke.reg, "hearth_fleet_peers", "jurisdiction", "KE"); got != 1 {
		t.Errorf("hearth_fleet_peers{jurisdiction=KE} = %v, want 1 (the node itself)", got)
	}
	waitFor(t, "the refusal in the audit log", func() bool {
		return hasRecord(readAudit(t, ke), func(r audit.Record) bool {
			return r.Kind == audit.KindRoute && r.Decision == "deny" && r.Tenant == "br-bank" && strings.Contains(r.Reason, "BR")
		})
	})
}

// metricValue is the value of the series of metric name whose label has
// value v (summed, if several match).
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, v string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == v {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}

// TestModelsListTheFleet: GET /v1/models at a routing node lists the
// models the caller can reach through it, its own and those certified
// nodes serve in the caller's jurisdictions, and nothing from elsewhere.
func TestModelsListTheFleet(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(t, "KE", opPriv, opPub, nil)
	ng := startNodeWith(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()}, runner.Config{}, "stories260k", "ng-only-model")
	br := startNodeWith(t, "BR", opPriv, opPub, []string{ke.fab.ClusterURL()}, runner.Config{}, "stories260k", "br-only-model")
	waitMesh(t, ke, ng, br)
	ctx := context.Background()
	if _, err := ke.tenants.CreateTenant(ctx, tenant.Tenant{Name: "africa", Policy: tenant.Policy{Jurisdictions: []string{"KE", "NG"}}}); err != nil {
		t.Fatal(err)
	}
	key, _, _ := ke.tenants.CreateKey(ctx, "africa", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", ke.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/v1/models")
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	json.Unmarshal([]byte(body), &list)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if code != 200 || !slices.Contains(ids, "stories260k") || !slices.Contains(ids, "ng-only-model") || slices.Contains(ids, "br-only-model") || len(ids) != 2 {
		t.Errorf("models at KE for a KE/NG tenant: %d %v; want stories260k and ng-only-model", code, ids)
	}
	if code, body := get("/v1/models/ng-only-model"); code != 200 || !strings.Contains(body, `"ng-only-model"`) {
		t.Errorf("GET /v1/models/ng-only-model: %d %s", code, body)
	}
	if code, _ := get("/v1/models/br-only-model"); code != 404 {
		t.Errorf("GET /v1/models/br-only-model (outside the policy): %d, want 404", code)
	}
	req, _ := http.NewRequest("GET", ke.url+"/v1/models", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("models without a key: %v %v, want 401", resp.StatusCode, err)
	}
}
