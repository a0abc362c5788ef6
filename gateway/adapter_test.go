package gateway_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// TestAdapterRoutesToHolder: a request for BASE:ADAPTER is placed by its
// base, and goes to the node whose heartbeats say it holds the adapter
// loaded rather than to the gateway itself; a request for the base alone
// stays on the gateway. The routing decision names the bonus.
func TestAdapterRoutesToHolder(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	gw := startNode(t, "KE", opPriv, opPub, nil)
	holder := startNodeLoad(t, "KE", opPriv, opPub, []string{gw.fab.ClusterURL()}, runner.Config{},
		fabric.Load{Models: []string{"stories260k"}, Slots: 4, Adapters: []string{"stories260k:faq@1"}})
	waitMesh(t, gw, holder)
	ctx := context.Background()
	for _, n := range []*node{gw, holder} {
		if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"}}); err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := gw.tenants.CreateKey(ctx, "acme", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder's adapters in the gateway's table", func() bool {
		p, ok := gw.fab.Peer(holder.id.ID)
		return ok && len(p.Load.Adapters) == 1
	})
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
