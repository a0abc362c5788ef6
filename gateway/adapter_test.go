package gateway_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// TestAdapterRoutesToHolder: a request for BASE:ADAPTER is placed by its
// base, and goes to the node whose heartbeats say it holds the adapter
// loaded rather than to the gateway itself; a request for the base alone
// stays on the gateway. The routing decision names the bonus.
func TestAdapterRoutesToHolder(t *testing.T) {
	gw, holder, keys := adapterHolder(t, []string{"stories260k:faq@1"}, "acme")
	key := keys["acme"]
	post(t, gw.url+"/v1/chat/completions", key, `{"model":"stories260k:faq","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, nil)
	// The base alone stays on the gateway, which serves it itself.
	resp, body := post(t, gw.url+"/v1/chat/completions", key, `{"model":"stories260k","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Hearth-Node") != "" {
		t.Errorf("stories260k: %d from node %q; want it served by the gateway itself: %s", resp.StatusCode, resp.Header.Get("X-Hearth-Node"), body)
	}
	gw.audit.Close()
	var routed []audit.Record
	for _, r := range readAudit(t, gw) {
		if r.Kind == audit.KindRoute {
			routed = append(routed, r)
		}
	}
	if len(routed) == 0 {
		t.Fatal("no routing decision for stories260k:faq")
	}
	if first := routed[0]; first.Detail["node"] != holder.id.ID || !strings.Contains(first.Reason, "adapter loaded") {
		t.Errorf("stories260k:faq went to %s (%s); want the holder %s, for its loaded adapter", first.Detail["node"], first.Reason, holder.id.ID)
	}
}

// adapterHolder starts a gateway and a node in KE whose heartbeat says it
// holds adapters loaded, with the tenants on both and an inference key
// at the gateway for each, by tenant name.
func adapterHolder(t *testing.T, adapters []string, tenants ...string) (gw, holder *node, keys map[string]string) {
	t.Helper()
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	gw = startNode(t, "KE", opPriv, opPub, nil)
	holder = startNodeLoad(t, "KE", opPriv, opPub, []string{gw.fab.ClusterURL()}, runner.Config{},
		fabric.Load{Models: []string{"stories260k"}, Slots: 4, Adapters: adapters})
	waitMesh(t, gw, holder)
	ctx := context.Background()
	keys = map[string]string{}
	for _, name := range tenants {
		for _, n := range []*node{gw, holder} {
			if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: name, Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"}}); err != nil {
				t.Fatal(err)
			}
		}
		key, _, err := gw.tenants.CreateKey(ctx, name, tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = key
	}
	waitFor(t, "the holder's adapters in the gateway's table", func() bool {
		p, ok := gw.fab.Peer(holder.id.ID)
		return ok && len(p.Load.Adapters) == len(adapters)
	})
	return gw, holder, keys
}

// TestAdapterKeysRouteTheirTenant: a node's heartbeat lists a tenant's
// adapter by its keys (route.AdapterKeys, made with the tenant's name,
// which the gateway's own ID for the tenant is not); the gateway sends
// that tenant's requests for it, with the version or without, to the
// holder, and another tenant's request for the same name gets no bonus.
func TestAdapterKeysRouteTheirTenant(t *testing.T) {
	gw, holder, keys := adapterHolder(t, route.AdapterKeys("acme", "stories260k:faq@1"), "acme", "beta")
	for _, c := range []struct{ tenant, model string }{
		{"acme", "stories260k:faq@1"}, {"acme", "stories260k:faq"}, {"beta", "stories260k:faq@1"}, {"beta", "stories260k:faq"},
	} {
		post(t, gw.url+"/v1/chat/completions", keys[c.tenant], `{"model":"`+c.model+`","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, nil)
	}
	gw.audit.Close()
	bonus := map[string]int{}
	for _, r := range readAudit(t, gw) {
		if r.Kind != audit.KindRoute || r.Decision != "route" {
			continue
		}
		if want := r.Tenant == "acme"; strings.Contains(r.Reason, "adapter loaded") != want || (r.Detail["node"] == holder.id.ID) != want {
			t.Errorf("%s's request went to %s (%s); want the holder %s with the adapter bonus: %v", r.Tenant, r.Detail["node"], r.Reason, holder.id.ID, want)
		}
		bonus[r.Tenant]++
	}
	if bonus["acme"] < 2 || bonus["beta"] < 2 {
		t.Errorf("routing decisions by tenant %v; want at least 2 for each", bonus)
	}
}
