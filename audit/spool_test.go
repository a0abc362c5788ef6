package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/identity"
)

// spooledIn returns the chain's records that came from the spool, by id.
func spooledIn(t *testing.T, dir string) map[string][]Record {
	t.Helper()
	out := map[string][]Record{}
	for _, r := range loadImage(t, dir).recs {
		if id := r.rec.Detail[DetailSpoolID]; id != "" {
			out[id] = append(out[id], r.rec)
		}
	}
	return out
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, SpoolDirName))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func verifyClean(t *testing.T, dir string) *Report {
	t.Helper()
	rep := mustVerify(t, dir)
	if err := rep.Err(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func adminRecord(action string) Record {
	return Record{Kind: KindAdmin, Decision: "allow", Reason: action, Detail: map[string]string{"action": action, "via": "cli"}}
}

// TestSpoolWhileHeld: a second opener of a held log gets a Spooler; its
// records wait, durable, in the spool until the writer ingests them, and
// the log verifies with them in it.
func TestSpoolWhileHeld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, adminRecord("before")); err != nil {
		t.Fatal(err)
	}
	a, spooled, err := OpenOrSpool(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil || !spooled {
		t.Fatalf("OpenOrSpool on a held log = %T, %v, %v; want a Spooler", a, spooled, err)
	}
	var ids []string
	for _, action := range []string{"tenant.create", "key.create", "key.revoke"} {
		r, err := a.Append(ctx, adminRecord(action))
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != 0 || r.Detail[DetailSpoolID] == "" || r.Time.IsZero() {
			t.Errorf("spooled record %+v: want seq 0, a spool id and a time", r)
		}
		ids = append(ids, r.Detail[DetailSpoolID])
	}
	a.Close()
	if got := spoolFiles(t, dir); len(got) != 3 {
		t.Fatalf("spool holds %v; want 3 files", got)
	}
	n, err := l.IngestSpool(ctx)
	if err != nil || n != 3 {
		t.Fatalf("IngestSpool = %d, %v; want 3", n, err)
	}
	if got := spoolFiles(t, dir); len(got) != 0 {
		t.Errorf("spool after ingestion holds %v", got)
	}
	if n, err := l.IngestSpool(ctx); err != nil || n != 0 {
		t.Errorf("second IngestSpool = %d, %v; want 0", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyClean(t, dir)
	in := spooledIn(t, dir)
	for i, id := range ids {
		recs := in[id]
		if len(recs) != 1 {
			t.Errorf("spool id %s is in the chain %d times; want once", id, len(recs))
			continue
		}
		r := recs[0]
		if r.Reason != []string{"tenant.create", "key.create", "key.revoke"}[i] || r.Detail[DetailSpooledAt] == "" || r.Node != testID(1).ID {
			t.Errorf("ingested record %+v", r)
		}
	}
}

// TestOpenIngestsSpool: records spooled with no writer running (or by a
// CLI on a node that never ran) are appended when the log is next opened;
// OpenOrSpool on a free log appends directly.
func TestOpenIngestsSpool(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, _, err := OpenOrSpool(dir, nil, Options{}); err == nil {
		t.Fatal("OpenOrSpool without identity succeeded; it cannot sign what it spools")
	}
	r, err := NewSpooler(dir, testID(1)).Append(ctx, adminRecord("tenant.create"))
	if err != nil {
		t.Fatal(err)
	}
	a, spooled, err := OpenOrSpool(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil || spooled {
		t.Fatalf("OpenOrSpool on a free log = %v, %v; want the Log", spooled, err)
	}
	direct, err := a.Append(ctx, adminRecord("key.create"))
	if err != nil {
		t.Fatal(err)
	}
	if direct.Seq == 0 || direct.Detail[DetailSpoolID] != "" {
		t.Errorf("direct append %+v", direct)
	}
	a.Close()
	verifyClean(t, dir)
	if got := spooledIn(t, dir)[r.Detail[DetailSpoolID]]; len(got) != 1 || got[0].Seq >= direct.Seq {
		t.Errorf("spooled record in the chain: %+v; want once, before the direct one (seq %d)", got, direct.Seq)
	}
	if got := spoolFiles(t, dir); len(got) != 0 {
		t.Errorf("spool after Open holds %v", got)
	}
}

// TestIngestAfterCrashBeforeRemoval: a spool file whose record is already
// in the chain (the writer crashed between appending and removing it) is
// removed without being appended again, by the same process and after a
// reopen.
func TestIngestAfterCrashBeforeRemoval(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Spool(dir, testID(1), adminRecord("key.revoke"))
	if err != nil {
		t.Fatal(err)
	}
	id := r.Detail[DetailSpoolID]
	path := filepath.Join(dir, SpoolDirName, id+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.IngestSpool(ctx); n != 1 || err != nil {
		t.Fatalf("IngestSpool = %d, %v", n, err)
	}
	// The file comes back as if its removal had been lost.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := l.IngestSpool(ctx); n != 0 || err != nil {
		t.Errorf("IngestSpool of a file already appended = %d, %v; want 0", n, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A crash: the process ends without Close; its file and lock go with it.
	close(l.stop)
	l.bg.Wait()
	l.seg.f.Close()
	l.unlock()
	l, err = Open(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := spooledIn(t, dir)[id]; len(got) != 1 {
		t.Errorf("the record is in the chain %d times; want once", len(got))
	}
	if got := spoolFiles(t, dir); len(got) != 0 {
		t.Errorf("spool holds %v", got)
	}
	verifyClean(t, dir)
}

// TestBadSpoolFiles: torn, garbage and forged spool files are not
// appended; each is named in a recovery record and moved to quarantine,
// and the good ones around them go in.
func TestBadSpoolFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := Spool(dir, testID(1), adminRecord("tenant.create"))
	if err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, SpoolDirName)
	bad := map[string]string{
		"00000000000000000001-0000000000000001.json": `{"kind":"admin","reason":"tenant.cre`,
		"00000000000000000002-0000000000000002.json": "\x00\xff garbage",
		"00000000000000000003-0000000000000003.json": `{"seq":0,"time":"2026-11-28T12:00:00Z","kind":"checkpoint","detail":{"spool_id":"00000000000000000003-0000000000000003"},"prev":"","hash":""}`,
		"00000000000000000004-0000000000000004.json": `{"seq":7,"time":"2026-11-28T12:00:00Z","kind":"admin","detail":{"spool_id":"00000000000000000004-0000000000000004"},"prev":"","hash":""}`,
		"00000000000000000005-0000000000000005.json": `{"seq":0,"time":"2026-11-28T12:00:00Z","kind":"admin","detail":{"spool_id":"someone-else"},"prev":"","hash":""}`,
		"00000000000000000006-0000000000000006.json": `{"seq":0,"time":"2026-11-28T12:00:00Z","kind":"admin","extra":1,"detail":{"spool_id":"00000000000000000006-0000000000000006"},"prev":"","hash":""}`,
		"notes.txt": "not a record",
		// Well-formed but unsigned: anyone who can write spool/ could
		// otherwise add a request record (or any other) to the chain.
		"00000000000000000007-0000000000000007.json": `{"seq":0,"time":"2026-11-28T12:00:00Z","kind":"request","tenant":"acme","model":"m","decision":"allow","reason":"served","detail":{"spool_id":"00000000000000000007-0000000000000007"},"prev":"","hash":""}`,
		"00000000000000000008-0000000000000008.json": `{"seq":0,"time":"2026-11-28T12:00:00Z","kind":"admin","decision":"allow","reason":"key.create","detail":{"action":"key.create","spool_id":"00000000000000000008-0000000000000008"},"prev":"","hash":""}`,
	}
	for name, content := range bad {
		if err := os.WriteFile(filepath.Join(sdir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Signed, but by another node's key; signed, but of a kind the
	// command line never spools.
	for _, sp := range []struct {
		id *identity.Identity
		r  Record
	}{
		{testID(2), adminRecord("key.create")},
		{testID(1), Record{Kind: KindRequest, Tenant: "acme", Decision: "allow", Reason: "served"}},
		{testID(1), Record{Kind: KindRoute, Tenant: "acme", Decision: "allow"}},
	} {
		r, err := Spool(dir, sp.id, sp.r)
		if err != nil {
			t.Fatal(err)
		}
		name := r.Detail[DetailSpoolID] + ".json"
		b, err := os.ReadFile(filepath.Join(sdir, name))
		if err != nil {
			t.Fatal(err)
		}
		bad[name] = string(b)
	}
	// A spooler's temporary file is left alone while it may be in use.
	if err := os.WriteFile(filepath.Join(sdir, spoolTmpPrefix+"123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil {
		t.Fatalf("Open with bad spool files: %v", err)
	}
	l.Close()
	verifyClean(t, dir)
	if got := spooledIn(t, dir)[good.Detail[DetailSpoolID]]; len(got) != 1 {
		t.Errorf("the good record is in the chain %d times; want once", len(got))
	}
	named := map[string]bool{}
	for _, r := range loadImage(t, dir).recs {
		if r.rec.Kind == KindRecovery && r.rec.Detail["spool_file"] != "" {
			named[r.rec.Detail["spool_file"]] = true
			if r.rec.Detail["sha256"] == "" || r.rec.Detail["error"] == "" {
				t.Errorf("recovery record %+v lacks the hash or the error", r.rec)
			}
		}
	}
	for name := range bad {
		if !named[name] {
			t.Errorf("no recovery record names %s", name)
		}
		q := filepath.Join(dir, "quarantine", "spool."+name+".bad")
		if b, err := os.ReadFile(q); err != nil || string(b) != bad[name] {
			t.Errorf("quarantined %s: %q, %v", name, b, err)
		}
	}
	if got := spoolFiles(t, dir); len(got) != 1 || !strings.HasPrefix(got[0], spoolTmpPrefix) {
		t.Errorf("spool holds %v; want only the fresh temporary file", got)
	}
}

// TestBackgroundIngestion: an open log picks spooled records up by itself.
func TestBackgroundIngestion(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{SpoolInterval: 5 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seq0, _ := l.Head()
	if _, err := NewSpooler(dir, testID(1)).Append(context.Background(), adminRecord("key.create")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if seq, _ := l.Head(); seq > seq0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spooled record was not ingested within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSpoolRejects(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []Record{{}, {Kind: KindCheckpoint}, {Kind: KindRecovery}, {Kind: KindGap}, {Kind: KindAdmin, Sig: "ab"}} {
		if _, err := Spool(dir, testID(1), r); err == nil {
			t.Errorf("Spool(%+v) succeeded", r)
		}
	}
	if _, err := Spool(dir, nil, adminRecord("key.create")); err == nil {
		t.Error("Spool without a node key succeeded")
	}
	if got := spoolFiles(t, dir); len(got) != 0 {
		t.Errorf("refused records left files: %v", got)
	}
}

// TestBadSpoolFileRecordedOnce: a bad file that cannot be moved aside is
// named in the chain once, not on every pass.
func TestBadSpoolFileRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, SpoolDirName)
	os.MkdirAll(sdir, 0o700)
	os.WriteFile(filepath.Join(sdir, "00000000000000000009-0000000000000009.json"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(dir, "quarantine"), []byte("a file where the directory should be"), 0o600)
	l, err := Open(dir, testID(1), Options{SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.IngestSpool(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	n := 0
	for _, r := range loadImage(t, dir).recs {
		if r.rec.Detail["spool_file"] != "" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the bad file is named in %d recovery records; want 1", n)
	}
	verifyClean(t, dir)
}
