package main

import (
	"context"
	"fmt"
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
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := tenant.Open(ctx, d, nil)
	ten, err := ts.CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE", Capture: "on", RetentionDays: 30}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := capture.Open(ctx, d, capture.Config{Jurisdiction: "KE", KeyFile: filepath.Join(dir, capture.KeyFileName)})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"the rainy season in Nairobi", "how to plant maize", "a story about a brave girl", "fixing a bicycle chain",
		"saving money with M-Pesa", "the history of the Swahili coast", "cooking ugali", "learning to swim", "why the sky is blue", "a poem about the sea"}
	for i, topic := range topics {
		user := fmt.Sprintf("user-%d", i%3)
		id := fmt.Sprintf("chatcmpl-%02d", i)
		in := capture.Interaction{ResponseID: id, TenantID: ten.ID, EndUser: user, Model: "stories260k",
			Messages: []capture.Message{{Role: "user", Content: "Tell me about " + topic + ". Write to me at jane.doe@example.com"}},
			Output:   "Here is a careful answer about " + topic + " with several sentences of detail, written for a curious reader.", Time: time.Now()}
		if err := cs.Save(ctx, ten, in); err != nil {
			t.Fatal(err)
		}
		if err := cs.Feedback(ctx, ten.ID, capture.Feedback{ResponseID: id, Thumb: 1}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

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
