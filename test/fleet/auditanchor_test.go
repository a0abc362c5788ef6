package fleet

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// TestFleetAnchorsAuditHead: a node's audit head is anchored in its
// fleet peers as well as its own database. When someone with the run of
// the node's disk replaces its audit log and the database's anchor with
// it (which the database anchor alone cannot show), the node's peers
// remember where the log had reached: the node reports itself not ready,
// naming the missing records, and the peer records in its own audit log
// that the node's log went back.
func TestFleetAnchorsAuditHead(t *testing.T) {
	f := New(t, 250*time.Millisecond)
	ke := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	ng := f.Add(Spec{Name: "ng-a", Jurisdiction: "NG"})
	f.CreateTenant("acme", nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, ke); err != nil {
		t.Fatal(err)
	}
	key := ke.Key("acme")
	for range 5 {
		if r := call(ctx, ke.URL, key, "", "Hello", 2, false, false); r.err != nil || r.status != 200 {
			t.Fatalf("request: %d %v %s", r.status, r.err, r.body)
		}
	}
	// A restart tells the peers the head the requests reached.
	ke.Stop()
	ke.Start()
	if err := f.WaitCertified(ctx, ng, []*Node{ke, ng}); err != nil {
		t.Fatal(err)
	}
	if !waitReadyFor(ke, true, 20*time.Second) {
		t.Fatalf("ke not ready 20 s after its restart: /readyz %q", readyz(t, ke))
	}
	time.Sleep(time.Second) // the start check tells ng its head
	ke.Stop()

	// The attack: the log and its database anchor, gone together.
	if err := os.RemoveAll(filepath.Join(ke.Dir, "audit")); err != nil {
		t.Fatal(err)
	}
	d, err := db.OpenDir(ke.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`DELETE FROM audit_anchor`); err != nil {
		t.Fatal(err)
	}
	d.Close()

	ke.Start()
	if !waitReadyFor(ke, false, 20*time.Second) {
		t.Fatalf("ke stays ready after its log and anchor were replaced:\nke:\n%s\nng:\n%s", grepLog(ke.Log(), "audit"), grepLog(ng.Log(), "audit"))
	}
	body := readyz(t, ke)
	if !strings.Contains(body, "fleet peer "+ng.ID) || !strings.Contains(body, "missing") {
		t.Errorf("ke's /readyz says %q; want the peer and the missing records", body)
	}
	// ng keeps a record of it in its own signed log.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.run("audit", "export", "--data-dir", ng.Dir), `"kind":"peer_audit"`) {
		if time.Now().After(deadline) {
			t.Fatal("ng's audit log has no record that ke's log went back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readyz(t *testing.T, n *Node) string {
	t.Helper()
	resp, err := http.Get(n.URL + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

func grepLog(log, sub string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitReadyFor reports whether n's /readyz reaches the wanted state
// within d.
func waitReadyFor(n *Node, ready bool, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(n.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if (resp.StatusCode == 200) == ready {
				return true
			}
		}
	}
	return false
}
