package gateway_test

import (
	"crypto/ed25519"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutingRefusedWhileAuditFails: a routing node whose audit log
// cannot record its decisions does not forward requests (the remote node
// would record the request, but not this node's choice of it): 503 naming
// the audit log, until the log recovers.
func TestRoutingRefusedWhileAuditFails(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr is not installed: cannot make the audit files unwritable for real")
	}
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	ke := startNode(t, "KE", opPriv, opPub, nil)
	ng := startNode(t, "NG", opPriv, opPub, []string{ke.fab.ClusterURL()})
	waitMesh(t, ke, ng)
	key := ngTenant(t, ke, ng)
	chat := `{"model":"stories260k","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}`
	if resp, body := post(t, ke.url+"/v1/chat/completions", key, chat, nil); resp.StatusCode != 200 {
		t.Fatalf("before the fault: %d %s", resp.StatusCode, body)
	}
	dir := filepath.Join(ke.dir, "audit")
	paths, _ := filepath.Glob(filepath.Join(dir, "segment-*"))
	paths = append(paths, dir)
	set := func(flag string) {
		for _, p := range paths {
			if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
				if flag == "+i" {
					t.Skipf("chattr +i does not work here (%v: %s)", err, out)
				}
				t.Errorf("chattr %s %s: %v %s", flag, p, err, out)
			}
		}
	}
	set("+i")
	t.Cleanup(func() { set("-i") })
	// The first routed request after the fault finds it when its decision
	// is appended; from then on the node refuses before routing.
	post(t, ke.url+"/v1/chat/completions", key, chat, nil)
	resp, body := post(t, ke.url+"/v1/chat/completions", key, chat, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "audit log") {
		t.Fatalf("while the audit log fails: %d %s; want 503 with Retry-After naming the audit log", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Hearth-Node") != "" {
		t.Errorf("the refused request was forwarded to %s", resp.Header.Get("X-Hearth-Node"))
	}
	set("-i")
	waitFor(t, "the log to recover and routing to resume", func() bool {
		resp, _ := post(t, ke.url+"/v1/chat/completions", key, chat, nil)
		return resp.StatusCode == 200
	})
}
