package gateway_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// BenchmarkRouteOverhead measures what routing adds to a request: the
// same one-token chat request sent to the serving node (NG) directly,
// and sent to another node (KE) that routes it to NG over the fabric.
// Both nodes run in this process and talk NATS over loopback. It reports
// p50 and p99 latency per request; the difference between the two
// sub-benchmarks is the gateway's cost.
//
//	go test ./gateway -run '^$' -bench RouteOverhead -benchtime 2000x
func BenchmarkRouteOverhead(b *testing.B) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(b, "KE", opPriv, opPub, nil)
	ng := startNode(b, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()})
	waitMesh(b, ke, ng)
	ctx := context.Background()
	keys := map[*node]string{}
	for _, n := range []*node{ke, ng} {
		if _, err := n.tenants.CreateTenant(ctx, tenant.Tenant{Name: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}, Home: "NG"}}); err != nil {
			b.Fatal(err)
		}
		k, _, err := n.tenants.CreateKey(ctx, "ng-health", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}})
		if err != nil {
			b.Fatal(err)
		}
		keys[n] = k
	}
	const body = `{"model":"stories260k","max_tokens":1,"temperature":0,"messages":[{"role":"user","content":"Hi"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	one := func(n *node) time.Duration {
		req, _ := http.NewRequest("POST", n.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keys[n])
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for _, c := range []struct {
		name string
		to   *node
	}{{"direct", ng}, {"via-gateway", ke}} {
		b.Run(c.name, func(b *testing.B) {
			for range 50 {
				one(c.to) // warm: connections, model loaded, caches
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, one(c.to))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
