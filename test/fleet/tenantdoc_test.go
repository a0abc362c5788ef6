package fleet

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hasTenant reports whether node n's database holds tenant name.
func hasTenant(f *Fleet, n *Node, name string) bool {
	return exec.Command(f.bin, "tenants", "show", name, "--data-dir", n.Dir).Run() == nil
}

// waitTenant waits until each node's database holds (or, with want false,
// no longer holds) tenant name.
func waitTenant(t *testing.T, f *Fleet, name string, want bool, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for hasTenant(f, n, name) != want {
			if time.Now().After(deadline) {
				t.Fatalf("node %s: tenant %s present = %v after 20s; want %v", n.Name, name, !want, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestFleetTenantDocs: a tenant defined once, in a document the operator
// signs, reaches every node through any one of them, including a node
// that starts later; the fleet then routes the tenant's requests as if
// the operator had created it on each node. A document signed with
// another key changes nothing; a deletion document removes the tenant
// everywhere.
func TestFleetTenantDocs(t *testing.T) {
	f := New(t, 250*time.Millisecond)
	ke := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	ng1 := f.Add(Spec{Name: "ng-a", Jurisdiction: "NG"})
	ng2 := f.Add(Spec{Name: "ng-b", Jurisdiction: "NG"})
	ke.Start()
	ng1.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.WaitCertified(ctx, ke, []*Node{ke, ng1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "ng-health.tenant")
	f.run("fleet", "tenant", "sign", "ng-health", "--operator-key", f.opKey, "--jurisdictions", "NG", "--home", "NG", "--out", doc)
	f.run("fleet", "tenant", "push", doc, "--data-dir", ke.Dir)
	waitTenant(t, f, "ng-health", true, ke, ng1)

	key := ke.Key("ng-health")
	r := call(ctx, ke.URL, key, "", "Hello", 3, false, false)
	if r.err != nil || r.status != 200 || r.node != ng1.ID {
		t.Fatalf("ng-health at KE: %d from %q, %v %s; want served by %s", r.status, r.node, r.err, r.body, ng1.Name)
	}

	// A node that joins later catches up.
	ng2.Start()
	waitTenant(t, f, "ng-health", true, ng2)
	if out := f.run("fleet", "tenant", "list", "--data-dir", ng2.Dir); !strings.Contains(out, "ng-health") || !strings.Contains(out, "NG") {
		t.Errorf("fleet tenant list on the late node:\n%s", out)
	}

	// Another operator's document is refused by every node.
	rogue := filepath.Join(dir, "rogue.key")
	f.operatorInit(rogue)
	evil := filepath.Join(dir, "evil.tenant")
	f.run("fleet", "tenant", "sign", "evil", "--operator-key", rogue, "--out", evil)
	f.run("fleet", "tenant", "push", evil, "--data-dir", ng1.Dir)
	marker := filepath.Join(dir, "marker.tenant")
	f.run("fleet", "tenant", "sign", "marker", "--operator-key", f.opKey, "--out", marker)
	f.run("fleet", "tenant", "push", marker, "--data-dir", ng1.Dir)
	waitTenant(t, f, "marker", true, ke, ng1, ng2) // the forged one came first
	for _, n := range []*Node{ke, ng1, ng2} {
		if hasTenant(f, n, "evil") {
			t.Errorf("node %s applied a document signed with another key", n.Name)
		}
	}

	// Deleting it everywhere.
	gone := filepath.Join(dir, "ng-health-gone.tenant")
	f.run("fleet", "tenant", "sign", "ng-health", "--operator-key", f.opKey, "--delete", "--out", gone)
	f.run("fleet", "tenant", "push", gone, "--data-dir", ng2.Dir)
	waitTenant(t, f, "ng-health", false, ke, ng1, ng2)
	if r := call(ctx, ke.URL, key, "", "Hello", 3, false, false); r.status != 401 {
		t.Errorf("the deleted tenant's key: %d %s; want 401", r.status, r.body)
	}
}
