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

// TestCaptureToDatasetAndErase captures rated interactions, builds a
// dataset from them with `dataset build` (no --from: the capture store is
// the source), erases one end user with `capture erase`, and checks the
// erasure reached the dataset, then shreds the tenant's key.
func TestCaptureToDatasetAndErase(t *testing.T) {
	dir := t.TempDir()
	topics := captureTopics
	seedCaptures(t, dir, []string{"acme"}, len(topics), func(ten tenant.Tenant, i int) capture.Interaction {
		topic := topics[i]
		user := fmt.Sprintf("user-%d", i%3)
		id := fmt.Sprintf("chatcmpl-%02d", i)
		return capture.Interaction{ResponseID: id, TenantID: ten.ID, EndUser: user, Model: "stories260k",
			Messages: []capture.Message{{Role: "user", Content: "Tell me about " + topic + ". Write to me at jane.doe@example.com"}},
			Output:   "Here is a careful answer about " + topic + " with several sentences of detail, written for a curious reader.", Time: time.Now()}
	})

	out, err := run(t, "", "dataset", "build", "--data-dir", dir, "--tenant", "acme", "--name", "support", "--eval", "0.2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "10 interactions") {
		t.Errorf("dataset build: %s", out)
	}
	exported, err := run(t, "", "dataset", "export", "--data-dir", dir, "--tenant", "acme", "--name", "support", "--split", "all")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(exported, "\n") != 10 || strings.Contains(exported, "jane.doe@example.com") || !strings.Contains(exported, "<EMAIL_1>") {
		t.Errorf("dataset export:\n%s", exported)
	}
	out, err = run(t, "", "capture", "erase", "--data-dir", dir, "--tenant", "acme", "--user", "user-0")
	if err != nil || !strings.Contains(out, "erased 4 interactions") {
		t.Fatalf("capture erase: %q %v", out, err)
	}
	exported, _ = run(t, "", "dataset", "export", "--data-dir", dir, "--tenant", "acme", "--name", "support", "--split", "all")
	if n := strings.Count(exported, "\n"); n != 6 {
		t.Errorf("after erasing user-0 the dataset holds %d examples; want 6", n)
	}
	dump, err := run(t, "", "capture", "export", "--data-dir", dir, "--tenant", "acme")
	if err != nil || strings.Count(dump, "\n") != 6 {
		t.Errorf("capture export after erase: %d lines, %v", strings.Count(dump, "\n"), err)
	}
	if _, err := run(t, "", "capture", "shred", "--data-dir", dir, "--tenant", "acme"); err == nil {
		t.Error("shred without --yes succeeded")
	}
	if _, err := run(t, "", "capture", "shred", "--data-dir", dir, "--tenant", "acme", "--yes"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", "capture", "export", "--data-dir", dir, "--tenant", "acme"); err == nil {
		t.Error("export after shredding the tenant's key succeeded")
	}
}

// captureTopics are what the captured interactions of the tests ask about.
var captureTopics = []string{"the rainy season in Nairobi", "how to plant maize", "a story about a brave girl", "fixing a bicycle chain",
	"saving money with M-Pesa", "the history of the Swahili coast", "cooking ugali", "learning to swim", "why the sky is blue", "a poem about the sea"}

// seedCaptures creates the tenants in dir's database, homed in KE with
// capture on, and captures n interactions for each, every one rated
// thumbs up: what `dataset build` builds from and `capture` erases.
func seedCaptures(t *testing.T, dir string, tenants []string, n int, interaction func(ten tenant.Tenant, i int) capture.Interaction) {
	t.Helper()
	ctx := context.Background()
	d, ts := openTenantDB(t, dir, nil)
	defer d.Close()
	cs, err := capture.Open(ctx, d, capture.Config{Jurisdiction: "KE", KeyFile: filepath.Join(dir, capture.KeyFileName)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tenants {
		ten, err := ts.CreateTenant(ctx, tenant.Tenant{Name: name, Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE", Capture: "on", RetentionDays: 30}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			in := interaction(ten, i)
			if err := cs.Save(ctx, ten, in); err != nil {
				t.Fatal(err)
			}
			if err := cs.Feedback(ctx, ten.ID, capture.Feedback{ResponseID: in.ResponseID, Thumb: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

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
	dir := t.TempDir()
	const phrase = "quetzalmarmalade"
	topics := captureTopics[:6]
	seedCaptures(t, dir, []string{"acme", "globex"}, len(topics), func(ten tenant.Tenant, i int) capture.Interaction {
		topic := topics[i]
		id := fmt.Sprintf("%s-%02d", ten.Name, i)
		return capture.Interaction{ResponseID: id, TenantID: ten.ID, Model: "stories260k", Time: time.Now(),
			Messages: []capture.Message{{Role: "user", Content: "Tell me about " + topic + ", codeword " + phrase + "."}},
			Output:   "Here is a careful answer about " + topic + " with several sentences of detail, written for a curious reader."}
	})

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
