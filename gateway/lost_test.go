package gateway_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// TestNodeLostRunningIsNotRetried: a node that took a request and then
// vanished, before answering, may have died of the request itself (one
// request used to kill any node it reached, and the gateway sent it on to
// kill the next). The client gets a 502 naming the node and why, the
// request never reaches the other node, and the gateway audits it.
func TestNodeLostRunningIsNotRetried(t *testing.T) {
	ke, ngs := slowFleet(t, 100*time.Millisecond, 2)
	ng1, ng2 := ngs[0], ngs[1]
	key := ngTenant(t, ke, ng1, ng2)
	// Whichever NG node takes the request is cut off from the fleet
	// while it runs: no answer, no goodbye.
	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		resp, body := post(t, ke.url+"/v1/chat/completions", key, `{"model":"stories260k","max_tokens":40,"messages":[{"role":"user","content":"Hi"}]}`, nil)
		done <- answer{resp.StatusCode, body}
	}()
	var victim, other *node
	waitFor(t, "an NG node running the request", func() bool {
		for _, n := range []*node{ng1, ng2} {
			if _, busy, _, _, _ := n.run.Load(); busy > 0 {
				victim = n
				return true
			}
		}
		return false
	})
	other = ng1
	if victim == ng1 {
		other = ng2
	}
	victim.fab.Drop()
	var a answer
	select {
	case a = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no answer 20 s after the serving node was lost")
	}
	if a.status != 502 || !strings.Contains(a.body, victim.id.ID) || !strings.Contains(a.body, "not sent to another node") {
		t.Fatalf("answer %d %s; want a 502 naming the lost node %s and why the request is not retried", a.status, a.body, victim.id.ID)
	}
	if _, busy, queued, _, _ := other.run.Load(); busy+queued > 0 || hasRecord(readAudit(t, other), func(r audit.Record) bool { return r.Kind == audit.KindRequest }) {
		t.Error("the request reached the other NG node")
	}
	if got := metricValue(t, ke.reg, "hearth_route_decisions_total", "outcome", "failed"); got != 1 {
		t.Errorf("hearth_route_decisions_total{outcome=failed} = %v, want 1", got)
	}
	if got := metricValue(t, ke.reg, "hearth_route_retries_total", "stage", "before_answer"); got != 0 {
		t.Errorf("hearth_route_retries_total{stage=before_answer} = %v, want 0", got)
	}
	waitFor(t, "the gateway's record of the failure", func() bool {
		return hasRecord(readAudit(t, ke), func(r audit.Record) bool {
			return r.Kind == audit.KindRoute && r.Decision == "failed" && r.Detail["node"] == victim.id.ID
		})
	})
}

// ngTenant creates tenant ng-health, allowed only in NG, on the gateway
// ke and the nodes, and returns an inference key for it at ke.
// slowFleet starts a KE node and count NG nodes joined to it, whose
// models take delay a step so that requests are still running when a test
// cuts a node off, and waits until they all certify each other.
func slowFleet(t *testing.T, delay time.Duration, count int) (ke *node, ngs []*node) {
	t.Helper()
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	slow := runner.Config{Sched: sched.Config{StepDelay: delay}}
	ke = startNode(t, "KE", opPriv, opPub, nil)
	for range count {
		ngs = append(ngs, startNodeWith(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()}, slow))
	}
	waitMesh(t, append([]*node{ke}, ngs...)...)
	return ke, ngs
}

func ngTenant(t *testing.T, ke *node, nodes ...*node) string {
	t.Helper()
	ctx := context.Background()
	for _, n := range append([]*node{ke}, nodes...) {
		if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}}}); err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := ke.tenants.CreateKey(ctx, "ng-health", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
	if err != nil {
		t.Fatal(err)
	}
	return key
}
