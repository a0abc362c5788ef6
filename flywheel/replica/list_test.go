package replica_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/replica"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

func refs(ls []replica.Listed) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Ref()
	}
	return out
}

// TestHomeListOnlyToPermittedNodes: tenant acme's home is NG and it may
// be served in NG and KE. KE asks NG which adapters the tenant has and
// gets its active versions (not the retired one), as registered, without
// any file crossing; it keeps the answer for a while. A certified ZA node
// whose own copy of the policy wrongly permits ZA is refused, and NG
// records the refusal; a tenant whose home no node is in lists nothing,
// at once.
func TestHomeListOnlyToPermittedNodes(t *testing.T) {
	_, op, _ := ed25519.GenerateKey(nil)
	ng, ke, za, _ := startHomeKEZA(t, op)
	waitMesh(t, ng.nd.Fabric(), ke.nd.Fabric(), za.nd.Fabric())
	ctx := context.Background()

	base := storiesBase(t)
	reg := ng.nd.Flywheel().Adapters
	var want []*registry.Version
	for i, name := range []string{"faq", "faq", "support"} {
		v, err := reg.Create(ctx, ng.tenant, name, registry.Meta{Base: base}, testfixture.AdapterFile(t, "llama", float32(i+1)/4))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	if err := reg.Retire(ctx, ng.tenant.ID, "faq", 1); err != nil {
		t.Fatal(err)
	}
	want = want[1:]

	got := ke.copies().HomeList(ctx, ke.tenant.ID)
	if !slices.Equal(refs(got), []string{"faq@2", "support@1"}) {
		t.Fatalf("KE's listing of acme's adapters: %v; want faq@2, support@1", refs(got))
	}
	for i, l := range got {
		if v := want[i]; l.Size != v.Size || !l.Created.Equal(v.Created) || l.Base != v.Base {
			t.Errorf("KE lists %+v; NG registered %+v", l, v)
		}
	}
	if n := ke.replicaRows(t); n != 0 {
		t.Errorf("listing left %d copies on KE; want none", n)
	}
	// Kept for ListTTL: a version registered since is not listed yet.
	if _, err := reg.Create(ctx, ng.tenant, "later", registry.Meta{Base: base}, testfixture.AdapterFile(t, "llama", 0.9)); err != nil {
		t.Fatal(err)
	}
	if again := ke.copies().HomeList(ctx, ke.tenant.ID); !slices.Equal(refs(again), refs(got)) {
		t.Errorf("KE's listing asked again at once: %v; want the kept %v", refs(again), refs(got))
	}

	// ZA: refused by the home, so nothing is listed.
	if got := za.copies().HomeList(ctx, za.tenant.ID); len(got) != 0 {
		t.Errorf("ZA's listing of acme's adapters: %v; want none", refs(got))
	}
	// A tenant whose home no node is in: nothing, without waiting.
	lost, err := ke.nd.Tenants().CreateTenant(ctx, tenant.Tenant{Name: "lost", Policy: tenant.Policy{Jurisdictions: []string{"GH", "KE"}, Home: "GH"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := ke.copies().HomeList(ctx, lost.ID); len(got) != 0 || time.Since(start) > time.Second {
		t.Errorf("a tenant with no reachable home: %v after %v; want none, at once", refs(got), time.Since(start))
	}

	recs := ng.auditOf(t)
	if r := find(recs, func(r audit.Record) bool { return r.Reason == "adapter.replicate.refused" && r.Detail["to"] == za.id() }); r == nil ||
		r.Decision != audit.DecisionDeny || r.Detail["adapter"] != "*" || r.Detail["to_jurisdiction"] != "ZA" || r.Tenant != ng.tenant.ID {
		t.Errorf("NG's record of refusing ZA's listing: %+v", r)
	}
	if r := find(recs, func(r audit.Record) bool { return r.Reason == "adapter.replicate.refused" && r.Detail["to"] == ke.id() }); r != nil {
		t.Errorf("NG refused KE: %+v", r)
	}
}

// TestTamperedListingRefused: a certified home node whose listing does
// not check (another key's signature, issued to another node or for
// another tenant, stale, a malformed version, a manifest in its place)
// gets nothing listed, and the asker records the rejection as an alarm;
// one that does not answer at all costs a model list at most
// ListTimeout.
func TestTamperedListingRefused(t *testing.T) {
	_, op, _ := ed25519.GenerateKey(nil)
	pol := tenant.Policy{Jurisdictions: []string{"NG", "KE"}, Home: "NG"}
	ke := startNode(t, op, "KE", "", pol)
	base := storiesBase(t)
	_, stranger, _ := ed25519.GenerateKey(nil)
	ok := []replica.Listed{{Name: "faq", Version: 1, Base: base, Size: 4096, Created: time.Now().UTC()}}

	tests := []struct {
		name  string
		edit  func(l *replica.Listing)
		other bool // signed by a key not the home's
		raw   func(from fabric.Peer) ([]byte, error)
	}{
		{name: "signed by another key", other: true},
		{name: "issued to another node", edit: func(l *replica.Listing) { l.Node = "node-0000000000000000" }},
		{name: "another tenant's", edit: func(l *replica.Listing) { l.Tenant = "other" }},
		{name: "another home's", edit: func(l *replica.Listing) { l.Home = "node-0000000000000000" }},
		{name: "stale", edit: func(l *replica.Listing) { l.Issued = l.Issued.Add(-time.Hour) }},
		{name: "version 0", edit: func(l *replica.Listing) { l.Adapters[0].Version = 0 }},
		{name: "a name with a version", edit: func(l *replica.Listing) { l.Adapters[0].Name = "faq@3" }},
		{name: "too many versions", edit: func(l *replica.Listing) {
			for i := range replica.MaxListed {
				l.Adapters = append(l.Adapters, replica.Listed{Name: fmt.Sprintf("a%d", i), Version: 1, Base: base, Size: 1})
			}
		}},
		{name: "no listing", raw: func(fabric.Peer) ([]byte, error) { return json.Marshal(map[string]any{"data": []byte("x")}) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A tenant of its own per case: a refused answer is kept a
			// few seconds, so that a model list does not ask again at once.
			tn, err := ke.nd.Tenants().CreateTenant(context.Background(), tenant.Tenant{Name: fmt.Sprintf("acme-%d", i), Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			var home *fabric.Node
			var key ed25519.PrivateKey
			list := func(_ context.Context, from fabric.Peer, _ []byte) ([]byte, error) {
				if tt.raw != nil {
					return tt.raw(from)
				}
				l := &replica.Listing{Tenant: tn.Name, Adapters: slices.Clone(ok), Node: from.ID, Home: home.ID(), Jurisdiction: "NG", Issued: time.Now().UTC()}
				if tt.edit != nil {
					tt.edit(l)
				}
				k := key
				if tt.other {
					k = stranger
				}
				sl, err := replica.SignListing(k, l)
				if err != nil {
					return nil, err
				}
				return json.Marshal(map[string]any{"listing": sl})
			}
			f, id := startEvilNode(t, op, ke.nd.Fabric().ClusterURL(), map[string]fabric.DeliverHandler{replica.KindList: list})
			home, key = f, id.Private
			waitMesh(t, ke.nd.Fabric(), f)
			if got := ke.copies().HomeList(context.Background(), tn.ID); len(got) != 0 {
				t.Errorf("KE lists %v", refs(got))
			}
			f.Shutdown(context.Background())
			testfixture.WaitFor(t, "the evil home to leave KE's table", func() bool { _, ok := ke.nd.Fabric().Peer(id.ID); return !ok })
		})
	}

	// The control: the same home's honest listing is taken.
	var home *fabric.Node
	var key ed25519.PrivateKey
	hang := make(chan struct{})
	defer close(hang)
	f, id := startEvilNode(t, op, ke.nd.Fabric().ClusterURL(), map[string]fabric.DeliverHandler{replica.KindList: func(ctx context.Context, from fabric.Peer, req []byte) ([]byte, error) {
		var m struct{ Tenant string }
		if err := json.Unmarshal(req, &m); err != nil {
			return nil, err
		}
		if m.Tenant == "silent" {
			select { // never answers
			case <-hang:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}
		sl, err := replica.SignListing(key, &replica.Listing{Tenant: m.Tenant, Adapters: ok, Node: from.ID, Home: home.ID(), Jurisdiction: "NG", Issued: time.Now().UTC()})
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"listing": sl})
	}})
	home, key = f, id.Private
	waitMesh(t, ke.nd.Fabric(), f)
	if got := ke.copies().HomeList(context.Background(), ke.tenant.ID); !slices.Equal(refs(got), []string{"faq@1"}) {
		t.Errorf("KE lists %v from the honest answer; want faq@1", refs(got))
	}
	silent, err := ke.nd.Tenants().CreateTenant(context.Background(), tenant.Tenant{Name: "silent", Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := ke.copies().HomeList(context.Background(), silent.ID); len(got) != 0 {
		t.Errorf("KE lists %v from a home that never answered", refs(got))
	}
	if d := time.Since(start); d > replica.DefaultListTimeout+time.Second {
		t.Errorf("a home that never answers held the listing %v; want at most %v", d, replica.DefaultListTimeout)
	}

	rejected := ke.rejections(t, len(tests))
	for i, tt := range tests {
		if r := rejected[i]; r.Decision != audit.DecisionAlarm || r.Detail["adapter"] != "*" || !strings.Contains(r.Detail["why"], "replica:") {
			t.Errorf("%s: recorded %+v; want an alarm with the reason", tt.name, r)
		}
	}
}
