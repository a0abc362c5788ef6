package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileAuditLogFailsClosed makes a real node's audit files
// immutable (chattr +i on the segment and the directory, as the issue's
// attack did) and checks that the node fails closed: the request whose
// record failed keeps no capture, later requests and an admin key creation
// are refused with 503 and Retry-After naming the audit log, the key does
// not exist, /readyz and /metrics say so; once the files are writable
// again the log reopens by itself, serves again, and `hearth audit verify`
// passes and shows the gap.
func TestHostileAuditLogFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr is not installed: cannot make the audit files unwritable for real")
	}
	probe := filepath.Join(t.TempDir(), "probe")
	os.WriteFile(probe, nil, 0o600)
	if out, err := exec.Command("chattr", "+i", probe).CombinedOutput(); err != nil {
		t.Skipf("chattr +i does not work here (%v: %s): needs CAP_LINUX_IMMUTABLE and a filesystem with the attribute", err, out)
	}
	exec.Command("chattr", "-i", probe).Run()

	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "beta", "--jurisdictions", "KE", "--home", "KE", "--capture", "on", "--retention-days", "30")
	key, _ := mustRun(t, dir, "keys", "create", "--tenant", "beta", "--scopes", "inference,admin")
	key = strings.TrimSpace(key)
	n := startNode(t, "--data-dir", dir, "--jurisdiction", "KE")
	c := loopbackOnly(n)
	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		return keyedRequest(t, c, method, n.url+path, key, body, "Content-Type", "application/json")
	}
	chat := `{"model":"stories260k","max_tokens":4,"messages":[{"role":"user","content":"Hello"}]}`
	if st, _, body := do("POST", "/v1/chat/completions", chat); st != 200 {
		t.Fatalf("chat before the fault: %d %s", st, body)
	}
	// Its record and its capture's record are appended after the answer
	// is sent: let them land before the fault.
	time.Sleep(300 * time.Millisecond)

	adir := filepath.Join(dir, "audit")
	segs, _ := filepath.Glob(filepath.Join(adir, "segment-*.jsonl"))
	immutable := append(segs, adir)
	setImmutable := func(on bool) {
		flag := "-i"
		if on {
			flag = "+i"
		}
		for _, p := range immutable {
			if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
				t.Fatalf("chattr %s %s: %v %s", flag, p, err, out)
			}
		}
	}
	setImmutable(true)
	cleared := false
	t.Cleanup(func() {
		if !cleared {
			setImmutable(false) // or TempDir cannot remove them
		}
	})

	// The log does not know yet: this request is served (its answer goes
	// out before its record), its record fails, and its capture is dropped.
	if st, _, body := do("POST", "/v1/chat/completions", chat); st != 200 {
		t.Fatalf("chat as the fault strikes: %d %s", st, body)
	}
	// From now on, refused up front.
	deadline := time.Now().Add(5 * time.Second)
	var st int
	var hdr http.Header
	var body string
	for {
		st, hdr, body = do("POST", "/v1/chat/completions", chat)
		if st != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "audit log") {
		t.Fatalf("chat while the log is failed: %d Retry-After %q %s; want 503 with Retry-After naming the audit log", st, hdr.Get("Retry-After"), body)
	}
	st, hdr, body = do("POST", "/admin/v1/tenants/beta/keys", `{"name":"sneaky"}`)
	if st != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "audit") {
		t.Fatalf("key creation while the log is failed: %d %q %s; want 503 naming the audit log", st, hdr.Get("Retry-After"), body)
	}
	_, _, keys := do("GET", "/admin/v1/tenants/beta/keys", "")
	if strings.Contains(keys, "sneaky") {
		t.Fatalf("the refused key exists: %s", keys)
	}
	if st, _, body := do("GET", "/readyz", ""); st != http.StatusServiceUnavailable || !strings.Contains(body, "audit") {
		t.Errorf("/readyz while failed: %d %s; want 503 naming the audit log", st, body)
	}
	_, _, metrics := do("GET", "/metrics", "")
	if !strings.Contains(metrics, "hearth_audit_log_healthy 0") || strings.Contains(metrics, "hearth_audit_append_failures_total 0\n") ||
		!strings.Contains(metrics, "hearth_audit_append_failures_total") {
		t.Errorf("metrics while failed do not show it:\n%s", grepLines(metrics, "hearth_audit"))
	}
	if !strings.Contains(n.stderr.String(), "cannot make records durable") {
		t.Errorf("no error log line about the audit log:\n%s", n.stderr)
	}

	// The fault clears: the log reopens by itself (probe backoff 1s, 2s, 4s...).
	setImmutable(false)
	cleared = true
	deadline = time.Now().Add(40 * time.Second)
	for {
		st, _, body = do("GET", "/readyz", "")
		if st == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st != 200 {
		t.Fatalf("/readyz after the fault cleared: %d %s", st, body)
	}
	if st, _, body := do("POST", "/v1/chat/completions", chat); st != 200 {
		t.Fatalf("chat after recovery: %d %s", st, body)
	}
	if st, _, body := do("POST", "/admin/v1/tenants/beta/keys", `{"name":"later"}`); st != http.StatusCreated {
		t.Fatalf("key creation after recovery: %d %s", st, body)
	}
	if _, _, metrics := do("GET", "/metrics", ""); !strings.Contains(metrics, "hearth_audit_log_healthy 1") {
		t.Errorf("metrics after recovery:\n%s", grepLines(metrics, "hearth_audit"))
	}
	stopNode(t, n)

	out, err := run(t, "", "audit", "verify", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, "gap:") {
		t.Fatalf("audit verify after recovery: %v\n%s", err, out)
	}
	// Two captures: before the fault and after recovery, not the request
	// whose record failed.
	dump, err := run(t, "", "capture", "export", "--data-dir", dir, "--tenant", "beta")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(strings.TrimSpace(dump), "\n") + 1; strings.TrimSpace(dump) == "" || got != 2 {
		t.Errorf("captures after the outage: %d; want 2 (not the request whose record failed)\n%s", got, dump)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
