package access_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// TestUnauthenticatedAudited: 401s on a real node land in its audit log,
// folded per address, and the log verifies.
func TestUnauthenticatedAudited(t *testing.T) {
	n := newNode(t, "KE", false)
	n.tenant(t, "alpha", tenant.Policy{}, tenant.Limits{})
	secret := "hk_" + strings.Repeat("q", 52)
	for range 20 {
		if r := n.do(t, "POST", "/v1/chat/completions", secret, chat("stories260k", 2)); r.status != 401 {
			t.Fatalf("bad key: %d", r.status)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if seq, _ := n.audit.Head(); seq >= 1 || time.Now().After(deadline) {
			break
		}
	}
	if err := n.audit.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := audit.Export(n.dir+"/audit", &b, 0, 0); err != nil {
		t.Fatal(err)
	}
	log := b.String()
	if c := strings.Count(log, `"decision":"deny"`); c != 1 {
		t.Errorf("%d deny records for 20 refusals within a minute; want 1:\n%s", c, log)
	}
	for _, want := range []string{`"kind":"request"`, `"reason":"auth: unknown API key"`, `"remote_addr":"127.0.0.1"`, `"key_prefix":"qqqqqqqq"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, secret[3:20]) {
		t.Error("the log holds the secret")
	}
	rep, err := audit.Verify(n.dir+"/audit", n.id.Public, 0)
	if err != nil || rep.Err() != nil {
		t.Errorf("verify: %v %v", err, rep.Err())
	}
}
