package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/jobs"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// TestAdapterRegistry: the node's registry keeps a job's adapter with
// the lineage it can establish and the metrics its trainer left; an
// adapter it cannot read or place is refused with the reason, and
// nothing is registered.
func TestAdapterRegistry(t *testing.T) {
	n, acme := trainingNode(t)
	ctx := context.Background()
	r := adapterRegistry{adapters: n.fw.Adapters, tenants: n.tenants}
	dir := t.TempDir()
	good := filepath.Join(dir, "adapter.gguf")
	if err := os.WriteFile(good, testfixture.AdapterFile(t, "llama", 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, metricsFile), []byte(`{"steps":3,"train_loss":1.5,"eval":{"examples":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.gguf")
	if err := os.WriteFile(other, testfixture.AdapterFile(t, "qwen2", 1), 0o600); err != nil {
		t.Fatal(err)
	}
	notGGUF := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := os.WriteFile(notGGUF, []byte("GGUF"), 0o600); err != nil {
		t.Fatal(err)
	}
	job := jobs.Adapter{TenantID: acme.ID, Name: "support", Path: good, Base: "stories260k", BasePath: stories, JobID: "ftjob-1",
		Hyper: jobs.Hyper{Rank: 4}, Result: jobs.Result{Steps: 3}}
	for _, c := range []struct {
		name string
		edit func(*jobs.Adapter)
		want string
	}{
		{"no such tenant", func(a *jobs.Adapter) { a.TenantID = "t_nobody" }, "t_nobody"},
		{"no adapter file", func(a *jobs.Adapter) { a.Path = filepath.Join(dir, "gone.gguf") }, "gone.gguf"},
		{"not an adapter", func(a *jobs.Adapter) { a.Path = notGGUF }, "registry"},
		{"another architecture", func(a *jobs.Adapter) { a.Path = other }, "qwen2"},
		{"no base file", func(a *jobs.Adapter) { a.BasePath = filepath.Join(dir, "base.gguf") }, "base.gguf"},
		{"no such dataset", func(a *jobs.Adapter) { a.Dataset, a.DatasetVersion = "nope", 1 }, "nope"},
	} {
		a := job
		c.edit(&a)
		if ref, err := r.Register(ctx, a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, %v; want an error naming %q", c.name, ref, err, c.want)
		}
	}
	if vs, err := n.fw.Adapters.List(ctx, acme.ID); err != nil || len(vs) != 0 {
		t.Fatalf("refused adapters registered: %v %v", vs, err)
	}

	ref, err := r.Register(ctx, job)
	if err != nil || ref != "support@1" {
		t.Fatalf("register: %q, %v", ref, err)
	}
	v, err := n.fw.Adapters.Get(ctx, acme.ID, "support", 1)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := os.ReadFile(stories)
	sum := sha256.Sum256(base)
	var hyper struct {
		Rank   int     `json:"rank"`
		Alpha  float64 `json:"alpha"`
		Epochs int     `json:"epochs"`
	}
	if err := json.Unmarshal(v.Hyper, &hyper); err != nil {
		t.Fatal(err)
	}
	switch {
	case v.Base.Name != "stories260k" || v.Base.Digest != hex.EncodeToString(sum[:]) || v.Base.Arch != "llama":
		t.Errorf("base %+v", v.Base)
	case hyper.Rank != 4 || hyper.Alpha == 0 || hyper.Epochs == 0:
		t.Errorf("hyper-parameters %s: want the job's rank and the trainer's defaults for the rest", v.Hyper)
	case string(v.Metrics) != `{"steps":3,"train_loss":1.5,"eval":{"examples":2}}`:
		t.Errorf("metrics %s: want the trainer's", v.Metrics)
	}

	// Another trainer left no metrics file: the result is recorded.
	if err := os.Remove(filepath.Join(dir, metricsFile)); err != nil {
		t.Fatal(err)
	}
	if ref, err = r.Register(ctx, job); err != nil || ref != "support@2" {
		t.Fatalf("register again: %q, %v", ref, err)
	}
	if v, err = n.fw.Adapters.Get(ctx, acme.ID, "support", 2); err != nil || !strings.Contains(string(v.Metrics), `"steps":3`) {
		t.Errorf("metrics from the result: %s, %v", v.Metrics, err)
	}
}

// TestAdapterRegistryErasedWhileTraining: the hash a job trained on is
// recorded, so an erasure that reaches its dataset version while it
// trains marks the adapter when it is registered.
func TestAdapterRegistryErasedWhileTraining(t *testing.T) {
	n, acme := trainingNode(t)
	ctx := context.Background()
	var src dataset.Static
	for i := range 12 {
		src = append(src, dataset.Interaction{
			ResponseID: fmt.Sprintf("resp-%d", i),
			Messages:   []dataset.Message{{Role: "user", Content: fmt.Sprintf("What is the secret word, friend number %d?", i)}},
			Output:     fmt.Sprintf("The secret word is marmalade, friend %d.", i),
			Rating:     5,
		})
	}
	if err := n.fw.Capture.EnsureKey(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	v, err := n.fw.Datasets.Build(ctx, src, acme.ID, "secret", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trained := v.ContentHash()
	if _, err := n.fw.Datasets.RemoveResponses(ctx, acme.ID, []string{"resp-3"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := os.WriteFile(path, testfixture.AdapterFile(t, "llama", 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r := adapterRegistry{adapters: n.fw.Adapters, tenants: n.tenants}
	a := jobs.Adapter{TenantID: acme.ID, Name: "secret", Path: path, Base: "stories260k", BasePath: stories, JobID: "ftjob-1",
		Dataset: "secret", DatasetVersion: v.Version, DatasetHash: trained}
	if _, err := r.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := n.fw.Adapters.Get(ctx, acme.ID, "secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ErasedData {
		t.Errorf("an adapter trained on examples erased since is not marked: %+v", got)
	}
}

// trainingNode starts a node serving stories260K with a tenant, acme; it
// is shut down when the test ends.
func trainingNode(t *testing.T) (*Node, tenant.Tenant) {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("test model not available: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{DataDir: t.TempDir(), Listener: ln, Runner: runner.Config{Files: []string{stories}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	acme, err := n.tenants.CreateTenant(context.Background(), tenant.Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	return n, acme
}
