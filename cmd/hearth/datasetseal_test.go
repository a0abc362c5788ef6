package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// dbFiles is the database's bytes on disk, write-ahead log included.
func dbFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, name := range []string{db.FileName, db.FileName + "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestDatasetsSealedCLI: `dataset build` from captured interactions stores
// its examples sealed under the tenant's capture key; after `capture
// shred` the tenant's dataset export and stats fail saying the key is
// gone, the bytes stay unreadable, and another tenant's dataset is
// untouched.
func TestDatasetsSealedCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const phrase = "quetzalmarmalade"
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := tenant.Open(ctx, d, nil)
	cs, err := capture.Open(ctx, d, capture.Config{Jurisdiction: "KE", KeyFile: filepath.Join(dir, capture.KeyFileName)})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"the rainy season in Nairobi", "how to plant maize", "a story about a brave girl", "fixing a bicycle chain",
		"saving money with M-Pesa", "the history of the Swahili coast"}
	for _, name := range []string{"acme", "globex"} {
		ten, err := ts.CreateTenant(ctx, tenant.Tenant{Name: name, Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE", Capture: "on", RetentionDays: 30}})
		if err != nil {
			t.Fatal(err)
		}
		for i, topic := range topics {
			id := fmt.Sprintf("%s-%02d", name, i)
			in := capture.Interaction{ResponseID: id, TenantID: ten.ID, Model: "stories260k", Time: time.Now(),
				Messages: []capture.Message{{Role: "user", Content: "Tell me about " + topic + ", codeword " + phrase + "."}},
				Output:   "Here is a careful answer about " + topic + " with several sentences of detail, written for a curious reader."}
			if err := cs.Save(ctx, ten, in); err != nil {
				t.Fatal(err)
			}
			if err := cs.Feedback(ctx, ten.ID, capture.Feedback{ResponseID: id, Thumb: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.Close()

	for _, name := range []string{"acme", "globex"} {
		mustRun(t, dir, "dataset", "build", "--tenant", name, "--name", "support")
	}
	if bytes.Contains(dbFiles(t, dir), []byte(phrase)) {
		t.Fatal("the planted phrase is in the database files: dataset examples are stored in plaintext")
	}
	out, _ := mustRun(t, dir, "dataset", "export", "--tenant", "acme", "--name", "support", "--split", "all")
	if strings.Count(out, phrase) != len(topics) {
		t.Fatalf("export before shredding holds the phrase %d times, want %d", strings.Count(out, phrase), len(topics))
	}

	mustRun(t, dir, "capture", "shred", "--tenant", "acme", "--yes")
	// No node holds the log here: the shredding's audit record is appended
	// at once (or, with a node running, spooled).
	spool, _ := filepath.Glob(filepath.Join(dir, "audit", "spool", "*.json"))
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "segment-*.jsonl"))
	spool = append(spool, segs...)
	shredRecorded := false
	for _, f := range spool {
		b, _ := os.ReadFile(f)
		shredRecorded = shredRecorded || bytes.Contains(b, []byte(`"reason":"shred"`))
	}
	if !shredRecorded {
		t.Errorf("no audit record of the shredding in %v", spool)
	}
	for _, args := range [][]string{
		{"dataset", "export", "--tenant", "acme", "--name", "support", "--split", "all"},
		{"dataset", "stats", "--tenant", "acme", "--name", "support"},
	} {
		out, _, err := runTenants(t, dir, args...)
		if err == nil || !strings.Contains(err.Error(), "the tenant's data key has been deleted") || strings.Contains(out, phrase) {
			t.Errorf("%s after shredding: %v (out %q); want the error that the key was deleted", strings.Join(args[:2], " "), err, out)
		}
	}
	if bytes.Contains(dbFiles(t, dir), []byte(phrase)) {
		t.Error("the planted phrase is in the database files after shredding")
	}
	out, _ = mustRun(t, dir, "dataset", "export", "--tenant", "globex", "--name", "support", "--split", "all")
	if strings.Count(out, phrase) != len(topics) {
		t.Errorf("the other tenant's export holds the phrase %d times, want %d", strings.Count(out, phrase), len(topics))
	}
	// A new import for the shredded tenant gets a fresh key.
	imp := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(imp, []byte(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello there"}]}`+"\n"), 0o600)
	mustRun(t, dir, "dataset", "import", "--tenant", "acme", "--name", "fresh", imp)
	if out, _ := mustRun(t, dir, "dataset", "export", "--tenant", "acme", "--name", "fresh"); !strings.Contains(out, "hello there") {
		t.Errorf("export of a dataset imported after shredding: %q", out)
	}
}
