package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/identity"
)

// auditRecords reads the data directory's audit log.
func auditRecords(t *testing.T, dir string) []audit.Record {
	t.Helper()
	var b bytes.Buffer
	if _, err := audit.Export(filepath.Join(dir, "audit"), &b, 0, 0); err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// cliActions lists the actions of the log's records made on the command
// line, in log order.
func cliActions(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Kind == audit.KindAdmin && r.Detail["via"] == "cli" {
			out = append(out, r.Reason)
		}
	}
	return out
}

func spooledFiles(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "audit", audit.SpoolDirName))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(es)
}

// tenantKeyChanges runs the tenant and key commands an operator would, and
// returns the new key's secret.
func tenantKeyChanges(t *testing.T, dir string) string {
	t.Helper()
	mustRun(t, dir, "tenants", "create", "kra", "--capture", "off")
	secret, _ := mustRun(t, dir, "keys", "create", "--tenant", "kra", "--name", "ci")
	secret = strings.TrimSpace(secret)
	var keys []struct{ ID string }
	out, _ := mustRun(t, dir, "keys", "list", "--tenant", "kra", "--json")
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("keys list: %v %s", err, out)
	}
	mustRun(t, dir, "keys", "revoke", keys[0].ID)
	return secret
}

var wantCLIActions = []string{"tenant.create", "key.create", "key.revoke"}

// TestCLIChangesAuditedNoNode: with no node running, the tenant and key
// commands append to the log themselves, and it verifies.
func TestCLIChangesAuditedNoNode(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.LoadOrCreate(dir) // a node that has run before
	if err != nil {
		t.Fatal(err)
	}
	// A garbage spool file left by something else is quarantined, not
	// appended, and does not stop the CLI from recording.
	os.MkdirAll(filepath.Join(dir, "audit", audit.SpoolDirName), 0o700)
	os.WriteFile(filepath.Join(dir, "audit", audit.SpoolDirName, "00000000000000000001-00000000000000ff.json"), []byte(`{"kind":"adm`), 0o600)

	secret := tenantKeyChanges(t, dir)
	mustRun(t, dir, "tenants", "update", "kra", "--rpm", "60", "--home", "KE")
	mustRun(t, dir, "tenants", "disable", "kra")
	mustRun(t, dir, "tenants", "rm", "kra")

	recs := auditRecords(t, dir)
	want := append(append([]string(nil), wantCLIActions...), "tenant.update", "tenant.update", "tenant.delete")
	if got := cliActions(recs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("CLI actions in the log %v; want %v", got, want)
	}
	quarantined := false
	for _, r := range recs {
		if r.Kind == audit.KindAdmin && r.Detail["via"] == "cli" {
			if r.Node != id.ID || r.Decision != "allow" || r.Detail["tenant"] != "kra" || r.Detail[audit.DetailSpoolID] != "" {
				t.Errorf("record %+v: want this node, allow, tenant kra, appended directly", r)
			}
			switch r.Reason {
			case "key.create":
				if r.Detail["key_prefix"] != secret[3:11] || r.Detail["key_name"] != "ci" || r.Detail["scopes"] != "inference" {
					t.Errorf("key.create detail %v", r.Detail)
				}
			case "tenant.update":
				if c := r.Detail["changed"]; c != "policy.home,limits.requests_per_minute" && c != "disabled" {
					t.Errorf("tenant.update changed %q", c)
				}
			}
		}
		if r.Kind == audit.KindRecovery && r.Detail["spool_file"] != "" {
			quarantined = true
		}
	}
	if !quarantined {
		t.Error("the garbage spool file is not named in a recovery record")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "audit", "segment-00000000000000000001.jsonl"))
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("the key's secret is in the audit log")
	}
	out, _ := mustRun(t, dir, "audit", "verify")
	if !strings.Contains(out, ": OK") {
		t.Errorf("audit verify: %s", out)
	}
}

// TestCLIChangesSpooledWhileNodeRuns: while another process holds the log
// (a serving node), the commands spool their records; the writer appends
// them, and the log verifies.
func TestCLIChangesSpooledWhileNodeRuns(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(filepath.Join(dir, "audit"), id, audit.Options{SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tenantKeyChanges(t, dir)
	if n := spooledFiles(t, dir); n != len(wantCLIActions) {
		t.Fatalf("%d spooled files; want %d", n, len(wantCLIActions))
	}
	if n, err := l.IngestSpool(t.Context()); err != nil || n != len(wantCLIActions) {
		t.Fatalf("IngestSpool = %d, %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := auditRecords(t, dir)
	if got := cliActions(recs); strings.Join(got, " ") != strings.Join(wantCLIActions, " ") {
		t.Errorf("CLI actions in the log %v; want %v", got, wantCLIActions)
	}
	for _, r := range recs {
		if r.Detail["via"] == "cli" && (r.Detail[audit.DetailSpoolID] == "" || r.Detail[audit.DetailSpooledAt] == "" || r.Node != id.ID) {
			t.Errorf("ingested record %+v: want a spool id, spool time and this node", r)
		}
	}
	if n := spooledFiles(t, dir); n != 0 {
		t.Errorf("%d files left in the spool", n)
	}
	out, _ := mustRun(t, dir, "audit", "verify")
	if !strings.Contains(out, ": OK") {
		t.Errorf("audit verify: %s", out)
	}
}

// TestCLIChangesBeforeFirstStart: on a data directory no node has run on,
// the command line creates the node key (which signs what it appends or
// spools) and appends its records at once; a node started later uses that
// key and the log verifies.
func TestCLIChangesBeforeFirstStart(t *testing.T) {
	dir := t.TempDir()
	tenantKeyChanges(t, dir)
	if n := spooledFiles(t, dir); n != 0 {
		t.Fatalf("%d spooled files; want none (appended directly)", n)
	}
	id, err := identity.Load(dir)
	if err != nil {
		t.Fatalf("node key after the first CLI change: %v", err)
	}
	l, err := audit.Open(filepath.Join(dir, "audit"), id, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := cliActions(auditRecords(t, dir)); strings.Join(got, " ") != strings.Join(wantCLIActions, " ") {
		t.Errorf("CLI actions in the log %v; want %v", got, wantCLIActions)
	}
	mustRun(t, dir, "audit", "verify")
}

// TestCLIChangeNotMadeWhenUnrecorded: a tenant or key change the audit
// log cannot record is rolled back (the command used to make it, then
// report "done, but its audit record could not be written").
func TestCLIChangeNotMadeWhenUnrecorded(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr is not installed: cannot make the audit files unwritable for real")
	}
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "acme")
	auditDir := filepath.Join(dir, "audit")
	paths, _ := filepath.Glob(filepath.Join(auditDir, "*"))
	paths = append(paths, auditDir)
	set := func(flag string) {
		for _, p := range paths {
			if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil && flag == "+i" {
				t.Skipf("chattr +i does not work here (%v: %s)", err, out)
			}
		}
	}
	set("+i")
	t.Cleanup(func() { set("-i") })
	for _, args := range [][]string{
		{"keys", "create", "--tenant", "acme"},
		{"tenants", "create", "beta"},
		{"tenants", "update", "acme", "--rpm", "7"},
		{"tenants", "disable", "acme"},
		{"tenants", "rm", "acme"},
	} {
		out, errOut, err := runTenants(t, dir, args...)
		if err == nil || !strings.Contains(err.Error(), "not made") {
			t.Errorf("hearth %s with an unwritable audit log: %v (out %q, stderr %q); want it refused as not made", strings.Join(args, " "), err, out, errOut)
		}
		if strings.Contains(out, "hk-") {
			t.Errorf("a key's secret was shown: %q", out)
		}
	}
	set("-i")
	s := openTenantDir(t, dir)
	ts, err := s.ListTenants(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Name != "acme" || ts[0].Disabled || ts[0].Limits.RequestsPerMinute == 7 {
		t.Errorf("tenants after the refused changes: %+v; want acme alone, unchanged", ts)
	}
	if keys, err := s.ListKeys(t.Context(), "acme"); err != nil || len(keys) != 0 {
		t.Errorf("keys after a refused creation: %+v %v", keys, err)
	}
}
