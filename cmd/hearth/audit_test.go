package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/identity"
)

// auditFixture creates a node identity through the CLI and a log of n
// records signed with it; close false leaves the last records unsigned.
func auditFixture(t *testing.T, n int, close bool) (data string, id *identity.Identity) {
	t.Helper()
	data = t.TempDir()
	if _, _, err := runErr(t, "node", "id", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	id, err := identity.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(filepath.Join(data, "audit"), id, audit.Options{NoSync: true, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), audit.Record{Kind: audit.KindRequest, Tenant: "acme", PromptTokens: i}); err != nil {
			t.Fatal(err)
		}
	}
	if close {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		// Leave it open (unsigned tail) until the test ends.
		t.Cleanup(func() { l.Close() })
	}
	return data, id
}

func TestNodeID(t *testing.T) {
	data := t.TempDir()
	out, _, err := runErr(t, "node", "id", "--json", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID        string `json:"id"`
		PublicKey string `json:"public_key"`
		KeyFile   string `json:"key_file"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	id, err := identity.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id.ID || got.PublicKey != id.PublicHex() || got.KeyFile != filepath.Join(data, "node.key") {
		t.Errorf("node id --json = %+v; want %s %s", got, id.ID, id.PublicHex())
	}
	out, _, err = runErr(t, "node", "id", "--data-dir", data)
	if err != nil || !strings.Contains(out, "node id:    "+id.ID) || !strings.Contains(out, "public key: "+id.PublicHex()) {
		t.Errorf("node id = %q, %v; want the same identity again", out, err)
	}
	os.Chmod(filepath.Join(data, "node.key"), 0o644)
	if _, _, err := runErr(t, "node", "id", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("node id with a world-readable key: %v", err)
	}
}

func TestAuditVerify(t *testing.T) {
	data, id := auditFixture(t, 100, true)
	out, _, err := runErr(t, "audit", "verify", "--data-dir", data)
	if err != nil {
		t.Fatalf("clean log: %v\n%s", err, out)
	}
	for _, want := range []string{"audit: OK", "110 intact (seq 1..110)", "10 signatures verified", "head:        seq 110 "} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	// An auditor's copy checked against the published key, from a seq on.
	if out, _, err := runErr(t, "audit", "verify", "--data-dir", data, "--pubkey", id.PublicHex(), "--from", "50"); err != nil ||
		!strings.Contains(out, "seq 50..110") {
		t.Errorf("verify --pubkey --from 50: %v\n%s", err, out)
	}
	other, _ := identity.LoadOrCreate(t.TempDir())
	if _, _, err := runErr(t, "audit", "verify", "--data-dir", data, "--pubkey", other.PublicHex()); err == nil ||
		!strings.Contains(err.Error(), "bad-signature") {
		t.Errorf("verify with another key: %v; want a bad signature", err)
	}

	// Change one byte of record 42's tenant.
	seg := filepath.Join(data, "audit", "segment-00000000000000000001.jsonl")
	clean, _ := os.ReadFile(seg)
	lines := bytes.SplitAfter(clean, []byte("\n"))
	lines[41] = bytes.Replace(lines[41], []byte(`"acme"`), []byte(`"acmf"`), 1)
	os.WriteFile(seg, bytes.Join(lines, nil), 0o600)
	out, _, err = runErr(t, "audit", "verify", "--data-dir", data)
	if err == nil || !strings.Contains(err.Error(), "record seq 42 modified at segment-00000000000000000001.jsonl line 42") {
		t.Errorf("verify of an edited log: %v", err)
	}
	if !strings.Contains(out, "TAMPERING FOUND") || !strings.Contains(out, "41 intact (seq 1..41)") {
		t.Errorf("verify output should say what verified:\n%s", out)
	}

	// Delete record 42 instead.
	os.WriteFile(seg, bytes.Join(append(lines[:41:41], lines[42:]...), nil), 0o600)
	if _, _, err = runErr(t, "audit", "verify", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "record seq 42 deleted") {
		t.Errorf("verify of a log with a deleted record: %v", err)
	}

	// A torn tail.
	os.WriteFile(seg, append(append([]byte(nil), clean...), `{"seq":111,"ti`...), 0o600)
	if _, _, err = runErr(t, "audit", "verify", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "torn tail: 14 bytes") {
		t.Errorf("verify of a torn log: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify", "--data-dir", t.TempDir()}, "no node key"},
		{[]string{"audit", "verify", "--data-dir", data, "--pubkey", "xyz"}, "not hex"},
		{[]string{"audit", "verify", "--data-dir", data, "--pubkey", "abcd"}, "ed25519 key has 32"},
		{[]string{"audit", "verify", "--data-dir", data, "--from", "-1"}, "invalid argument"},
		{[]string{"audit", "export", "--data-dir", data, "--from", "5", "--to", "4"}, "before --from"},
	} {
		if _, _, err := runErr(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestAuditVerifyUnsignedTail(t *testing.T) {
	data, _ := auditFixture(t, 15, false) // a checkpoint at seq 11, then seq 12..16 unsigned
	_, _, err := runErr(t, "audit", "verify", "--data-dir", data)
	if err == nil || !strings.Contains(err.Error(), "5 records (seq 12..16) after the last checkpoint") {
		t.Errorf("verify of a live log: %v", err)
	}
	out, stderr, err := runErr(t, "audit", "verify", "--data-dir", data, "--allow-unsigned-tail")
	if err != nil || !strings.Contains(stderr, "warning") || !strings.Contains(out, "unsigned:    5") {
		t.Errorf("verify --allow-unsigned-tail: %v\n%s%s", err, out, stderr)
	}
}

func TestAuditExport(t *testing.T) {
	data, _ := auditFixture(t, 30, true)
	out, _, err := runErr(t, "audit", "export", "--data-dir", data, "--from", "5", "--to", "14")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	seq := uint64(5)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Seq != seq || r.Hash != r.ComputeHash() {
			t.Errorf("record seq %d hash ok %v; want seq %d with its hash", r.Seq, r.Hash == r.ComputeHash(), seq)
		}
		seq++
	}
	if seq != 15 {
		t.Errorf("exported up to seq %d; want 14", seq-1)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	_, stderr, err := runErr(t, "audit", "export", "--data-dir", data, "--out", file)
	if err != nil || !strings.Contains(stderr, "exported 33 records") {
		t.Fatalf("export --out: %v %s", err, stderr)
	}
	got, _ := os.ReadFile(file)
	if n := bytes.Count(got, []byte("\n")); n != 33 {
		t.Errorf("file has %d lines; want 33", n)
	}
	if _, _, err := runErr(t, "audit", "export", "--data-dir", t.TempDir(), "--out", file); err == nil {
		t.Error("export of a missing log succeeded")
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, got) {
		t.Error("a failed export changed the output file")
	}
}

// TestAuditVerifyAnchor: `hearth audit verify` compares the log with the
// head the node anchored in its database: an emptied segment, or a log cut
// back to an older checkpoint, fails and says which records are missing
// (both verified "OK" before the anchor existed).
func TestAuditVerifyAnchor(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(data []byte) []byte
	}{
		{"emptied segment", func([]byte) []byte { return nil }},
		{"cut back to an older checkpoint", func(data []byte) []byte {
			lines := bytes.SplitAfter(data, []byte("\n"))
			for i := len(lines) - 3; i >= 0; i-- {
				if bytes.Contains(lines[i], []byte(`"kind":"checkpoint"`)) {
					return bytes.Join(lines[:i+1], nil)
				}
			}
			t.Fatal("no older checkpoint")
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			id, err := identity.LoadOrCreate(data)
			if err != nil {
				t.Fatal(err)
			}
			d, err := db.OpenDir(data)
			if err != nil {
				t.Fatal(err)
			}
			anchor, err := audit.OpenDBAnchor(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			l, err := audit.Open(filepath.Join(data, "audit"), id, audit.Options{NoSync: true, CheckpointEvery: 10, Anchor: anchor})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 35 {
				l.Append(context.Background(), audit.Record{Kind: audit.KindRequest, Tenant: "acme", PromptTokens: i})
			}
			l.Close()
			d.Close()
			out, _, err := runErr(t, "audit", "verify", "--data-dir", data)
			if err != nil || !strings.Contains(out, "anchor:") || !strings.Contains(out, "macs:        39 verified") {
				t.Fatalf("verify of the intact log: %v\n%s", err, out)
			}
			seg := filepath.Join(data, "audit", "segment-00000000000000000001.jsonl")
			b, _ := os.ReadFile(seg)
			os.WriteFile(seg, tc.cut(b), 0o600)
			out, _, err = runErr(t, "audit", "verify", "--data-dir", data)
			if err == nil || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "..39") {
				t.Fatalf("verify of the shortened log: %v\n%s; want a failure naming records ..39 missing", err, out)
			}
		})
	}
}
