package hostile

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
)

// chat sends a small chat request with key and fails the test unless it
// is served.
func chat(t *testing.T, n *Node, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, err := n.Post(ctx, "/v1/chat/completions", `{"model":"stories260k","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+key)
	if err != nil || status != 200 {
		t.Fatalf("chat: %d %v %s", status, err, body)
	}
}

// segment is the audit log's one segment file in dir.
func segment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "segment-*"))
	if len(segs) != 1 {
		t.Fatalf("%d audit segments, want 1: %v", len(segs), segs)
	}
	return segs[0]
}

// exported is what `hearth audit export` says the log holds.
func exported(t *testing.T, dir string) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(Hearth(t, "audit", "export", "--data-dir", dir)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestHostileAuditTruncation: an audit log emptied or cut back to an
// older checkpoint no longer verifies (both used to pass: "no records",
// exit 0), because its head is anchored in the node's database.
func TestHostileAuditTruncation(t *testing.T) {
	for _, cut := range []string{"emptied", "cut back to an older checkpoint"} {
		t.Run(cut, func(t *testing.T) {
			dir := t.TempDir()
			key := Tenant(t, dir, "acme")
			n := Start(t, dir)
			chat(t, n, key)
			n.Stop() // a checkpoint on shutdown
			n = Start(t, dir)
			chat(t, n, key)
			chat(t, n, key)
			n.Stop()
			if _, stderr, err := HearthErr(t, "audit", "verify", "--data-dir", dir); err != nil {
				t.Fatalf("the untouched log does not verify: %v %s", err, stderr)
			}
			seg := segment(t, dir)
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			keep := []byte{}
			if cut != "emptied" {
				// Up to and including the first checkpoint.
				lines := strings.SplitAfter(string(data), "\n")
				i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, `"kind":"checkpoint"`) })
				if i < 0 {
					t.Fatalf("no checkpoint in:\n%s", data)
				}
				keep = []byte(strings.Join(lines[:i+1], ""))
			}
			if err := os.WriteFile(seg, keep, 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := HearthErr(t, "audit", "verify", "--data-dir", dir)
			if err == nil || !strings.Contains(out+stderr, "missing") {
				t.Errorf("verify of a log %s: %v\n%s%s; want a failure naming the missing records", cut, err, out, stderr)
			}
		})
	}
}

// TestHostileAuditForgedTail: records forged after the last checkpoint
// and an unclean stop used to be signed on the next start; now their MACs
// fail, they are moved to quarantine and reported, and the log verifies
// without them.
func TestHostileAuditForgedTail(t *testing.T) {
	for _, forgery := range []string{"no MAC", "a made-up MAC"} {
		t.Run(forgery, func(t *testing.T) {
			dir := t.TempDir()
			key := Tenant(t, dir, "acme")
			n := Start(t, dir)
			chat(t, n, key)
			chat(t, n, key)
			n.Kill()
			seg := segment(t, dir)
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			var last audit.Record
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatal(err)
			}
			// What an attacker who can write the log, but not read the
			// node key, can make: a well-chained record with the unkeyed
			// hash.
			fake := audit.Record{Seq: last.Seq + 1, Time: last.Time.Add(time.Second), Kind: audit.KindRequest, Node: last.Node,
				Tenant: "forged-tenant", Decision: "allow", Reason: "ok", ResponseID: "chatcmpl-forged", Prev: last.Hash}
			if forgery != "no MAC" {
				fake.Mac = strings.Repeat("ab", 32)
			}
			fake.Hash = fake.ComputeHash()
			line, _ := json.Marshal(fake)
			f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(append(line, '\n'))
			f.Close()

			n = Start(t, dir)
			chat(t, n, key)
			n.Stop()
			if !strings.Contains(n.Log(), "quarantine") {
				t.Errorf("the node did not report the forged records:\n%s", tail(n.Log(), 20))
			}
			if q, _ := filepath.Glob(filepath.Join(dir, "audit", "quarantine", "*")); len(q) == 0 {
				t.Error("nothing was moved to quarantine")
			}
			for _, r := range exported(t, dir) {
				if r.ResponseID == "chatcmpl-forged" {
					t.Fatalf("the forged record is in the log: %+v", r)
				}
			}
			if out, stderr, err := HearthErr(t, "audit", "verify", "--data-dir", dir); err != nil {
				t.Errorf("verify after the quarantine: %v\n%s%s", err, out, stderr)
			}
		})
	}
}

// TestHostileAuditSpoolForgery: a file dropped in the audit spool used to
// become a signed record of any kind, a forged request record included;
// now one not signed with the node key, or of a kind the CLI never
// writes, is quarantined, never appended.
func TestHostileAuditSpoolForgery(t *testing.T) {
	dir := t.TempDir()
	key := Tenant(t, dir, "acme")
	n := Start(t, dir)
	chat(t, n, key)
	spool := filepath.Join(dir, "audit", "spool")
	os.MkdirAll(spool, 0o700)
	forged := `{"kind":"request","tenant":"acme","decision":"allow","reason":"ok","response_id":"chatcmpl-spoolforged","time":"2026-12-01T00:00:00Z"}`
	name := filepath.Join(spool, time.Now().UTC().Format("20060102T150405.000000000Z")+"-forged.json")
	if err := os.WriteFile(name, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	// A tenant change through the CLI is spooled and appended, as before.
	Hearth(t, "tenants", "update", "acme", "--rpm", "600", "--data-dir", dir)
	deadline := time.Now().Add(20 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(spool, "*.json"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool files still waiting after 20 s: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.Stop()
	var update bool
	for _, r := range exported(t, dir) {
		if r.ResponseID == "chatcmpl-spoolforged" {
			t.Fatalf("the forged spool file became a record: %+v", r)
		}
		update = update || r.Reason == "tenant.update"
	}
	if !update {
		t.Error("the CLI's own spooled change was not appended")
	}
	if !strings.Contains(n.Log(), "spool") {
		t.Errorf("the node did not report the refused spool file:\n%s", tail(n.Log(), 20))
	}
}
