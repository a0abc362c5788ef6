package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
)

func TestFleetOperatorCertifyShow(t *testing.T) {
	dir := t.TempDir()
	opFile := filepath.Join(dir, "operator.key")
	out, err := run(t, "", "fleet", "operator", "init", "--out", opFile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var op struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &op); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	opPub, err := identity.ParsePublicKey(op.PublicKey)
	if err != nil {
		t.Fatalf("printed operator key: %v", err)
	}
	if st, err := os.Stat(opFile); err != nil || runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("operator key file: %v, %v; want mode 0600", st, err)
	}
	if _, err := run(t, "", "fleet", "operator", "init", "--out", opFile); err == nil {
		t.Error("operator init replaced an existing key")
	}
	out, err = run(t, "", "fleet", "operator", "show", "--key", opFile)
	if err != nil || !strings.Contains(out, op.PublicKey) {
		t.Errorf("operator show = %q, %v; want it to print %s", out, err, op.PublicKey)
	}

	node, err := identity.LoadOrCreate(filepath.Join(dir, "node"))
	if err != nil {
		t.Fatal(err)
	}
	certFile := fabric.CertPath(filepath.Join(dir, "node"))
	out, err = run(t, "", "fleet", "certify", "--operator-key", opFile, "--node-key", node.PublicHex(),
		"--site", "nbo-1", "--jurisdiction", "KE", "--valid", "48h", "--out", certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, node.ID) {
		t.Errorf("certify printed %q; want the node id %s", out, node.ID)
	}
	c, err := fabric.LoadCert(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(opPub, time.Now()); err != nil || !c.Matches(node.Public) || c.Site != "nbo-1" || c.Jurisdiction != "KE" {
		t.Errorf("written cert %+v: verify %v", c, err)
	}
	if got := c.Expires.Sub(c.Issued); got != 48*time.Hour {
		t.Errorf("validity %v; want 48h", got)
	}

	out, err = run(t, "", "fleet", "cert", "show", certFile, "--operator", op.PublicKey)
	if err != nil {
		t.Fatalf("cert show: %v", err)
	}
	for _, want := range []string{node.ID, node.PublicHex(), "nbo-1", "KE", "verification: valid"} {
		if !strings.Contains(out, want) {
			t.Errorf("cert show output lacks %q:\n%s", want, out)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	out, err = run(t, "", "fleet", "cert", "show", certFile, "--operator", identityHex(other))
	if !errors.Is(err, fabric.ErrBadSignature) || !strings.Contains(out, "INVALID") {
		t.Errorf("cert show with another operator: %v, output %q; want ErrBadSignature and INVALID", err, out)
	}
	// Expired, by the command's clock.
	fleetNow = func() time.Time { return time.Now().Add(72 * time.Hour) }
	t.Cleanup(func() { fleetNow = time.Now })
	if _, err := run(t, "", "fleet", "cert", "show", certFile, "--operator", op.PublicKey); !errors.Is(err, fabric.ErrExpired) {
		t.Errorf("cert show 72h later: %v; want ErrExpired", err)
	}
	fleetNow = time.Now

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing site", []string{"--operator-key", opFile, "--node-key", node.PublicHex(), "--jurisdiction", "KE"}, "--site"},
		{"bad node key", []string{"--operator-key", opFile, "--node-key", "abc", "--site", "s", "--jurisdiction", "KE"}, "node-key"},
		{"bad jurisdiction", []string{"--operator-key", opFile, "--node-key", node.PublicHex(), "--site", "s", "--jurisdiction", "kenya"}, "jurisdiction"},
		{"no operator key", []string{"--operator-key", filepath.Join(dir, "none"), "--node-key", node.PublicHex(), "--site", "s", "--jurisdiction", "KE"}, "operator key"},
	} {
		_, err := run(t, "", append([]string{"fleet", "certify"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: certify = %v; want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func identityHex(pub ed25519.PublicKey) string {
	return (&identity.Identity{Public: pub}).PublicHex()
}

func TestFleetStatus(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	var nodes []*fabric.Node
	for i, j := range []string{"KE", "NG"} {
		id, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "data"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := fabric.Config{
			Identity: id, Site: "site-" + j, Jurisdiction: j, OperatorKey: opPub,
			HeartbeatInterval: 100 * time.Millisecond,
			Status:            func() fabric.Load { return fabric.Load{Models: []string{"stories260k"}, Slots: 2, Busy: 1} },
		}
		if i == 0 {
			if cfg.Cert, err = fabric.Certify(opPriv, id.Public, cfg.Site, j, time.Hour, time.Now()); err != nil {
				t.Fatal(err)
			}
		} else {
			cfg.External = nodes[0].ClientURL()
		}
		n, err := fabric.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown(context.Background()) })
		nodes = append(nodes, n)
	}
	url := nodes[0].ClientURL()
	opHex := identityHex(opPub)

	out, err := run(t, "", "fleet", "status", "--nats", url, "--operator", opHex, "--wait", "500ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []fleetNode
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if len(rows) != 2 {
		t.Fatalf("status lists %d nodes; want 2:\n%s", len(rows), out)
	}
	for _, r := range rows {
		wantCert := r.ID == nodes[0].ID()
		if r.Certified != wantCert || r.Load.Slots != 2 || len(r.Load.Models) != 1 {
			t.Errorf("row %+v; want certified %v, 2 slots, 1 model", r, wantCert)
		}
	}

	out, err = run(t, "", "fleet", "status", "--nats", url, "--operator", opHex, "--wait", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CERTIFIED", nodes[0].ID(), nodes[1].ID(), "stories260k", "1/2 q0", "not certified: " + nodes[1].ID() + ": no certificate"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "", "fleet", "status", "--nats", url, "--wait", "300ms")
	if err != nil || !strings.Contains(out, "unchecked") {
		t.Errorf("status without --operator = %q, %v; want \"unchecked\"", out, err)
	}
	if _, err := run(t, "", "fleet", "status", "--nats", "nats://127.0.0.1:1", "--wait", "100ms"); err == nil {
		t.Error("status against a closed port succeeded")
	}
}

// fleet status --data-dir reads a running node's URL and token, and says
// so clearly when there is no node there.
func TestFleetStatusDataDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "", "fleet", "status", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no fleet URL") {
		t.Errorf("empty data dir: %v", err)
	}
	tok, err := fabric.LoadOrCreateClientToken(dir)
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q: %v", tok, err)
	}
	if again, _ := fabric.LoadOrCreateClientToken(dir); again != tok {
		t.Errorf("the token changed on the second load")
	}
	if st, _ := os.Stat(filepath.Join(dir, fabric.ClientTokenFileName)); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
}
