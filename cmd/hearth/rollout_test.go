package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/flywheel/registry"
)

// registerFile registers file as the next version of adapter name of
// the tenant's, trained on the base file with SHA-256 digest and on the
// dataset "support".
func registerFile(t *testing.T, dir, tenantName, name, digest string, file []byte) {
	t.Helper()
	registerVersion(t, dir, tenantName, name, registry.Meta{Base: registry.Base{Name: "stories260k", Digest: digest},
		Dataset: registry.DatasetRef{Name: "support"}}, file)
}

// neutralAdapter is a LoRA adapter of stories260K's attn_q (64 × 64) whose
// B is zero: the adapted model is the base, so its held-out loss is the
// base's to the last bit.
func neutralAdapter(t *testing.T) []byte {
	t.Helper()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "llama")
	w.SetKV("general.type", "adapter")
	w.SetKV("adapter.type", "lora")
	w.SetKV("adapter.lora.alpha", float32(2))
	a := make([]byte, 4*64*2)
	for i := range 64 * 2 {
		binary.LittleEndian.PutUint32(a[4*i:], math.Float32bits(float32(i%7)/10))
	}
	if err := w.AddTensor("blk.0.attn_q.weight.lora_a", tensor.F32, []int64{64, 2}, a); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("blk.0.attn_q.weight.lora_b", tensor.F32, []int64{2, 64}, make([]byte, 4*2*64)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// kraSupport creates tenant kra, allowed stories260k, with its dataset
// "support" built, in dir, and returns the stories260k file's digest.
func kraSupport(t *testing.T, dir string) string {
	t.Helper()
	mustRun(t, dir, "tenants", "create", "kra", "--models", "stories260k")
	from := filepath.Join(dir, "interactions.jsonl")
	writeInteractions(t, from)
	mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support", "--from", from)
	base, err := os.ReadFile(storiesModel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(base)
	return hex.EncodeToString(sum[:])
}

func TestRolloutCLI(t *testing.T) {
	dir := t.TempDir()
	digest := kraSupport(t, dir)
	mustRun(t, dir, "tenants", "create", "other", "--models", "llama")
	registerFile(t, dir, "kra", "support-lora", digest, neutralAdapter(t))
	registerFile(t, dir, "kra", "alien", strings.Repeat("cd", 32), neutralAdapter(t))
	model := []string{"--model-file", storiesModel}
	rollout := func(args ...string) []string { return append(append([]string{"rollout"}, args...), model...) }

	for _, tc := range []struct {
		args []string
		want string
	}{
		{rollout("start", "--tenant", "kra", "stories260k", "stories260k:nope"), `no adapter "nope"`},
		{rollout("start", "--tenant", "kra", "stories260k", "stories260k:alien"), "do not match"},
		{rollout("start", "--tenant", "other", "stories260k", "stories260k:support-lora"), "may not use model"},
		{rollout("start", "--tenant", "kra", "--share", "101", "stories260k", "stories260k:support-lora"), "share 101"},
		{rollout("start", "--tenant", "kra", "--steps", "10,50", "stories260k", "stories260k:support-lora"), "gates.steps"},
		{rollout("start", "--tenant", "kra", "stories260k", "llama:support-lora"), "not of the deployment's model"},
	} {
		if _, _, err := runTenants(t, dir, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	if _, errOut := mustRun(t, dir, rollout("status", "--tenant", "kra")...); !strings.Contains(errOut, "no rollouts") {
		t.Fatalf("refused starts left rollouts: %s", errOut)
	}

	out, _ := mustRun(t, dir, rollout("start", "--tenant", "kra", "--eval-margin", "0", "stories260k", "stories260k:support-lora")...)
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "ro_") {
		t.Fatalf("start printed %q", out)
	}
	if _, _, err := runTenants(t, dir, rollout("start", "--tenant", "kra", "stories260k", "stories260k:support-lora@1")...); err == nil ||
		!strings.Contains(err.Error(), id) {
		t.Errorf("a second rollout of the model: %v, want an error naming %s", err, id)
	}
	if _, _, err := runTenants(t, dir, rollout("status", "--tenant", "other", id)...); err == nil || !strings.Contains(err.Error(), "no rollout") {
		t.Errorf("another tenant's status: %v", err)
	}
	// Status runs the eval gate: the real model, alone and with the
	// adapter, on the dataset's eval split.
	out, _ = mustRun(t, dir, rollout("status", "--tenant", "kra", id, "--json")...)
	var st struct {
		State string `json:"state"`
		Share int    `json:"share"`
		Eval  *struct {
			Verdict    string
			StableLoss float64 `json:"stable_loss"`
			Examples   int
		} `json:"eval"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	switch {
	case st.State == "live" && st.Share == 10 && st.Eval != nil && st.Eval.Verdict == "pass" && st.Eval.StableLoss > 0 && st.Eval.Examples > 0:
	default:
		t.Fatalf("after status: %s", out)
	}
	if _, _, err := runTenants(t, dir, rollout("promote", "--tenant", "kra", id, "--share", "101")...); err == nil || !strings.Contains(err.Error(), "share 101") {
		t.Errorf("promote --share 101: %v", err)
	}
	mustRun(t, dir, rollout("rollback", "--tenant", "kra", id, "--reason", "testing")...)
	out, _ = mustRun(t, dir, rollout("history", "--tenant", "kra", id)...)
	if !strings.Contains(out, "start") || !strings.Contains(out, "rollback") || !strings.Contains(out, "cli") {
		t.Errorf("history:\n%s", out)
	}
	out, _ = mustRun(t, dir, rollout("status", "--tenant", "kra")...)
	if !strings.Contains(out, id) || !strings.Contains(out, "rolled_back") {
		t.Errorf("status:\n%s", out)
	}
	auditOut, _ := mustRun(t, dir, "audit", "export")
	for _, want := range []string{`"rollout.start"`, `"rollout.rollback"`, `"kind":"rollout"`} {
		if !strings.Contains(auditOut, want) {
			t.Errorf("the audit log has no %s", want)
		}
	}
	mustRun(t, dir, "audit", "verify")

	// Promoted by hand, the adapter is the deployment's stable; the way
	// back to the base is a rollout too, evaluated on the stable's dataset.
	out, _ = mustRun(t, dir, rollout("start", "--tenant", "kra", "--skip-eval", "stories260k", "stories260k:support-lora")...)
	id = strings.TrimSpace(out)
	if out, _ := mustRun(t, dir, rollout("promote", "--tenant", "kra", id)...); !strings.Contains(out, "promoted at 100%") {
		t.Fatalf("promote: %s", out)
	}
	out, _ = mustRun(t, dir, rollout("start", "--tenant", "kra", "--eval-margin", "0", "stories260k", "stories260k")...)
	back := strings.TrimSpace(out)
	out, _ = mustRun(t, dir, rollout("status", "--tenant", "kra", back)...)
	if !strings.Contains(out, "live at 10%") || !strings.Contains(out, "stable    stories260k:support-lora@1") || !strings.Contains(out, "eval gate pass") {
		t.Fatalf("the way back:\n%s", out)
	}
}

// TestRetireDeploymentCLI: retiring the adapter a deployment serves on
// the command line falls the deployment back to its base, in its
// rollouts' history and the audit log.
func TestRetireDeploymentCLI(t *testing.T) {
	dir := t.TempDir()
	registerFile(t, dir, "kra", "support-lora", kraSupport(t, dir), neutralAdapter(t))
	rollout := func(args ...string) []string {
		return append(append([]string{"rollout"}, args...), "--tenant", "kra", "--model-file", storiesModel)
	}
	out, _ := mustRun(t, dir, rollout("start", "--skip-eval", "stories260k", "stories260k:support-lora")...)
	mustRun(t, dir, rollout("promote", strings.TrimSpace(out))...)
	mustRun(t, dir, "adapters", "retire", "--tenant", "kra", "support-lora@1")
	out, _ = mustRun(t, dir, rollout("status")...)
	lines := strings.Split(out, "\n")
	if f := strings.Fields(lines[1]); len(f) < 6 || f[2] != "promoted" || f[4] != "stories260k:support-lora@1" || f[5] != "stories260k" {
		t.Fatalf("the newest rollout is not the fallback to the base:\n%s", out)
	}
	out, _ = mustRun(t, dir, rollout("history", strings.Fields(lines[1])[0])...)
	if !strings.Contains(out, "stable_retired") || !strings.Contains(out, "registry") {
		t.Errorf("the fallback's history:\n%s", out)
	}
	auditOut, _ := mustRun(t, dir, "audit", "export")
	if !strings.Contains(auditOut, `"rollout.stable_retired"`) {
		t.Errorf("the audit log has no rollout.stable_retired")
	}
	mustRun(t, dir, "audit", "verify")
	// The deployment's stable is the base again.
	if _, _, err := runTenants(t, dir, rollout("start", "--skip-eval", "stories260k", "stories260k")...); err == nil ||
		!strings.Contains(err.Error(), "stable version already") {
		t.Errorf("a rollout of the base: %v, want it refused as the stable already", err)
	}
}
