package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/eval"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

const storiesModel = "../../../shared/testdata/models/stories260K.gguf"

// register puts an adapter for stories260K, trained on dataset support,
// into the data directory's registry, as hearth train would.
func register(t *testing.T, dir, tenantName string) []byte {
	t.Helper()
	file := testfixture.AdapterFile(t, "llama", 1)
	base, err := os.ReadFile(storiesModel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(base)
	meta := registry.Meta{Base: registry.Base{Name: "stories260k", Digest: hex.EncodeToString(sum[:])}, Dataset: registry.DatasetRef{Name: "support"},
		Metrics: json.RawMessage(`{"train_loss":1.25,"eval_loss":1.5}`)}
	registerVersion(t, dir, tenantName, "support-lora", meta, file)
	return file
}

// registerVersion registers file as the next version of the tenant's
// adapter name, with meta.
func registerVersion(t *testing.T, dir, tenantName, name string, meta registry.Meta, file []byte) {
	t.Helper()
	ctx := context.Background()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts, err := tenant.Open(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ten, err := ts.GetTenant(ctx, tenantName)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := flywheel.Open(ctx, d, dir, flywheel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Adapters.Create(ctx, ten, name, meta, file); err != nil {
		t.Fatal(err)
	}
}

func TestAdaptersCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra")
	from := filepath.Join(dir, "interactions.jsonl")
	writeInteractions(t, from)
	mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support", "--from", from)
	file := register(t, dir, "kra")

	out, _ := mustRun(t, dir, "adapters", "list", "--tenant", "kra", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	for _, k := range []string{"name", "version", "base", "dataset", "metrics", "state", "erased_data"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("list --json has no %q: %s", k, out)
		}
	}
	if list[0]["name"] != "support-lora" || list[0]["metrics"].(map[string]any)["eval_loss"] != 1.5 ||
		list[0]["dataset"].(map[string]any)["version"] != float64(1) {
		t.Errorf("list --json: %s", out)
	}
	out, _ = mustRun(t, dir, "adapters", "list", "--tenant", "kra")
	if !strings.Contains(out, "support-lora  1 ") || !strings.Contains(out, "support@1") || !strings.Contains(out, `{"train_loss":1.25,"eval_loss":1.5}`) {
		t.Errorf("list:\n%s", out)
	}

	exported := filepath.Join(dir, "lora.gguf")
	_, errOut := mustRun(t, dir, "adapters", "export", "--tenant", "kra", "support-lora@1", exported)
	if b, err := os.ReadFile(exported); err != nil || !bytes.Equal(b, file) || !strings.Contains(errOut, "exported support-lora@1") {
		t.Errorf("export: %d bytes, %v, %q", len(b), err, errOut)
	}
	if _, _, err := runTenants(t, dir, "adapters", "delete", "--tenant", "kra", "support-lora"); err == nil || !strings.Contains(err.Error(), "--all") {
		t.Errorf("delete without a version or --all: %v", err)
	}
	mustRun(t, dir, "adapters", "delete", "--tenant", "kra", "support-lora@1")
	if _, errOut := mustRun(t, dir, "adapters", "list", "--tenant", "kra"); !strings.Contains(errOut, "no adapters") {
		t.Errorf("after delete: %q", errOut)
	}
	audit, _ := mustRun(t, dir, "audit", "export")
	for _, want := range []string{"adapter.export", "adapter.delete"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log has no %s", want)
		}
	}
	if _, _, err := runTenants(t, dir, "adapters", "export", "--tenant", "kra", "support-lora@1", exported+"2"); err == nil {
		t.Error("exporting a deleted version succeeded")
	}
}

func TestEvalCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra")
	from := filepath.Join(dir, "interactions.jsonl")
	writeInteractions(t, from)
	mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support", "--from", from)
	exported := filepath.Join(dir, "support.jsonl")
	mustRun(t, dir, "dataset", "export", "--tenant", "kra", "--name", "support", "--split", "train", "--out", exported)
	mustRun(t, dir, "dataset", "import", "--tenant", "kra", "--name", "train-only", exported)
	steps := filepath.Join(dir, "steps.jsonl")
	if err := os.WriteFile(steps, []byte("{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "eval.svg")
	out, _ := mustRun(t, dir, "eval", "--base", storiesModel, "--dataset", "support@1", "--tenant", "kra", "--json",
		"--max-tokens", "4", "--report", svg, "--steps", steps)
	var rep eval.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Examples == 0 || rep.Base.Tokens == 0 || rep.Base.Perplexity <= 1 || len(rep.LossCurve) != 2 {
		t.Fatalf("eval --json: %v\n%.400s", err, out)
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(b, []byte("<svg")) || !bytes.Contains(b, []byte("<polyline")) {
		t.Errorf("report: %v, %.200s", err, b)
	}
	out, _ = mustRun(t, dir, "eval", "--base", storiesModel, "--dataset", "support", "--tenant", "kra", "--max-tokens", "2")
	if !strings.Contains(out, "perplexity") || !strings.Contains(out, "reference:") {
		t.Errorf("eval:\n%.400s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "train-only"}, "no eval examples"},
		{[]string{"--dataset", "nope"}, "no dataset"},
		{[]string{"--dataset", "support", "--split", "all"}, "--split"},
		{[]string{"--dataset", "support@x"}, "--dataset"},
	} {
		args := append([]string{"eval", "--base", storiesModel, "--tenant", "kra"}, tc.args...)
		if _, _, err := runTenants(t, dir, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("eval %v: %v; want an error naming %q", tc.args, err, tc.want)
		}
	}
}
